"""The GPU subset, run by `scripts/device_check.sh` where a GPU is lent: fp16 and bf16 fits with the callback, CAMs under
autocast, the pinned pool and its non-blocking copies, `DistributedDL` on one rank (nccl), a ViT proxy step, and no GPU
memory held across a proxy step. Skipped without CUDA.

`PROXY_ATTENTION_TEST_DEVICE=cpu` runs the tests that do not need CUDA itself on the CPU (gloo instead of nccl, no
fp16/bf16 fits): for editing this file on a machine without a GPU."""
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest, torch
from fastai.vision.all import Callback
from proxy_attention.callback import ProxyAttention
from proxy_attention.cams import compute_cams
from proxy_attention.data import digits_dls
from conftest import tiny_cnn, tiny_learner, quiet_fit

DEVICE = os.environ.get('PROXY_ATTENTION_TEST_DEVICE', 'cuda')
pytestmark = pytest.mark.skipif(DEVICE == 'cuda' and not torch.cuda.is_available(), reason='needs a CUDA GPU')
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA itself (pinned memory, GPU memory, mixed precision)')
HISTORY_KEYS = ['epoch', 'wrong', 'kept', 'made', 'pool', 'seconds']

@pytest.fixture(scope='module')
def dls():
    "320 digits at 32 px on the device, 8 training batches of 32: `tiny_cnn`'s CAMs are 4 x 4 maps upsampled"
    return digits_dls(size=32, bs=32, n=320, num_workers=0, device=DEVICE)

def fit(dls, precision=None, cbs=()):
    "Three epochs of `tiny_cnn` with proxy steps after epochs 1 and 2, in `precision` ('fp16', 'bf16' or fp32)"
    learn = tiny_learner(dls)
    if precision == 'fp16': learn.to_fp16()
    if precision == 'bf16': learn.to_bf16()
    cb = ProxyAttention(schedule=[1, 'p', 'p'], verbose=False, seed=0)
    quiet_fit(learn, 3, cbs=[cb, *cbs])
    return learn, cb

def no_hooks(model): return all(not m._forward_hooks and not m._backward_hooks for m in model.modules())

@pytest.fixture(scope='module')
def fp32_fit(dls): return fit(dls)

@needs_cuda
@pytest.mark.parametrize('precision', ['fp16', 'bf16'])
def test_mixed_precision_fit_like_fp32(dls, fp32_fit, precision):
    _, ref = fp32_fit
    learn, cb = fit(dls, precision)
    shape = lambda h: [(r['epoch'], list(r)) for r in h]
    assert shape(cb.history) == shape(ref.history) == [(1, HISTORY_KEYS), (2, HISTORY_KEYS)]
    assert all(r['made'] > 0 for r in cb.history) and cb.history[-1]['pool'] == sum(r['made'] for r in cb.history)
    assert cb.pool_x.dtype == torch.uint8 and cb.pool_x.device.type == 'cpu' and len(cb.pool_x) == cb.history[-1]['pool']
    assert cb.seen[2] == cb.history[0]['made']   # the pool of step 1 was fed into epoch 2
    assert torch.isfinite(torch.tensor(learn.recorder.values[-1])).all()
    assert all(p.dtype == torch.float32 for p in learn.model.parameters()) and no_hooks(learn.model)

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_cams_under_autocast_are_fp32(dtype):
    "CAMs asked for inside an autocast region (a mixed-precision training step) are computed as outside it, in fp32"
    if DEVICE == 'cpu' and dtype == torch.float16: pytest.skip('fp16 autocast is a GPU matter')
    torch.manual_seed(0)
    model = tiny_cnn().to(DEVICE).eval()
    x = torch.randn(16, 3, 32, 32, device=DEVICE)
    ref = compute_cams(model, x, 'gradcam++')
    with torch.autocast(DEVICE, dtype=dtype): got = compute_cams(model, x, 'gradcam++')
    assert got.cams.dtype == torch.float32 and got.cams.device.type == x.device.type
    torch.testing.assert_close(got.cams, ref.cams, atol=1e-4, rtol=0)   # a bf16 pass differs by ~1e-2
    assert torch.equal(got.preds, ref.preds) and float(ref.cams.amax()) > 0

@needs_cuda
def test_pool_pinned_and_fed_by_non_blocking_copies(dls, monkeypatch):
    "The pool lives in CPU memory and goes to the GPU by non-blocking copies from pinned memory"
    copies, inside = [], [False]
    to, inject = torch.Tensor.to, ProxyAttention._inject
    def spy_to(self, *args, **kwargs):
        out = to(self, *args, **kwargs)
        if inside[0] and self.device.type == 'cpu' and out.device.type == 'cuda' and self.dtype == torch.uint8:
            copies.append((self.is_pinned(), kwargs.get('non_blocking', False), len(self)))
        return out
    def spy_inject(self, idx):
        inside[0] = True
        try: return inject(self, idx)
        finally: inside[0] = False
    monkeypatch.setattr(torch.Tensor, 'to', spy_to)
    monkeypatch.setattr(ProxyAttention, '_inject', spy_inject)
    _, cb = fit(dls)
    assert cb.pool_x.device.type == 'cpu' and sum(n for *_, n in copies) == cb.seen[2] == cb.history[0]['made'] > 0   # epoch 2 is fed step 1's pool
    assert all(nb for _, nb, _ in copies), "a copy of pool images to the GPU blocks"
    # a non-blocking copy from pageable memory is a blocking one; indexing a pinned tensor gives an unpinned one
    assert all(pinned for pinned, *_ in copies), f"pool images go to the GPU from pageable memory (the pool itself pinned: {cb.pool_x.is_pinned()})"

