"Property tests of the proxy transform (hypothesis)"
import torch
from hypothesis import given, settings, strategies as st
from proxy_attention.core import proxy_images, REPLACEMENTS

@st.composite
def batches(draw, dtype=None):
    n, c = draw(st.integers(1, 3)), draw(st.sampled_from([1, 3]))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    dtype = dtype or draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.uint8]))
    x = torch.rand(n, c, h, w, generator=g)
    x = (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)
    cam = torch.rand(n, h, w, generator=g)
    return x, cam

fractions = st.floats(0, 1, allow_nan=False)

@settings(max_examples=150, deadline=None)
@given(batches(), fractions, fractions, st.sampled_from(REPLACEMENTS))
def test_shape_dtype_device_kept(xc, threshold, weight, replacement):
    x, cam = xc
    out = proxy_images(x, cam, threshold, weight, replacement)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device

@settings(max_examples=150, deadline=None)
@given(batches(), fractions, fractions, st.sampled_from(REPLACEMENTS))
def test_pixels_at_or_below_threshold_unchanged(xc, threshold, weight, replacement):
    x, cam = xc
    out = proxy_images(x, cam, threshold, weight, replacement)
    keep = (cam <= threshold)[:, None].expand_as(x)
    assert torch.equal(out[keep], x[keep])

@settings(max_examples=100, deadline=None)
@given(batches(), fractions)
def test_weight_zero_is_identity(xc, threshold):
    x, cam = xc
    assert torch.equal(proxy_images(x, cam, threshold, 0.0, 'blend'), x)

@settings(max_examples=100, deadline=None)
@given(batches(), fractions, st.sampled_from(REPLACEMENTS))
def test_threshold_one_is_identity(xc, weight, replacement):
    x, cam = xc
    assert torch.equal(proxy_images(x, cam, 1.0, weight, replacement), x)

@settings(max_examples=150, deadline=None)
@given(batches(dtype=torch.float32), fractions, fractions)
def test_blend_never_brightens(xc, threshold, weight):
    x, cam = xc
    assert (proxy_images(x, cam, threshold, weight, 'blend') <= x).all()

@settings(max_examples=50, deadline=None)
@given(batches(dtype=torch.float32))
def test_nan_or_constant_cams_make_no_nans(xc):
    x, cam = xc
    for bad in (torch.full_like(cam, float('nan')), torch.zeros_like(cam), torch.ones_like(cam)):
        assert not proxy_images(x, bad, 0.5, 0.5).isnan().any()
