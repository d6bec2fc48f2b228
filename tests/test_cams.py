"Target layers for CNNs and ViTs, and the fast CAM path against pytorch-grad-cam"
import pytest, torch, torch.nn as nn, timm
from torchvision.models import resnet18, vgg11
from proxy_attention.cams import find_target_layer, compute_cams, FAST_METHODS, CAM_METHODS

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

@pytest.mark.parametrize('method', [m for m in CAM_METHODS if m not in FAST_METHODS and m not in ('scorecam', 'ablationcam')])
def test_every_other_method_runs(resnet, method):
    res = compute_cams(resnet, torch.randn(2, 3, 64, 64), method)
    assert res.cams.shape == (2, 64, 64) and not res.cams.isnan().any()

def test_unknown_method():
    with pytest.raises(ValueError, match=r"`method` must be one of 'gradcam'.*got 'gradcam\+'"):
        compute_cams(resnet18(), torch.randn(1, 3, 32, 32), 'gradcam+')
