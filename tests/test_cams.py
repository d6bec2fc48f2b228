"Target layers for CNNs and ViTs, and the fast CAM path, plain and smoothed, against pytorch-grad-cam"
import pytest, torch, torch.nn as nn, timm
from torchvision.models import resnet18, vgg11
from proxy_attention.cams import find_target_layer, compute_cams, FAST_METHODS, CAM_METHODS, ATTENTION_METHODS

@pytest.fixture(scope='module')
def resnet():
    torch.manual_seed(0)
    return resnet18(num_classes=10).eval()

def test_cnn_target_layers(resnet):
    assert find_target_layer(resnet, torch.rand(1, 3, 64, 64)).name == 'layer4.1'
    assert find_target_layer(timm.create_model('resnet18', num_classes=3), torch.rand(1, 3, 64, 64)).name == 'layer4.1'
    assert find_target_layer(timm.create_model('efficientnet_b0', num_classes=3), torch.rand(1, 3, 64, 64)).name == 'bn2'
    assert find_target_layer(vgg11(num_classes=3), torch.rand(1, 3, 64, 64)).name == 'features.20'

def test_fastai_learner_target_layers(digits):
    from fastai.vision.all import vision_learner
    from torchvision.models import resnet18 as tv_resnet18
    learn = vision_learner(digits, tv_resnet18, pretrained=False)
    assert find_target_layer(learn.model, digits.one_batch()[0]).name == '0.7.1'
    learn = vision_learner(digits, 'resnet18', pretrained=False)   # timm body
    assert find_target_layer(learn.model, digits.one_batch()[0]).name == '0.model.layer4.1'

def test_vit_target_layer_and_reshape():
    vit = timm.create_model('vit_tiny_patch16_224', num_classes=4, img_size=64, reg_tokens=2, class_token=True)
    t = find_target_layer(vit)
    assert t.name == 'blocks.11.norm1' and t.reshape.n_prefix == 3
    assert t.reshape(torch.rand(2, 3 + 16, 192)).shape == (2, 192, 4, 4)
    from torchvision.models import vit_b_16
    tv = find_target_layer(vit_b_16(num_classes=3))
    assert tv.name == 'encoder.layers.11.ln_1' and tv.reshape.grid == (14, 14)

def test_vit_cams():
    vit = timm.create_model('vit_tiny_patch16_224', num_classes=4, img_size=64).eval()
    res = compute_cams(vit, torch.randn(2, 3, 64, 64), 'gradcam')
    assert res.cams.shape == (2, 64, 64) and res.cams.max() <= 1 and res.cams.min() >= 0

def test_layer_errors_list_candidates(resnet):
    with pytest.raises(ValueError, match="`layer`='nope' is not a module of the model; candidates include: .*layer4"):
        find_target_layer(resnet, layer='nope')
    with pytest.raises(ValueError, match='found no 4-D feature map'):
        find_target_layer(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), torch.rand(1, 3, 4, 4))

@pytest.mark.parametrize('method', FAST_METHODS)
def test_fast_path_agrees_with_pytorch_grad_cam(resnet, method):
    x = torch.randn(3, 3, 64, 64)
    targets = torch.tensor([1, 2, 3])
    fast, slow = compute_cams(resnet, x, method, targets=targets), compute_cams(resnet, x, method, targets=targets, fast=False)
    assert (fast.cams - slow.cams).abs().max() < 1e-3
    assert fast.cams.std() > 0.05   # not trivially constant maps

def test_explained_class_matters(resnet):
    x = torch.randn(2, 3, 64, 64)
    a, b = compute_cams(resnet, x, 'gradcam', targets=torch.tensor([0, 0])), compute_cams(resnet, x, 'gradcam', targets=torch.tensor([5, 5]))
    assert (a.cams - b.cams).abs().max() > 0.05

@pytest.mark.parametrize('fast', [True, False])
def test_model_left_as_found(fast):
    torch.manual_seed(0)
    m = resnet18(num_classes=10).train()
    m.layer1.requires_grad_(False)
    m.fc.weight.grad = torch.full_like(m.fc.weight, 2.)
    compute_cams(m, torch.randn(2, 3, 64, 64), 'gradcam++', fast=fast)
    assert all(mod.training for mod in m.modules())
    assert m.fc.weight.grad.eq(2).all()
    assert all(p.grad is None for n, p in m.named_parameters() if n != 'fc.weight')
    assert not any(p.requires_grad for p in m.layer1.parameters())
    assert all(not mod._forward_hooks and not mod._backward_hooks and not mod._forward_pre_hooks for mod in m.modules())

