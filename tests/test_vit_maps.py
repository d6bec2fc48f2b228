"Attention rollout and gradient rollout for timm ViTs: against direct computations from independently captured attention"
import copy, pytest, torch, torch.nn as nn, timm
from timm.models.vision_transformer import VisionTransformer
from proxy_attention.cams import (compute_cams, find_target_layer, scale_cams, attention_rollout, gradient_rollout,
                                  ATTENTION_METHODS, CAM_METHODS, HEAD_FUSIONS)

GRID = 4   # 32 px images, 8 px patches: 16 patches and a class token

def small_vit(**kw):
    return VisionTransformer(img_size=32, patch_size=8, num_classes=3, embed_dim=16, depth=2, num_heads=2, mlp_ratio=1., **kw)

@pytest.fixture
def vit():
    torch.manual_seed(0)
    return small_vit().eval()

def pointing_vit(patch:int, other:int):
    """A 2-block, 2-head ViT whose class token reads patch `patch` (p ~ 0.99) in head 0, and `other` (p ~ 0.5) and
    `patch` (p ~ 0.3) in head 1, whatever the image: the patch embedding, values, MLPs and head are zero, so the tokens
    are their position embeddings, the same in both blocks, and every other token attends uniformly."""
    m = VisionTransformer(img_size=32, patch_size=8, num_classes=3, embed_dim=8, depth=2, num_heads=2, mlp_ratio=1.).eval()
    e = torch.eye(8)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if 'norm' not in name: p.zero_()
        m.cls_token[0, 0] = e[2] - e[3]                 # LayerNorm makes each of these 2 (e_a - e_b)
        m.pos_embed[0, 1 + patch] = e[0] - e[1]
        m.pos_embed[0, 1 + other] = e[4] - e[5]
        for b in m.blocks:
            w = b.attn.qkv.weight                       # rows: q of head 0 (0-3), of head 1 (4-7), then k (8-15), v
            w[0] = w[4] = e[2] - e[3]                   # the class token's query, 4 in both heads; others' are 0
            w[8] = e[0] - e[1]                          # head 0 keys: `patch` 4, logit 4*4/2 = 8
            w[12] = .453 * (e[4] - e[5]) + .389 * (e[0] - e[1])   # head 1: logits 3.6 (`other`), 3.1 (`patch`)
    return m

def captured_attention(model, x):
    "Each block's attention probabilities, recomputed from the input of its `attn` with its own weights (not the library's hooks)"
    inputs = []
    hs = [b.attn.register_forward_hook(lambda mod, i, o: inputs.append((mod, i[0]))) for b in model.blocks]
    with torch.no_grad(): model(x)
    for h in hs: h.remove()
    out = []
    for mod, t in inputs:
        B, T, C = t.shape
        q, k, _ = mod.qkv(t).reshape(B, T, 3, mod.num_heads, C // mod.num_heads).permute(2, 0, 3, 1, 4)
        out.append(((q * mod.scale) @ k.transpose(-2, -1)).softmax(-1).double())
    return out

def patch_means(cams): return cams.unflatten(1, (GRID, 8)).unflatten(3, (GRID, 8)).mean((2, 4)).flatten(1)   # (N, 16)

def test_rollout_is_the_product_of_the_blocks_attention(vit):
    x = torch.randn(3, 3, 32, 32)
    attns = captured_attention(vit, x)
    for fusion in HEAD_FUSIONS:
        rollout = torch.eye(1 + GRID**2, dtype=torch.float64)
        for a in attns:
            fused = {'mean': a.mean(1), 'max': a.amax(1), 'min': a.amin(1)}[fusion] + torch.eye(1 + GRID**2, dtype=torch.float64)
            rollout = (fused / fused.sum(-1, keepdim=True)) @ rollout
        expected = scale_cams(rollout[:, 0, 1:].reshape(-1, GRID, GRID), (32, 32))
        res = compute_cams(vit, x, 'rollout', head_fusion=fusion)
        assert (res.cams - expected).abs().max() < 5e-5, fusion   # the test recomputes the attention in float32 its own way
        assert res.cams.std() > 0.05

def test_gradrollout_is_chefer_et_al(vit):
    "Against Chefer et al.'s own recipe: attention saved in the forward, its gradient from `backward` on a copy"
    x, targets = torch.randn(3, 3, 32, 32), torch.tensor([0, 1, 2])
    ref = copy.deepcopy(vit)
    saved = []
    def forward(self, t, attn_mask=None, is_causal=False):
        B, T, C = t.shape
        q, k, v = self.qkv(t).reshape(B, T, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(-1)
        attn.retain_grad(); saved.append(attn)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, T, C))
    for b in ref.blocks: b.attn.forward = forward.__get__(b.attn)
    ref(x).gather(1, targets[:, None]).sum().backward()
    relevance = torch.eye(1 + GRID**2).expand(3, -1, -1)
    for a in saved: relevance = relevance + (a.grad * a).clamp(min=0).mean(1) @ relevance
    expected = scale_cams(relevance[:, 0, 1:].reshape(-1, GRID, GRID), (32, 32))
    res = compute_cams(vit, x, 'gradrollout', targets=targets)
    assert (res.cams - expected.detach()).abs().max() < 1e-5
    assert res.cams.std() > 0.05

