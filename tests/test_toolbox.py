"ProxyAttention with the fastai toolbox, mixed precision, odd inputs and interrupted fits"
import random, pytest, torch, numpy as np
from fastai.vision.all import (vision_learner, resnet18, accuracy, set_seed, Callback, MixUp, CutMix, GradientAccumulation,
                               SaveModelCallback, EarlyStoppingCallback, CSVLogger, DataBlock, ImageBlock, CategoryBlock,
                               PILImageBW, RandomSplitter, Resize, Normalize, CancelFitException)
from proxy_attention.callback import ProxyAttention
from proxy_attention.core import ProxyAttentionWarning
from proxy_attention.data import ItemOf
from conftest import tiny_learner, BatchSpy, key

def learner(dls, seed=0, **kw):
    "`tiny_cnn` (4 x 4 maps at 32 px), so the proxy images differ from their originals"
    return tiny_learner(dls, seed=seed, **kw)

def resnet_learner(dls, seed=0, **kw):
    set_seed(seed)
    for dl in dls.loaders: dl.rng = random.Random(seed)
    return vision_learner(dls, resnet18, pretrained=False, metrics=accuracy, **kw)

def pa(**kw):   # proxy images fed in every epoch after a step (the default feed has its own tests in test_callback)
    return ProxyAttention(**{**dict(subset=0.5, seed=0, verbose=False, threshold=0.5, weight=0.5, feed='every_epoch'),
                             **kw})

def changed(cb):
    "How many proxy images of the last step differ from their originals"
    return int((cb.preview['proxies'] != cb.preview['images']).flatten(1).any(1).sum())

def fed(spy, cb, epoch):
    "Pool images (not equal to an original) in the training batches of `epoch`, as the model got them"
    pool = {key(p) for p in cb.pool_x} - {key(p) for p in cb.preview['images']}
    return sum(key(r) in pool for b in spy.train(epoch) for r in b['x'])

def quiet(learn): return learn.no_bar(), learn.no_logging()

def run(learn, f):
    a, b = quiet(learn)
    with a, b: return f()

def clean(model):
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())

@pytest.mark.parametrize('extra', [MixUp, CutMix, lambda: GradientAccumulation(n_acc=64), lambda: CSVLogger(fname='log.csv')],
                         ids=['mixup', 'cutmix', 'gradacc', 'csvlogger'])
def test_with_other_callbacks(digits, extra, tmp_path):
    "The proxy images reach the batch before MixUp/CutMix mix it (the spy sits between them), once each"
    learn = learner(digits)
    learn.path = tmp_path
    cb, spy = pa(schedule=[1, 'p', 1], n_preview=10_000), BatchSpy()
    run(learn, lambda: learn.fit_one_cycle(3, 1e-2, cbs=[cb, spy, extra()]))
    assert changed(cb) > 5 and fed(spy, cb, 2) == changed(cb) and fed(spy, cb, 1) == 0 and clean(learn.model)

@pytest.mark.newest_fastai   # fastai's TrackerCallbacks beside the callback (job 2 of .ci/run)
def test_save_model_and_early_stopping(digits, tmp_path):
    learn = learner(digits)
    learn.path = tmp_path
    cb = pa(schedule=1)
    run(learn, lambda: learn.fit(4, 1e-3, cbs=[cb, SaveModelCallback(fname='best'),
                                               EarlyStoppingCallback(patience=0, min_delta=10.)]))
    assert len(learn.recorder.values) < 4 and (tmp_path/'models'/'best.pth').exists()
    assert cb.history and changed(cb) > 0 and clean(learn.model)

def test_fine_tune_runs_schedule_per_fit(digits64):
    learn = resnet_learner(digits64)   # fine_tune needs a body to freeze
    cb = pa(schedule=1)
    run(learn, lambda: learn.fine_tune(2, 1e-3, freeze_epochs=2, cbs=cb))
    assert [h['epoch'] for h in cb.history] == [0]     # the second (unfrozen) fit: one proxy epoch, never the last
    assert len(cb.seen) == 2

