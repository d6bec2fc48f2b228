"The schedule parser and the proxy transform, on known values"
import pytest, torch
from proxy_attention.core import parse_schedule, default_schedule, proxy_images, flags_to_schedule

def proxy_epochs(flags): return [i for i, f in enumerate(flags) if f]

def test_thesis_schedule():
    assert proxy_epochs(parse_schedule([5,'p',9,'p',9,'p',9,'p',4], 40)) == [5, 15, 25, 35]
    assert parse_schedule("5,p,9,p,9,p,9,p,4", 40) == parse_schedule([5,'p',9,'p',9,'p',9,'p',4], 40)

def test_default_is_thesis_scaled():
    assert default_schedule(40) == [5,'p',9,'p',9,'p',9,'p',4]
    assert proxy_epochs(parse_schedule(None, 8)) == [1, 3, 5]
    assert parse_schedule(None, 1) == [False]

def test_int_schedule_skips_last_epoch():
    assert proxy_epochs(parse_schedule(3, 9)) == [2, 5]
    assert proxy_epochs(parse_schedule('2', 5)) == [1, 3]

@pytest.mark.parametrize('schedule,n,msg', [([5,'p',4], 12, 'spans 10 epochs but the fit has n_epoch=12'),
                                            ([2,'q',1], 4, "got 'q'"), ([2,-1], 1, 'got -1'), (0, 3, '>= 1'),
                                            ({'p': 1}, 3, '`schedule` must be None')])
def test_bad_schedules(schedule, n, msg):
    with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace('[', r'\[')): parse_schedule(schedule, n)

def test_flags_roundtrip():
    flags = [False, True, True, False, False, True]
    assert parse_schedule(flags_to_schedule(flags), len(flags)) == flags

def test_blend_formula_on_known_tensor():
    x = torch.tensor([[[[0.5, 0.8], [0.2, 1.0]]]])
    cam = torch.tensor([[[1.0, 0.5], [0.0, 0.9]]])
    out = proxy_images(x, cam, threshold=0.85, weight=0.1)
    assert torch.allclose(out, torch.tensor([[[[0.45, 0.8], [0.2, 0.91]]]]))

@pytest.mark.parametrize('replacement,expected', [('mean', 0.625), ('max', 1.0), ('min', 0.2), ('halfmax', 0.5), ('zero', 0.0)])
def test_each_replacement(replacement, expected):
    x = torch.tensor([[[[0.5, 0.8], [0.2, 1.0]]]])
    cam = torch.tensor([[[1.0, 0.5], [0.0, 0.9]]])
    out = proxy_images(x, cam, replacement=replacement)
    assert out[0, 0, 0, 0].item() == pytest.approx(expected) and out[0, 0, 1, 1].item() == pytest.approx(expected)
    assert out[0, 0, 0, 1].item() == pytest.approx(0.8) and out[0, 0, 1, 0].item() == pytest.approx(0.2)

def test_statistics_are_per_channel_and_per_image():
    x = torch.zeros(2, 2, 4, 4); x[0, 0] = 1.; x[1, 1] = 0.5
    out = proxy_images(x, torch.ones(2, 4, 4), replacement='max', threshold=0.5)
    assert out[0, 0].eq(1).all() and out[0, 1].eq(0).all() and out[1, 1].eq(0.5).all() and out[1, 0].eq(0).all()

def test_user_tensors_not_mutated():
    x, cam = torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8)
    x0, cam0 = x.clone(), cam.clone()
    proxy_images(x, cam, threshold=0.1, weight=1.)
    assert torch.equal(x, x0) and torch.equal(cam, cam0)

@pytest.mark.parametrize('kw,msg', [(dict(threshold=2), '`threshold` must be a number in \\[0, 1\\], got 2'),
                                    (dict(weight=-0.5), '`weight` must be a number in \\[0, 1\\], got -0.5'),
                                    (dict(replacement='blur'), "`replacement` must be one of 'blend'")])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg): proxy_images(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4), **kw)