def test_uniform_and_identity_attention_give_flat_maps(vit):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for b in vit.blocks: b.attn.qkv.weight[:32] = 0; b.attn.qkv.bias[:32] = 0   # q = k = 0: uniform attention
    assert all(torch.allclose(a, torch.full_like(a, 1/17)) for a in captured_attention(vit, x))
    assert compute_cams(vit, x, 'rollout').cams.max() < 0.05    # equal weights: flat, which min-max scaling sends to 0
    # identity attention: R = I, the class token's row over the patches is 0
    eye = torch.eye(17).expand(2, 2, 17, 17)
    test_rows = attention_rollout([eye, eye])[:, 0, 1:]
    assert test_rows.abs().max() == 0
    assert gradient_rollout([eye], [eye])[:, 0, 1:].abs().max() == 0

@pytest.mark.parametrize('patch, other', [(5, 10), (12, 3)])
def test_map_follows_the_patch_the_class_token_reads(patch, other):
    m, x = pointing_vit(patch, other), torch.randn(2, 3, 32, 32)
    for fusion in HEAD_FUSIONS:
        means = patch_means(compute_cams(m, x, 'rollout', head_fusion=fusion).cams)
        assert (means.argmax(1) == patch).all(), fusion
    res = compute_cams(m, x, 'rollout', head_fusion='max')
    assert patch_means(res.cams)[:, other].min() > 0.1    # the second head's patch shows under max fusion...
    res = compute_cams(m, x, 'rollout', head_fusion='min')
    assert patch_means(res.cams)[:, other].max() < 0.05   # ... and not under min fusion

def test_head_fusion_and_discard_ratio_change_the_map():
    m, x = pointing_vit(5, 10), torch.randn(1, 3, 32, 32)
    maps = {f: compute_cams(m, x, 'rollout', head_fusion=f).cams for f in HEAD_FUSIONS}
    for a, b in [('mean', 'max'), ('mean', 'min'), ('max', 'min')]: assert (maps[a] - maps[b]).abs().max() > 0.05, (a, b)
    discarded = compute_cams(m, x, 'rollout', discard_ratio=0.9).cams
    assert (discarded - maps['mean']).abs().max() > 0.05

def test_aug_smoothing_maps_flipped_copies_back():
    "The pointing ViT ignores the image, so each flipped copy's map, flipped back, is the mirror image of the plain map"
    m, x = pointing_vit(5, 10), torch.randn(2, 3, 32, 32)
    plain, smoothed = compute_cams(m, x, 'rollout').cams, compute_cams(m, x, 'rollout', smooth='aug').cams
    assert (smoothed - (plain + plain.flip(-1)) / 2).abs().max() < 1e-6

