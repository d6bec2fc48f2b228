"Target layers for CNNs and ViTs, and the fast CAM path, plain and smoothed, against pytorch-grad-cam"
import inspect, pytest, torch, torch.nn as nn, timm
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

@pytest.mark.parametrize('method', FAST_METHODS)
def test_fast_path_agrees_with_pytorch_grad_cam_inside_the_network(resnet, method):
    "At `layer3` the gradient varies over positions (at `layer4` it is the head's weight everywhere: most methods agree)"
    torch.manual_seed(0)
    x, targets = torch.randn(3, 3, 64, 64), torch.tensor([1, 2, 3])
    fast, slow = (compute_cams(resnet, x, method, targets=targets, layer='layer3', fast=f) for f in (True, False))
    assert (fast.cams - slow.cams).abs().max() < 1e-3
    # it tells the methods apart; `layer3` ends in a ReLU, so `A >= 0` and ReLU(G) * A = ReLU(G * A)
    same = {'layercam', 'gradcamelementwise'}
    for other in [m for m in FAST_METHODS if m != method and {m, method} != same]:
        assert (fast.cams - compute_cams(resnet, x, other, targets=targets, layer='layer3').cams).abs().max() > 0.05

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

# The registry of methods: each cites its paper; the batched path is exactly the methods with a weight function
import re, pytorch_grad_cam as pgc
import proxy_attention.cams as cams
from proxy_attention.cams import CAM_REGISTRY, PGC_METHODS, register_cam_method, cam_method, scale_cams

# what each method implements, by the paper's arXiv id or address, and pytorch-grad-cam's class for it
PAPERS = {'gradcam': 'arXiv:1610.02391', 'gradcam++': 'arXiv:1710.11063', 'xgradcam': 'arXiv:2008.02312',
          'hirescam': 'arXiv:2011.08891', 'layercam': 'https://ieeexplore.ieee.org/document/9462463',
          'gradcamelementwise': 'https://github.com/jacobgil/pytorch-grad-cam', 'eigencam': 'arXiv:2008.00299',
          'eigengradcam': 'arXiv:2008.00299', 'scorecam': 'arXiv:1910.01279',
          'ablationcam': 'https://ieeexplore.ieee.org/document/9093360', 'fullgrad': 'arXiv:1905.00780',
          'randomcam': 'https://github.com/jacobgil/pytorch-grad-cam', 'kpcacam': 'arXiv:2410.00267',
          'fem': 'https://hal.science/hal-02963298', 'shapleycam': 'arXiv:2501.06261', 'finercam': 'arXiv:2501.11309',
          'rollout': 'arXiv:2005.00928', 'gradrollout': 'arXiv:2103.15679'}
BATCHED = {'gradcam': pgc.GradCAM, 'gradcam++': pgc.GradCAMPlusPlus, 'xgradcam': pgc.XGradCAM, 'hirescam': pgc.HiResCAM,
           'layercam': pgc.LayerCAM, 'gradcamelementwise': pgc.GradCAMElementWise}
PGC_ONLY = {'eigencam': pgc.EigenCAM, 'eigengradcam': pgc.EigenGradCAM, 'scorecam': pgc.ScoreCAM,
            'ablationcam': pgc.AblationCAM, 'fullgrad': pgc.FullGrad, 'randomcam': pgc.RandomCAM, 'kpcacam': pgc.KPCA_CAM, 'fem': pgc.FEM,
            'shapleycam': pgc.ShapleyCAM, 'finercam': pgc.FinerCAM}
# Authors: "Title", Venue Year, arXiv id or address.
CITATION = re.compile(r'[A-Z][\w-]+( [A-Z][\w-]+)*(, [A-Z][\w-]+( [A-Z][\w-]+)*)*( and contributors)?: "[^"]{10,}",\s+'
                      r'[^"\n]+? (19|20)\d\d,\s+(arXiv:\d{4}\.\d{4,5}|https?://\S+)\.$')
EQUATION = re.compile(r'`[^`]*=[^`]*`')

def test_every_registered_method_cites_its_paper_and_equation():
    assert list(CAM_REGISTRY) == list(PAPERS) == list(CAM_METHODS)
    for name, method in CAM_REGISTRY.items():
        summary, blank, *rest = method.doc.splitlines()
        assert summary and not blank, name
        assert CITATION.search(method.doc) and PAPERS[name] in CITATION.search(method.doc)[0], name
        assert EQUATION.search('\n'.join(rest)), name
    # the batched methods' docs are their weight functions' docstrings
    assert all(CAM_REGISTRY[n].doc == inspect.cleandoc(CAM_REGISTRY[n].weights.__doc__) for n in BATCHED)

def test_each_method_is_registered_with_its_path():
    assert {n: m.pgc for n, m in CAM_REGISTRY.items() if m.weights is not None} == BATCHED
    assert {n: m.pgc for n, m in CAM_REGISTRY.items() if m.weights is None and not m.attention} == PGC_ONLY
    assert [n for n, m in CAM_REGISTRY.items() if m.attention] == ['rollout', 'gradrollout']
    assert dict(PGC_METHODS) == {**BATCHED, **PGC_ONLY}