def test_tta_get_preds_validate_inactive(digits):
    learn = learner(digits)
    cb = pa(schedule=[1, 'p', 1], subset=1.0)
    learn.add_cb(cb)
    run(learn, lambda: learn.fit(3, 1e-2))
    history, seen, pool = list(cb.history), list(cb.seen), cb.pool_x.clone()
    assert changed(cb) > 0
    run(learn, lambda: learn.tta(n=1))
    run(learn, lambda: learn.validate())
    assert cb.history == history and cb.seen == seen and torch.equal(cb.pool_x, pool)

class CPUAutocast(Callback):
    "bf16 autocast on the CPU for the forward pass, as MixedPrecision does on the GPU"
    order = 10
    def before_batch(self): self.ctx = torch.autocast('cpu', dtype=torch.bfloat16); self.ctx.__enter__()
    def after_loss(self): self.ctx.__exit__(None, None, None)

def test_bf16_autocast_on_cpu(digits):
    learn = learner(digits)
    cb, spy = pa(schedule=[1, 'p', 1], n_preview=10_000), BatchSpy()
    run(learn, lambda: learn.fit(3, 1e-2, cbs=[cb, spy, CPUAutocast()]))
    assert cb.pool_x.dtype == torch.uint8 and cb.history[0]['made'] > 0
    cams = cb.preview['cams']
    assert not torch.isnan(cams).any() and float(cams.flatten(1).std(1).min()) > 0.01   # real maps, not flat ones
    assert changed(cb) > 5 and fed(spy, cb, 2) == changed(cb)

def test_bf16_model_cams_in_fp32():
    from proxy_attention.cams import compute_cams
    from torchvision.models import resnet18 as tv_resnet18
    torch.manual_seed(0)
    model = tv_resnet18(num_classes=10).bfloat16().eval()
    res = compute_cams(model, torch.randn(2, 3, 64, 64))
    assert res.cams.dtype == torch.float32 and not res.cams.isnan().any() and res.cams.max() > 0.99

def test_epoch_without_mistakes(digits):
    class AllRight(Callback):
        "Pretend the model is always right, so the proxy epoch collects nothing"
        order = -5
        def after_pred(self): self.learn.pred = self.pred + torch.nn.functional.one_hot(self.yb[0], 10).float() * 1e3
    learn = learner(digits)
    cb = pa(schedule=['p', 1])
    run(learn, lambda: learn.fit(2, 1e-3, cbs=[AllRight(), cb]))
    assert cb.history == [dict(epoch=0, wrong=0, kept=0, made=0, pool=0, seconds=cb.history[0]['seconds'])]
    assert cb.seen == [0, 0] and cb.pool_x is None

def test_max_images_bounds_the_step(digits):
    learn = learner(digits)
    cb = pa(schedule=['p', 'p'], subset=1.0, max_images=5, pool='latest')
    run(learn, lambda: learn.fit(2, 1e-3, cbs=cb))
    assert [h['made'] for h in cb.history] == [5, 5] and len(cb.pool_x) == 5

def bw_dls(size, bs=16, n=96):
    from sklearn.datasets import load_digits
    d = load_digits()
    imgs = list((d.images[:n] * 255 / 16).astype(np.uint8))
    labels = [str(t) for t in d.target[:n]]
    dblock = DataBlock(blocks=(ImageBlock(PILImageBW), CategoryBlock), get_x=lambda i: PILImageBW.create(imgs[i]),
                       get_y=ItemOf(labels), splitter=RandomSplitter(0.2, seed=0), item_tfms=Resize(size, method='squish'),
                       batch_tfms=Normalize.from_stats([0.5], [0.25]))
    return dblock.dataloaders(np.arange(n), bs=bs, num_workers=0)