def test_gradrollout_depends_on_the_class_and_rollout_does_not(vit):
    x = torch.randn(2, 3, 32, 32)
    a, b = (compute_cams(vit, x, 'gradrollout', targets=torch.tensor([c, c])).cams for c in (0, 2))
    assert (a - b).abs().max() > 0.05
    a, b = (compute_cams(vit, x, 'rollout', targets=torch.tensor([c, c])).cams for c in (0, 2))
    assert (a - b).abs().max() == 0

@pytest.mark.parametrize('method', ATTENTION_METHODS)
@pytest.mark.parametrize('fused', [True, False])
def test_model_left_as_found(method, fused):
    torch.manual_seed(0)
    m = small_vit().train()
    for b in m.blocks: b.attn.fused_attn = fused
    m.set_grad_checkpointing(True)
    m.blocks[0].requires_grad_(False)
    m.head.weight.grad = torch.full_like(m.head.weight, 2.)
    res = compute_cams(m, torch.randn(2, 3, 32, 32), method)
    assert res.cams.std() > 0.05
    assert all(mod.training for mod in m.modules())
    assert [b.attn.fused_attn for b in m.blocks] == [fused, fused] and m.grad_checkpointing
    assert m.head.weight.grad.eq(2).all() and all(p.grad is None for n, p in m.named_parameters() if n != 'head.weight')
    assert not any(p.requires_grad for p in m.blocks[0].parameters()) and all(p.requires_grad for p in m.blocks[1].parameters())
    assert all(not mod._forward_hooks and not mod._forward_pre_hooks and not mod._backward_hooks for mod in m.modules())

def test_frozen_model_and_no_grad(vit):
    vit.requires_grad_(False)
    with torch.no_grad(): res = compute_cams(vit, torch.randn(2, 3, 32, 32), 'gradrollout')
    assert res.cams.std() > 0.05

@pytest.mark.parametrize('method', ATTENTION_METHODS)
def test_timm_vit_tiny_from_scratch(method):
    torch.manual_seed(0)
    m = timm.create_model('vit_tiny_patch16_224', num_classes=4, img_size=64)
    x = torch.randn(2, 3, 64, 64)
    res = compute_cams(m, x, method)
    assert res.cams.shape == (2, 64, 64) and res.cams.std() > 0.05
    with torch.no_grad(): assert (res.preds == m.eval()(x).argmax(-1)).all()
    smoothed = compute_cams(m, x, method, smooth='aug')
    assert smoothed.cams.std() > 0.02 and (smoothed.preds == res.preds).all()

@pytest.mark.parametrize('kw', [dict(reg_tokens=2), dict(class_token=False, global_pool='avg'), dict(qk_norm=True)])
def test_prefix_tokens_and_pooling(kw):
    torch.manual_seed(0)
    m = small_vit(**kw)
    t = find_target_layer(m, method='rollout')
    assert t.module is m and t.reshape.n_prefix == m.num_prefix_tokens
    for method in ATTENTION_METHODS:
        res = compute_cams(m, torch.randn(2, 3, 32, 32), method)
        assert res.cams.shape == (2, 32, 32) and res.cams.std() > 0.05

def test_deit_distilled():
    m = timm.create_model('deit_tiny_distilled_patch16_224', num_classes=4, img_size=64)
    assert find_target_layer(m, method='rollout').reshape.n_prefix == 2
    for method in ATTENTION_METHODS: assert compute_cams(m, torch.randn(2, 3, 64, 64), method).cams.std() > 0.05

def test_inside_a_wrapper(vit):
    wrapped = nn.Sequential(vit)
    t = find_target_layer(wrapped, method='gradrollout')
    assert t.name == '0' and t.module is vit
    x = torch.randn(2, 3, 32, 32)
    assert (compute_cams(wrapped, x, 'rollout').cams - compute_cams(vit, x, 'rollout').cams).abs().max() == 0