def test_fast_path_works_with_frozen_body():
    m = resnet18(num_classes=10).eval().requires_grad_(False)
    assert compute_cams(m, torch.randn(2, 3, 64, 64)).cams.std() > 0

@pytest.mark.parametrize('method', [m for m in CAM_METHODS if m not in FAST_METHODS + ATTENTION_METHODS and m not in ('scorecam', 'ablationcam')])
def test_every_other_method_runs(resnet, method):
    res = compute_cams(resnet, torch.randn(2, 3, 64, 64), method)
    assert res.cams.shape == (2, 64, 64) and not res.cams.isnan().any()

def test_unknown_method():
    with pytest.raises(ValueError, match=r"`method` must be one of 'gradcam'.*got 'gradcam\+'"):
        compute_cams(resnet18(), torch.randn(1, 3, 32, 32), 'gradcam+')

# Smoothing. pytorch-grad-cam orients each eigen projection by whatever sign numpy's SVD returns; `first_component`
# orients it to correlate positively with the channel sum. `oriented_pgc` gives pytorch-grad-cam the same rule, so
# the rest of its path (weights, centring, SVD, augmentation, scaling) is compared exactly.
import numpy as np
from contextlib import ExitStack
import pytorch_grad_cam.base_cam, pytorch_grad_cam.hirescam, pytorch_grad_cam.layer_cam, pytorch_grad_cam.grad_cam_elementwise
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
from proxy_attention.cams import first_component, smoothing_timings, SMOOTHINGS, AUGMENTATIONS

def oriented(wa):
    p, plain = get_2d_projection(wa), np.nan_to_num(wa).sum(1)
    return np.where((p * (plain - plain.mean((1, 2), keepdims=True))).sum((1, 2), keepdims=True) < 0, -p, p)

@pytest.fixture
def oriented_pgc(monkeypatch):
    for mod in (pytorch_grad_cam.base_cam, pytorch_grad_cam.hirescam, pytorch_grad_cam.layer_cam, pytorch_grad_cam.grad_cam_elementwise):
        monkeypatch.setattr(mod, 'get_2d_projection', oriented)

@pytest.fixture(scope='module')
def effnet():
    torch.manual_seed(0)
    return timm.create_model('efficientnet_b0', pretrained=False, num_classes=10).eval()

# xgradcam divides by each channel's activation sum; on this random EfficientNet some sums are ~1e-8 (against an
# eps of 1e-7), so float32 rounding is magnified: the fast path's own float32 and float64 maps differ by ~2e-4.
TOLERANCE = {('efficientnet_b0', 'xgradcam'): 5e-3}

@pytest.mark.parametrize('smooth', SMOOTHINGS)
@pytest.mark.parametrize('arch', ['resnet18', 'efficientnet_b0'])
@pytest.mark.parametrize('method', FAST_METHODS)
def test_smoothed_fast_path_agrees_with_pytorch_grad_cam(resnet, effnet, oriented_pgc, arch, method, smooth):
    model = resnet if arch == 'resnet18' else effnet
    torch.manual_seed(1)
    x = torch.randn(2, 3, 96, 96)   # 3 x 3 maps
    targets = None if smooth == 'aug' else torch.tensor([1, 2])   # `None`: each augmented copy explains its own prediction
    fast, slow = (compute_cams(model, x, method, targets=targets, smooth=smooth, fast=f) for f in (True, False))
    assert (fast.cams - slow.cams).abs().max() <= TOLERANCE.get((arch, method), 1e-4)
    assert (fast.preds == slow.preds).all() and fast.cams.std() > 0.05

def test_first_component_is_get_2d_projection_up_to_sign():
    torch.manual_seed(0)
    wa = torch.randn(8, 64, 4, 4) * torch.rand(8, 64, 1, 1)
    wa[0, 3, 1, 1] = float('nan')                                 # NaNs are zeroed, as pytorch-grad-cam does
    ours, theirs = first_component(wa), torch.from_numpy(get_2d_projection(wa.numpy()))
    sign = (ours * theirs).flatten(1).sum(1).sign()[:, None, None]
    assert (ours - sign * theirs).abs().max() < 1e-4   # values up to ~4
    assert (ours - torch.from_numpy(oriented(wa.numpy()))).abs().max() < 1e-4   # the same rule as `oriented`
    wa = torch.nan_to_num(wa)
    test_rows = torch.stack([first_component(wa), -first_component(-wa)])
    assert (test_rows[0] - test_rows[1]).abs().max() < 1e-5       # the sign follows the data, not LAPACK