def test_the_batched_path_covers_exactly_the_registrys_batched_methods(resnet, monkeypatch):
    "The names are derived from the registry, and `compute_cams` takes each method down the path its entry names"
    assert FAST_METHODS == tuple(n for n, m in CAM_REGISTRY.items() if m.weights is not None) == tuple(BATCHED)
    assert ATTENTION_METHODS == tuple(n for n, m in CAM_REGISTRY.items() if m.attention)
    assert CAM_METHODS == tuple(CAM_REGISTRY)
    class ReachedPgc(Exception): pass
    def no_pgc(*args, **kwargs): raise ReachedPgc
    weights_called = []
    monkeypatch.setattr(cams, '_pgc_cams', no_pgc)
    for name, m in CAM_REGISTRY.items():
        if m.weights is not None:
            recorded = lambda A, G, w=m.weights, n=name: weights_called.append(n) or w(A, G)
            monkeypatch.setitem(CAM_REGISTRY, name, m._replace(weights=recorded))
    x = torch.randn(2, 3, 64, 64)
    for name, m in CAM_REGISTRY.items():
        if m.attention: continue
        if m.weights is not None:
            assert compute_cams(resnet, x, name).cams.std() > 0.05 and weights_called[-1] == name
            with pytest.raises(ReachedPgc): compute_cams(resnet, x, name, fast=False)
        else:
            with pytest.raises(ReachedPgc): compute_cams(resnet, x, name)
    assert weights_called == list(BATCHED)

@pytest.fixture
def registry():
    "The registry as it was, back after the test"
    saved = dict(CAM_REGISTRY)
    yield CAM_REGISTRY
    CAM_REGISTRY.clear(); CAM_REGISTRY.update(saved)

def by_hand(model, layer, x, weights):
    "The map a weight function defines, from the activations and gradients of `layer` for the predicted classes"
    acts = []
    hook = layer.register_forward_hook(lambda mod, inp, out: acts.append(out))
    logits = model(x); hook.remove()
    (G,) = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), acts[0])
    return scale_cams(weights(acts[0].detach(), G).sum(1), x.shape[-2:])

def test_a_method_of_your_own(resnet, registry):
    "A registered weight function is a method like the others: the names and `compute_cams` accept it"
    @cam_method('gradcam-positive')
    def positive_weights(A, G):
        "Grad-CAM from the positive gradients only: `w_k = 1/Z sum_ij ReLU(G_kij)`"
        return G.clamp(min=0).mean((2, 3), keepdim=True) * A
    assert CAM_METHODS[-1] == FAST_METHODS[-1] == 'gradcam-positive' and 'gradcam-positive' not in PGC_METHODS
    assert CAM_METHODS == tuple(registry) and CAM_METHODS + ('x',) == tuple(registry) + ('x',)
    x = torch.randn(2, 3, 64, 64)
    ours, gradcam = compute_cams(resnet, x, 'gradcam-positive'), compute_cams(resnet, x, 'gradcam')
    assert (ours.cams - by_hand(resnet, resnet.layer4, x, positive_weights)).abs().max() < 1e-5
    assert (ours.cams - gradcam.cams).abs().max() > 0.05                           # not Grad-CAM's map
    assert (compute_cams(resnet, x, 'gradcam-positive', fast=False).cams - ours.cams).abs().max() == 0   # no pgc class
    assert compute_cams(resnet, x, 'gradcam-positive', smooth='aug+eigen').cams.std() > 0.05
    from proxy_attention.callback import ProxyAttention
    assert ProxyAttention(method='gradcam-positive').method == 'gradcam-positive'   # registered after import
    with pytest.raises(ValueError, match=r"`name`='gradcam-positive' is registered already"):
        register_cam_method('gradcam-positive', positive_weights)
    # weights, not weighted activations
    register_cam_method('gradcam-positive', lambda A, G: G.mean((2, 3)), replace=True)
    with pytest.raises(ValueError, match=r"`method`='gradcam-positive': its weight function must return weighted "
                                         r"activations of the activations' shape \(2, 512, 2, 2\), got \(2, 512\)"):
        compute_cams(resnet, x, 'gradcam-positive')
    del registry['gradcam-positive']
    assert 'gradcam-positive' not in CAM_METHODS and 'gradcam-positive' not in FAST_METHODS
    with pytest.raises(ValueError, match="`method` must be one of"): compute_cams(resnet, x, 'gradcam-positive')

def test_the_callbacks_settings_check_takes_every_registered_method():
    from proxy_attention.callback import check_settings
    for name in CAM_METHODS: assert check_settings(method=name.upper()) == {'method': name}
    with pytest.raises(ValueError, match=r"`method` must be one of 'gradcam', 'gradcam\+\+', .*; got 'cam'"):
        check_settings(method='cam')

def test_registration_errors(registry):
    with pytest.raises(ValueError, match=r"`name` must be a non-empty lower-case string .*got 'GradCAM'"):
        register_cam_method('GradCAM', lambda A, G: A)
    with pytest.raises(ValueError, match=r"`name`='mine': give `weights`, `pgc` or both"): register_cam_method('mine')
    with pytest.raises(ValueError, match=r"`weights` must be None or a function"):
        register_cam_method('mine', 'gradcam')
    with pytest.raises(ValueError, match=r"`pgc` must be None or a pytorch-grad-cam class"):
        register_cam_method('mine', pgc='GradCAM')
    assert list(registry) == list(PAPERS)

def test_flat_sequential_target_layer():
    "A flat `Sequential` whose last feature map comes from a ReLU (no block outputs it): the ReLU is the target"
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    assert find_target_layer(m, torch.rand(1, 3, 16, 16)).name == '3'
    assert compute_cams(m, torch.rand(2, 3, 16, 16)).cams.shape == (2, 16, 16)