def test_errors_name_the_method(vit):
    from torchvision.models import resnet18, vit_b_16
    assert set(ATTENTION_METHODS) <= set(CAM_METHODS)
    for m in (resnet18(num_classes=3), vit_b_16(num_classes=3)):
        with pytest.raises(ValueError, match=r"`method`='rollout' reads the attention of a timm ViT's blocks"):
            compute_cams(m, torch.randn(1, 3, 224, 224), 'rollout')
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"`method`='gradrollout' needs the ViT .* got the target layer 'blocks.1.norm1'"):
        compute_cams(vit, x, 'gradrollout', layer=find_target_layer(vit))
    with pytest.raises(ValueError, match=r"`smooth`='eigen'.*`method`='rollout'"): compute_cams(vit, x, 'rollout', smooth='eigen')
    with pytest.raises(ValueError, match=r"`head_fusion` must be one of 'mean', 'max', 'min'; got 'avg'"): compute_cams(vit, x, 'rollout', head_fusion='avg')
    with pytest.raises(ValueError, match=r"`discard_ratio` must be in \[0, 1\)"): compute_cams(vit, x, 'rollout', discard_ratio=1)
    with pytest.raises(ValueError, match=r"`discard_ratio` applies to method='rollout' only"): compute_cams(vit, x, 'gradrollout', discard_ratio=.5)
    with pytest.raises(ValueError, match=r"`head_fusion` applies to the attention methods"): compute_cams(vit, x, 'gradcam', head_fusion='max')

@pytest.mark.parametrize('method', ATTENTION_METHODS)
def test_a_vit_fit_with_attention_map_proxies(digits, digits_originals, method):
    "A ViT learner fitted with `ProxyAttention(method=...)`: its proxy images differ from their originals and are trained on"
    from fastai.vision.all import Learner, CrossEntropyLossFlat, accuracy, set_seed
    from proxy_attention.callback import ProxyAttention
    from conftest import BatchSpy, quiet_fit, key
    train, _ = digits_originals
    set_seed(0)
    learn = Learner(digits, VisionTransformer(img_size=32, patch_size=8, num_classes=10, embed_dim=32, depth=2, num_heads=2),
                    loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    # 'max': a salient pixel becomes the image's brightest, so a map over the digits' black background changes pixels too
    cb, spy = ProxyAttention(method=method, schedule=[1, 'p', 1], subset=1.0, threshold=0.5, replacement='max', seed=0, verbose=False,
                             n_preview=10_000, feed='every_epoch'), BatchSpy()
    quiet_fit(learn, 3, lr=1e-3, cbs=[cb, spy])
    (rec,) = cb.history
    assert rec['made'] > 10 and cb.preview['cams'].flatten(1).std(1).min() > 0.01   # 4 x 4 patch maps with structure
    changed = [p for p, s in zip(cb.pool_x, cb.preview['images']) if not torch.equal(p, s)]
    assert len(changed) > 0.8 * len(cb.pool_x)
    moved = (cb.preview['proxies'] != cb.preview['images']).any(1)
    assert not (moved & (cb.preview['cams'] <= 0.5)).any()   # only where the attention map is above the threshold
    fed = {key(r) for b in spy.train(2) for r in b['x']}
    assert all(key(p) in fed for p in changed) and not any(key(p) in train for p in changed)   # fed in the next epoch, and new

def test_make_learner_builds_a_timm_vit_for_the_images(digits):
    "`make_learner` (every comparison's model) builds a ViT by timm name for the data's 32 px images, not timm's 224"
    from proxy_attention.training import make_learner
    learn = make_learner(digits, 'vit_tiny_patch16_224', seed=0)
    xb = digits.valid.one_batch()[0]
    assert learn.model[0].model.patch_embed.grid_size == (2, 2)
    assert learn.model.eval()(xb).shape == (len(xb), 10)