def test_grayscale_non_square_images():
    dls = bw_dls((48, 80))
    learn = learner(dls, n_in=1)
    cb = pa(schedule=['p', 1], subset=1.0)
    run(learn, lambda: learn.fit(2, 1e-2, cbs=cb))
    assert cb.pool_x.shape[1:] == (1, 48, 80) and cb.seen[1] == cb.history[0]['made'] > 0 and changed(cb) > 0

def test_images_smaller_than_the_feature_map_and_batch_of_one():
    dls = bw_dls(8, bs=1, n=24)   # 8 px: the last map is 1x1; CAMs are constant (and say so), no NaNs
    learn = learner(dls, n_in=1)
    learn.model.eval()  # BatchNorm cannot train on a batch of one: keep the test about the callback
    class KeepEval(Callback):
        order = -5
        def before_batch(self): self.learn.model.eval()
    cb = ProxyAttention(schedule=['p', 1], subset=1.0, seed=0, verbose=False, threshold=0.0, weight=1.0, feed='every_epoch')
    with pytest.warns(ProxyAttentionWarning, match='flat'): run(learn, lambda: learn.fit(2, 1e-3, cbs=[cb, KeepEval()]))
    assert cb.history[0]['made'] > 0 and not torch.isnan(cb.preview['cams']).any()

def test_wrong_layer_name_fails_at_fit_start(digits):
    learn = learner(digits)
    with pytest.raises(ValueError, match="`layer`='0.nope' is not a module of the model"):
        run(learn, lambda: learn.fit(1, cbs=ProxyAttention(schedule=['p'], layer='0.nope')))

def test_model_without_feature_map_fails_at_first_batch(digits):
    from fastai.vision.all import Learner, CrossEntropyLossFlat
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3*32*32, 10))
    learn = Learner(digits, model, loss_func=CrossEntropyLossFlat())
    with pytest.raises(ValueError, match='found no 4-D feature map'):
        run(learn, lambda: learn.fit(1, cbs=ProxyAttention(schedule=['p'], feed='every_epoch')))

def test_non_image_inputs_rejected():
    from fastai.vision.all import Learner, CrossEntropyLossFlat, DataLoaders
    x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
    dls = DataLoaders.from_dsets(list(zip(x, y)), list(zip(x, y)), bs=16, device='cpu')
    learn = Learner(dls, torch.nn.Linear(10, 2), loss_func=CrossEntropyLossFlat())
    with pytest.raises(ValueError, match=r'needs image batches \(N, C, H, W\)'):
        run(learn, lambda: learn.fit(1, cbs=ProxyAttention(schedule=['p'], feed='every_epoch')))

@pytest.mark.parametrize('exc', [KeyboardInterrupt, RuntimeError])
def test_interrupted_proxy_step_leaves_model_clean(digits, monkeypatch, exc):
    import proxy_attention.callback as cbmod
    def boom(*a, **k): raise exc('stop')
    monkeypatch.setattr(cbmod, 'proxy_images', boom)   # fails after the CAMs were computed
    learn = learner(digits)
    cb = ProxyAttention(schedule=['p', 1], subset=1.0, seed=0, verbose=False, feed='every_epoch')
    with pytest.raises(exc):
        run(learn, lambda: learn.fit(2, 1e-3, cbs=cb))
    assert learn.model.training and all(m.training for m in learn.model.modules())
    assert clean(learn.model) and cb._collected == [] and cb.pool_x is None

def test_cancelled_fit_clears_buffers(digits):
    class CancelAfterFirstBatches(Callback):
        order = 5
        def after_batch(self):
            if self.iter == 2: raise CancelFitException()
    learn = learner(digits)
    cb = ProxyAttention(schedule=['p', 1], seed=0, verbose=False, feed='every_epoch')
    run(learn, lambda: learn.fit(2, 1e-3, cbs=[cb, CancelAfterFirstBatches()]))
    assert cb._collected == [] and cb.pool_x is None and clean(learn.model)
