"""`source=` in real fits on real digits (`tiny_cnn`, 4 x 4 maps at 32 px): which training images a proxy step draws
from, checked against the training batches (`BatchSpy`) recomputed here, not the callback's counters."""
import pytest
from proxy_attention.callback import ProxyAttention
from conftest import tiny_learner, quiet_fit, BatchSpy, key

def pa(**kw):   # proxy images fed in every epoch after a step (the default feed has its own tests in test_callback)
    return ProxyAttention(**{**dict(subset=1.0, seed=0, verbose=False, threshold=0.5, weight=0.5, n_preview=10_000,
                                    feed='every_epoch'), **kw})

def fit(dls, cb, n, spy=None, metrics=None, extra=(), lr=1e-2, **kw):
    learn = tiny_learner(dls, **kw)
    if metrics is not None: learn.metrics = metrics
    return quiet_fit(learn, n, lr=lr, cbs=[c for c in (cb, spy, *extra) if c is not None], one_cycle=True)

@pytest.mark.parametrize('source', ['right', 'all'])
def test_source_draws_from_the_right_answers_or_all_images(digits, digits_originals, source):
    train, _ = digits_originals
    cb, spy = pa(schedule=[1, 'p', 1], source=source), BatchSpy()
    fit(digits, cb, 3, spy)
    rows = [(key(r), int(y), int(p)) for b in spy.train(1) for r, y, p in zip(b['x'], b['y'], b['pred'])]
    want = sorted((k, y) for k, y, p in rows if source == 'all' or p == y)
    assert sorted((key(s), int(y)) for s, y in zip(cb.preview['images'], cb.preview['labels'])) == want   # subset=1.0
    assert cb.history[0]['made'] == len(want) and cb.history[0]['wrong'] == sum(p != y for _, y, p in rows) > 0

def test_source_is_checked():
    with pytest.raises(ValueError, match="`source` must be one of 'wrong', 'right', 'all'; got 'best'"): ProxyAttention(source='best')
