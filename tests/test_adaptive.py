"""Adaptive schedules (`Plateau`, `Mistakes`) and `source=` in real fits on real digits (`tiny_cnn`, 4 x 4 maps at 32 px),
checked against what the recorder and the training batches (`BatchSpy`) show, recomputed here, not the callback's counters."""
import copy, pytest, torch
from fastai.vision.all import AvgMetric, EarlyStoppingCallback, SaveModelCallback
from proxy_attention.callback import ProxyAttention
from proxy_attention.core import Plateau, Mistakes, ProxyAttentionWarning
from conftest import tiny_learner, quiet_fit, BatchSpy, key

pytestmark = pytest.mark.newest_fastai   # the recorder, TrackerCallback, EarlyStopping, SaveModelCallback: every test

def pa(**kw):   # proxy images fed in every epoch after a step (the default feed has its own tests in test_callback)
    return ProxyAttention(**{**dict(subset=1.0, seed=0, verbose=False, threshold=0.5, weight=0.5, n_preview=10_000,
                                    feed='every_epoch'), **kw})

def fit(dls, cb, n, spy=None, metrics=None, extra=(), lr=1e-2, **kw):
    learn = tiny_learner(dls, **kw)
    if metrics is not None: learn.metrics = metrics
    return quiet_fit(learn, n, lr=lr, cbs=[c for c in (cb, spy, *extra) if c is not None], one_cycle=True)

def fed_pool_epochs(spy, cb):
    "Epochs whose training batches hold at least one pool image"
    pool = {key(p) for p, s in zip(cb.pool_x, cb.preview['images']) if not torch.equal(p, s)}
    return sorted({b['epoch'] for b in spy.train() for r in b['x'] if key(r) in pool})

def own_error(spy, epoch, train):
    "Share of the epoch's original training images (not proxy images) the model got wrong, from the batches it trained on"
    rows = [(int(y), int(p)) for b in spy.train(epoch) for r, y, p in zip(b['x'], b['y'], b['pred']) if key(r) in train]
    return sum(y != p for y, p in rows) / len(rows)

# --- Plateau ---------------------------------------------------------------------------------------------------------

def test_plateau_steps_after_patience_epochs_without_improvement(digits):
    const = AvgMetric(lambda inp, targ: torch.tensor(0.5)); const.func.__name__ = 'const'   # never improves after epoch 0
    sched = Plateau(monitor='const', patience=2, warmup=1, max_steps=2)
    cb, spy = pa(schedule=sched), BatchSpy()
    learn = fit(digits, cb, 8, spy, metrics=[const])
    assert [h['epoch'] for h in cb.history] == [3, 5]   # waits 2 epochs, steps, waits again; max_steps=2
    assert cb.history[0]['why'] == 'const 0.5 has not improved on 0.5 for 2 epochs'
    assert fed_pool_epochs(spy, cb) == [4, 5, 6, 7]     # trained on from the epoch after the first step
    assert sched.steps == 0 and sched.best is None       # the user's schedule object is not changed
    assert len(learn.recorder.values) == 8

def test_plateau_on_valid_loss_follows_the_recorded_losses(digits):
    cb, spy = pa(schedule=Plateau(patience=1, warmup=1, max_steps=9)), BatchSpy()
    learn = fit(digits, cb, 7, spy, lr=0.05)   # the validation loss of this fit goes up before it comes down
    losses = [v[1] for v in learn.recorder.values]
    expected, best, wait = [], None, 0
    for e in range(1, 6):   # epochs 1..5 may step (warm-up 1, never the last epoch)
        v = losses[e - 1]
        if best is None or v < best: best, wait = v, 0
        else: wait += 1
        if wait >= 1: expected.append(e); wait = 0
    assert [h['epoch'] for h in cb.history] == expected and expected   # at least one step, where the losses say
    assert all(h['why'].startswith('valid_loss ') for h in cb.history)

def test_plateau_with_early_stopping_and_save_model(digits, tmp_path):
    cb = pa(schedule=Plateau(patience=1, warmup=1))
    stop, save = EarlyStoppingCallback(monitor='valid_loss', patience=2), SaveModelCallback(monitor='valid_loss', fname='best')
    learn = tiny_learner(digits, path=tmp_path)
    quiet_fit(learn, 12, lr=0.3, cbs=[cb, stop, save], one_cycle=True)
    ran = len(learn.recorder.values)
    assert all(1 <= h['epoch'] <= min(ran, 12 - 1) for h in cb.history) and (tmp_path/'models'/'best.pth').exists()

def test_adaptive_schedules_fail_before_training_on_values_the_learner_lacks(digits):
    spy = BatchSpy()
    with pytest.raises(ValueError, match="monitors 'nope', which this learner does not record; it records train_loss, valid_loss, accuracy"):
        fit(digits, pa(schedule=Plateau(monitor='nope')), 4, spy)
    with pytest.raises(ValueError, match="give the learner an `accuracy` or `error_rate` metric"):
        fit(digits, pa(schedule='mistakes'), 4, spy, metrics=[])
    assert spy.train() == []   # not one training batch

def test_a_fit_too_short_for_the_warmup_says_so(digits):
    with pytest.warns(ProxyAttentionWarning, match="too short for `schedule`=Plateau"):
        cb = pa(schedule='plateau'); fit(digits, cb, 2)
    assert cb.history == []

# --- Mistakes --------------------------------------------------------------------------------------------------------

def test_mistakes_steps_while_training_error_is_high_against_validation_error(digits, digits_originals):
    train, _ = digits_originals
    sched = Mistakes(ratio=0.9, warmup=1, gap=1, max_steps=9)
    cb, spy = pa(schedule=sched), BatchSpy()
    learn = fit(digits, cb, 6, spy)
    valid_err = [1 - v[2] for v in learn.recorder.values]
    expected = [e for e in range(1, 5) if own_error(spy, e - 1, train) >= 0.9 * valid_err[e - 1]]
    assert [h['epoch'] for h in cb.history] == expected
    assert 0 < len(expected) < 4 or pytest.fail(f"the rule should hold in some epochs only: {expected}")
    assert cb.history[0]['why'].startswith('training error ')

# --- which images: source= -------------------------------------------------------------------------------------------

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