def test_aug_flips_maps_back_and_averages_six_copies(resnet):
    "Smoothing a horizontally symmetric batch gives a symmetric map"
    assert len(AUGMENTATIONS) == 6 and (False, 1.) in AUGMENTATIONS
    x = torch.randn(2, 3, 64, 32); x = torch.cat([x, x.flip(-1)], -1)
    res = compute_cams(resnet, x, 'gradcam', smooth='aug')
    assert (res.cams - res.cams.flip(-1)).abs().max() < 1e-5 and res.cams.std() > 0.05

def brightness_classifier():
    "Class 0 if the image's mean is within 0.05 of 1, else class 1: its prediction changes when the input is scaled by 0.9 or 1.1"
    m = nn.Sequential(nn.Conv2d(3, 1, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        m[0].weight.fill_(1/3)
        m[3].weight.copy_(torch.tensor([[1.], [-1.]])); m[3].bias.copy_(torch.tensor([-1.05, .95]))   # how far above 1.05, below 0.95
        m[5].weight.copy_(torch.tensor([[-1., -1.], [0., 0.]])); m[5].bias.copy_(torch.tensor([.01, 0.]))
    return m.eval()

@pytest.mark.parametrize('fast', [True, False])
def test_aug_returns_the_predictions_of_the_images_themselves(fast):
    m, x = brightness_classifier(), torch.ones(2, 3, 8, 8)
    assert m(x).argmax(-1).tolist() == [0, 0] and m(x * .9).argmax(-1).tolist() == m(x * 1.1).argmax(-1).tolist() == [1, 1]
    assert compute_cams(m, x, 'gradcam', smooth='aug', fast=fast).preds.tolist() == [0, 0]

@pytest.mark.parametrize('fast', [True, False])
@pytest.mark.parametrize('smooth', SMOOTHINGS)
def test_smoothed_model_left_as_found(fast, smooth):
    torch.manual_seed(0)
    m = resnet18(num_classes=10).train()
    m.layer1.requires_grad_(False)
    m.fc.weight.grad = torch.full_like(m.fc.weight, 2.)
    compute_cams(m, torch.randn(2, 3, 64, 64), 'gradcam++', fast=fast, smooth=smooth, bs=1)
    assert all(mod.training for mod in m.modules())
    assert m.fc.weight.grad.eq(2).all() and all(p.grad is None for n, p in m.named_parameters() if n != 'fc.weight')
    assert not any(p.requires_grad for p in m.layer1.parameters())
    assert all(not mod._forward_hooks and not mod._backward_hooks and not mod._forward_pre_hooks for mod in m.modules())

def test_fast_path_under_no_grad(resnet):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(): a = compute_cams(resnet, x, 'gradcam', smooth='eigen')
    assert (a.cams - compute_cams(resnet, x, 'gradcam', smooth='eigen').cams).abs().max() == 0

def test_pgc_only_methods_smooth_through_pytorch_grad_cam(resnet):
    x = torch.randn(2, 3, 64, 64)
    plain, smoothed = compute_cams(resnet, x, 'eigengradcam'), compute_cams(resnet, x, 'eigengradcam', smooth='aug')
    assert smoothed.cams.shape == (2, 64, 64) and (plain.cams - smoothed.cams).abs().max() > 0.01

def test_smoothing_timings(resnet):
    rows = smoothing_timings(resnet, torch.randn(2, 3, 64, 64), 'gradcam', smooths=('aug',), repeats=1)
    assert [(r['method'], r['smooth'], r['n']) for r in rows] == [('gradcam', 'aug', 2)]
    assert rows[0]['fast_s'] > 0 and rows[0]['speedup'] == rows[0]['pgc_s'] / rows[0]['fast_s']

def test_unknown_smoothing(resnet):
    with pytest.raises(ValueError, match=r"`smooth` must be None or one of 'aug', 'eigen', 'aug\+eigen'; got 'gauss'"):
        compute_cams(resnet, torch.randn(1, 3, 32, 32), smooth='gauss')

def test_smoothing_pytorch_grad_cam_lacks(resnet):
    with pytest.raises(ValueError, match=r"`smooth`='aug': pytorch-grad-cam's FinerCAM \(`method`='finercam'\) has no `aug_smooth`"):
        compute_cams(resnet, torch.randn(1, 3, 32, 32), 'finercam', smooth='aug')
