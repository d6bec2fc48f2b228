"""Fixtures where the method can be seen working: real digits, a small CNN whose CAMs have spatial structure at 32 px,
and a recording callback that sees the batches the model is actually trained on.

The project's own warnings (`ProxyAttentionWarning`) are errors in this suite (pytest.ini); a test that expects one
says so with `pytest.warns`."""
import os, random, pytest, torch, torch.nn as nn
from fastai.vision.all import Learner, Callback, ConvLayer, CrossEntropyLossFlat, accuracy, set_seed, Normalize
from proxy_attention.callback import ProxyAttention

def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1

def pytest_xdist_auto_num_workers(config):
    "pytest.ini's `-n auto`: a worker per core, at most 4 (each holds a few GB: fastai, torch, a Chromium at times)"
    return max(1, min(4, _cores()))

# Test files side by side share the cores out: each worker, and the processes its tests start (they inherit
# OMP_NUM_THREADS), gets cores // workers threads, or fewer where OMP_NUM_THREADS says so. Two workers of two threads
# each on two cores took twice the CPU time of one thread each.
if os.environ.get('PYTEST_XDIST_WORKER_COUNT'):
    _threads = max(1, _cores() // int(os.environ['PYTEST_XDIST_WORKER_COUNT']))
    if os.environ.get('OMP_NUM_THREADS', '').isdigit():
        _threads = max(1, min(_threads, int(os.environ['OMP_NUM_THREADS'])))
    os.environ['OMP_NUM_THREADS'] = str(_threads)
    torch.set_num_threads(_threads)
torch.set_num_threads(max(1, torch.get_num_threads()))

class Boom(nn.Module):
    "Identity, except that it raises `exc` in a CAM pass (eval mode with gradients on) once armed: an error *inside* the CAM pass"
    def __init__(self): super().__init__(); self.exc = None
    def forward(self, x):
        if self.exc is not None and not self.training and torch.is_grad_enabled(): raise self.exc
        return x

def tiny_cnn(n_in=3, n_out=10):
    "A small CNN of stride 8: at 32 px its last feature map is 4 x 4 (`3`), the one before it 8 x 8 (`1`)"
    return nn.Sequential(ConvLayer(n_in, 16, stride=2), ConvLayer(16, 32, stride=2), ConvLayer(32, 64, stride=2),
                         ConvLayer(64, 64), Boom(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_out))

def tiny_learner(dls, seed=0, n_in=3, **kwargs):
    "A `Learner` with `tiny_cnn`, its weights and the batch order fixed by `seed`"
    set_seed(seed)
    for dl in dls.loaders: dl.rng = random.Random(seed)   # the same batch order on every call
    return Learner(dls, tiny_cnn(n_in, dls.c), loss_func=CrossEntropyLossFlat(), metrics=accuracy, **kwargs)

def quiet_fit(learn, n, lr=1e-2, cbs=None, one_cycle=False):
    with learn.no_bar(), learn.no_logging(): (learn.fit_one_cycle if one_cycle else learn.fit)(n, lr, cbs=cbs)
    return learn

def to_pixels(dls, x):
    "Normalized batch -> uint8 pixels with the learner's own `Normalize` statistics (independent of the library's `PixelSpace`)"
    norm = next(t for t in dls.train.after_batch.fs if isinstance(t, Normalize))
    mean, std = (torch.as_tensor(s).float().reshape(1, -1, 1, 1) for s in (norm.mean, norm.std))
    return (x.detach().cpu().float() * std + mean).mul(255).round().clamp(0, 255).to(torch.uint8)

def key(img): return img.contiguous().numpy().tobytes()

class BatchSpy(Callback):
    "Records every batch the model is fed, after `ProxyAttention` (and before MixUp/CutMix) changed it: pixels, labels, predictions"
    order = ProxyAttention.order + 0.5
    def __init__(self): self.batches = []
    def before_batch(self):
        self.batches.append(dict(training=self.training, epoch=getattr(self.learn, 'epoch', None),
                                 x=to_pixels(self.dls, self.xb[0]), y=self.yb[0].detach().cpu().clone()))
    def after_pred(self):
        pred = self.pred[0] if isinstance(self.pred, (tuple, list)) else self.pred
        self.batches[-1]['pred'] = pred.argmax(-1).detach().cpu()
    def train(self, epoch=None): return [b for b in self.batches if b['training'] and (epoch is None or b['epoch'] == epoch)]
    def valid(self): return [b for b in self.batches if not b['training']]

def originals(dls, ds_idx=0):
    "{pixels: label} of every item of a dataset as the model gets it before the batch transforms (uint8 after the item transforms)"
    dl = dls.loaders[ds_idx]
    out = {}
    for i in range(len(dl.dataset)):
        x, y = dl.after_item(dl.dataset[i])
        out[key(torch.as_tensor(x).as_subclass(torch.Tensor))] = int(y)
    return out

@pytest.fixture(scope='session')
def digits():
    "320 real digits at 32 px, batches of 32 (8 training batches): with `tiny_cnn` the CAMs are 4 x 4 maps upsampled"
    from proxy_attention.data import digits_dls
    return digits_dls(size=32, bs=32, n=320, num_workers=0)

@pytest.fixture(scope='session')
def digits_originals(digits): return originals(digits, 0), originals(digits, 1)

@pytest.fixture(scope='session')
def digits64():
    "ResNet-18 needs 64 px for a 2 x 2 map"
    from proxy_attention.data import digits_dls
    return digits_dls(size=64, bs=32, n=192, num_workers=0)

def console_script(name='proxy-attention'):
    "The code of the console script `name` as settings.ini declares it (`name=module:function`): what pip writes, exit status = its value"
    import configparser
    from pathlib import Path
    cfg = configparser.ConfigParser(); cfg.read(Path(__file__).parents[1]/'settings.ini')
    target = dict(e.split('=') for e in cfg['DEFAULT']['console_scripts'].split())[name]
    mod, fn = target.split(':')
    return f'import sys\nfrom {mod} import {fn}\nsys.exit({fn}())\n'