class MemoryAround(Callback):
    "GPU memory in use right before and right after `ProxyAttention`'s proxy step (its `after_train`)"
    def __init__(self, log, after): self.log, self.after = log, after
    def after_train(self):
        torch.cuda.synchronize()
        self.log.append((self.epoch, 'after' if self.after else 'before', torch.cuda.memory_allocated()))

@needs_cuda
def test_proxy_step_holds_no_gpu_memory(dls):
    log = []
    before, after = MemoryAround(log, False), MemoryAround(log, True)
    before.order, after.order = ProxyAttention.order - 0.1, ProxyAttention.order + 0.1
    torch.cuda.synchronize(); start = torch.cuda.memory_allocated()
    learn, cb = fit(dls, cbs=[before, after])
    steps = {e: {k: v for e2, k, v in log if e2 == e} for e in (1, 2)}   # epoch 0 makes no proxy step
    held = {e: s['after'] - s['before'] for e, s in steps.items()}
    assert all(r['made'] > 0 for r in cb.history) and all(h <= 2**20 for h in held.values()), f"bytes held on the GPU by the proxy step: {held}"
    assert steps[2]['before'] - steps[1]['before'] <= 2**20, "GPU memory grew from one proxy step to the next"
    print(f"GPU memory: {start} bytes before the fit, held by the proxy steps {held}, peak {torch.cuda.max_memory_allocated()}")

def test_vit_proxy_step():
    "A timm ViT from scratch at 64 px (4 x 4 patches of 16 px): the step finds its target layer, makes proxy images with non-flat CAMs"
    timm = pytest.importorskip('timm')
    dls = digits_dls(size=64, bs=32, n=192, num_workers=0, device=DEVICE)
    learn = tiny_learner(dls)
    learn.model = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=dls.c, img_size=64)
    cb = ProxyAttention(schedule=[1, 'p'], subset=1.0, verbose=False, seed=0, feed='every_epoch')
    quiet_fit(learn, 2, lr=1e-3, cbs=cb)
    rec, cams = cb.history[-1], cb.preview['cams']
    assert rec['epoch'] == 1 and rec['made'] == rec['wrong'] > 0 and len(cb.pool_x) == rec['made']
    assert cams.shape[-2:] == (64, 64) and float(cams.amax()) > 0 and float(cams.flatten(1).std(1).min()) > 0
    assert no_hooks(learn.model)

DISTRIBUTED_FIT = '''
"One rank: DDP over {backend}, every loader a fastai DistributedDL, a fit with ProxyAttention; what it saw to a JSON file"
import json, os, sys, warnings
warnings.filterwarnings('ignore')
sys.path.insert(0, {tests!r})
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from fastai.vision.all import Learner, Callback, CrossEntropyLossFlat
from fastai.distributed import DistributedDL
from conftest import tiny_cnn
from proxy_attention.callback import ProxyAttention
from proxy_attention.data import digits_dls
out, device = sys.argv[1], {device!r}
if device == 'cpu':   # fastai 2.8's DistributedDL broadcasts its indices as CUDA tensors (nccl); on the CPU, as CPU tensors
    def _broadcast_cpu(self, t, rank):
        t = torch.LongTensor(t); dist.broadcast(t, rank); return t.tolist()
    DistributedDL._broadcast = _broadcast_cpu
if device == 'cuda': torch.cuda.set_device(0)
dist.init_process_group({backend!r})   # env:// (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
dls = digits_dls(size=32, bs=32, n=320, num_workers=0, device=device)
dls.loaders = [DistributedDL(dl, rank=0, world_size=1) for dl in dls.loaders]
model = tiny_cnn(3, dls.c).to(device)
learn = Learner(dls, DistributedDataParallel(model, device_ids=[0] if device == 'cuda' else None), loss_func=CrossEntropyLossFlat())
class Loaders(Callback):
    def before_fit(self): self.names = set()
    def before_batch(self): self.names.add(type(self.learn.dl).__name__)
seen = Loaders()
cb = ProxyAttention(schedule=[1, 'p', 'p'], verbose=False, seed=0)
with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-2, cbs=[cb, seen])
hooks = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())
json.dump(dict(world=dist.get_world_size(), history=cb.history, seen=cb.seen, pool=len(cb.pool_x), loaders=sorted(seen.names),
               hooks=hooks), open(out, 'w'))
dist.destroy_process_group()
'''

def test_distributed_dl_one_rank(tmp_path):
    "fastai's DistributedDL on one rank, the model in DDP: the CAM passes run on the unwrapped module, the step records as without DDP"
    backend = 'nccl' if DEVICE == 'cuda' else 'gloo'
    script = tmp_path/'one_rank.py'
    script.write_text(DISTRIBUTED_FIT.format(backend=backend, device=DEVICE, tests=str(Path(__file__).parent)))
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    env = {**os.environ, 'RANK': '0', 'LOCAL_RANK': '0', 'WORLD_SIZE': '1', 'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port),
           'PYTHONWARNINGS': 'ignore'}
    res = subprocess.run([sys.executable, str(script), str(tmp_path/'rank0.json')], env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r = json.loads((tmp_path/'rank0.json').read_text())
    assert r['world'] == 1 and r['loaders'] == ['DistributedDL'] and r['hooks'] == 0
    assert [h['epoch'] for h in r['history']] == [1, 2] and all(h['made'] > 0 for h in r['history'])
    assert r['pool'] == r['history'][-1]['pool'] == sum(h['made'] for h in r['history']) and r['seen'][2] == r['history'][0]['made']
