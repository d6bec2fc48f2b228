"""Proxy steps in TensorBoard and W&B, for real: a fit with `ProxyAttention` and fastai's `TensorBoardCallback`
(events read back with TensorBoard's `EventAccumulator`) or `WandbCallback` in offline mode (the run's files read
back), and the W&B payload checked against a stand-in `wandb` where the package is not installed."""
import glob, io, json, struct, sys, types
import numpy as np, pytest, torch
from PIL import Image
from fastai.vision.all import Callback
import proxy_attention.callback as callback_module
from proxy_attention.callback import ProxyAttention
from proxy_attention.trackers import log_proxy_step, proxy_step_image, proxy_step_caption, PROXY_SCALARS
from conftest import tiny_learner, quiet_fit

# Until `ProxyAttention` calls `log_proxy_step` itself (its module then imports it), `LogSteps` does what it will do.
CALLBACK_LOGS = hasattr(callback_module, 'log_proxy_step')

class LogSteps(Callback):
    "After `ProxyAttention`'s proxy step: keeps each step's record and preview, and logs them unless the callback does"
    order = ProxyAttention.order + 1
    def __init__(self, cb): self.cb, self.steps = cb, []
    def after_train(self):
        if len(self.cb.history) == len(self.steps): return
        rec = self.cb.history[-1]
        preview = {k: v.clone() for k, v in self.cb.preview.items()} if rec['made'] else None
        self.steps.append((rec, preview))
        if not CALLBACK_LOGS: log_proxy_step(self.learn, rec, preview)

def fit_with(dls, tracker):
    "Three epochs of `tiny_cnn` on digits with two proxy steps (epochs 1 and 2) and `tracker` in the learner"
    learn = tiny_learner(dls)
    cb = ProxyAttention(schedule=[1, 'p', 'p'], verbose=False, seed=0)
    spy = LogSteps(cb)
    quiet_fit(learn, 3, cbs=[cb, spy, tracker])
    assert [r['epoch'] for r, _ in spy.steps] == [1, 2] and all(p is not None for _, p in spy.steps)
    return learn, cb, spy.steps

def png(data: bytes) -> np.ndarray: return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))

def test_tensorboard_events(digits, tmp_path):
    pytest.importorskip('tensorboard')
    from fastai.callback.tensorboard import TensorBoardCallback
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    learn, cb, steps = fit_with(digits, TensorBoardCallback(tmp_path, trace_model=False, log_preds=False))
    ea = EventAccumulator(str(tmp_path), size_guidance={'images': 0, 'scalars': 0, 'tensors': 0}); ea.Reload()
    for k in PROXY_SCALARS:   # one point per proxy step, at its epoch
        events = ea.Scalars(f'proxy/{k}')
        assert [e.step for e in events] == [1, 2]
        np.testing.assert_allclose([e.value for e in events], [r[k] for r in cb.history], rtol=1e-6)
    assert cb.history[1]['pool'] == cb.history[0]['made'] + cb.history[1]['made'] > 0
    images = ea.Images('proxy/preview')
    assert [e.step for e in images] == [1, 2]
    for e, (_, preview) in zip(images, steps):   # PNG is lossless: exactly the grid of that step's preview
        np.testing.assert_array_equal(png(e.encoded_image_string), proxy_step_image(preview))
    texts = ea.Tensors('proxy/preview/text_summary')
    assert [t.tensor_proto.string_val[0].decode() for t in texts] == [proxy_step_caption(p, vocab=learn.dls.vocab) for _, p in steps]
    assert 'train_loss' in ea.Tags()['scalars']   # fastai's own logging is untouched

def wandb_history(run_file) -> list:
    "The history rows of an offline W&B run: its `.wandb` file is a LevelDB-style log (32 KiB blocks of CRC, length, type records) of `Record` protobufs"
    from wandb.proto import wandb_internal_pb2 as pb
    data, rows, buf, pos = open(run_file, 'rb').read(), [], b'', 7   # 7 bytes of header: ':W&B', magic, version
    assert data[:4] == b':W&B'
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7: pos += left; continue   # a block's tail too short for a header is padding
        _, n, kind = struct.unpack('<IHB', data[pos:pos+7]); pos += 7
        if n == 0 and kind == 0: pos += left - 7; continue
        buf, pos = buf + data[pos:pos+n], pos + n
        if kind in (1, 4):   # a full record, or the last piece of one
            rec = pb.Record(); rec.ParseFromString(buf); buf = b''
            if rec.WhichOneof('record_type') == 'history':
                rows.append({(i.key or '/'.join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
    return rows

def test_wandb_offline(digits, tmp_path, monkeypatch):
    wandb = pytest.importorskip('wandb')
    from fastai.callback.wandb import WandbCallback
    for k, v in dict(WANDB_MODE='offline', WANDB_SILENT='true', WANDB_DIR=tmp_path, WANDB_CONFIG_DIR=tmp_path/'config',
                     WANDB_CACHE_DIR=tmp_path/'cache', WANDB_DATA_DIR=tmp_path/'data').items(): monkeypatch.setenv(k, str(v))
    wandb.init(project='proxy-attention-test', dir=tmp_path, settings=wandb.Settings(console='off', x_disable_stats=True))
    try: learn, cb, steps = fit_with(digits, WandbCallback(log_preds=False))
    finally: wandb.finish(); wandb.teardown()   # teardown waits for the service to close the run file
    rows = [r for r in wandb_history(glob.glob(f'{tmp_path}/wandb/offline-run-*/run-*.wandb')[0]) if 'proxy/made' in r]
    n_iter = len(learn.dls.train)
    assert [r['_step'] for r in rows] == [n_iter * (e + 1) - 1 for e in (1, 2)]   # the step of the epoch's last training batch
    for row, rec in zip(rows, cb.history):
        assert row['proxy/epoch'] == rec['epoch'] and all(row[f'proxy/{k}'] == pytest.approx(rec[k]) for k in PROXY_SCALARS)
    for row, (_, preview) in zip(rows, steps):
        assert row['proxy/preview/caption'] == proxy_step_caption(preview, vocab=learn.dls.vocab)
        logged = glob.glob(f"{tmp_path}/wandb/offline-run-*/files/{row['proxy/preview/path']}")[0]
        np.testing.assert_array_equal(png(open(logged, 'rb').read()), proxy_step_image(preview))

def test_wandb_payload_without_wandb(monkeypatch):
    "What reaches `wandb.log`, with a stand-in for fastai's W&B module: runs where `wandb` is not installed"
    logged = []
    class WandbCallback(Callback): pass
    fake_wandb = types.SimpleNamespace(log=lambda payload, step=None: logged.append((payload, step)),
                                       Image=lambda data, caption=None: ('image', data.shape, caption))
    monkeypatch.setitem(sys.modules, 'fastai.callback.wandb', types.SimpleNamespace(WandbCallback=WandbCallback, wandb=fake_wandb))
    wb = WandbCallback(); wb.run, wb._wandb_step = True, 41
    preview = dict(images=torch.zeros(2, 3, 32, 32, dtype=torch.uint8), cams=torch.rand(2, 32, 32),
                   proxies=torch.zeros(2, 3, 32, 32, dtype=torch.uint8), labels=torch.tensor([3, 4]), preds=torch.tensor([5, 4]))
    learn = types.SimpleNamespace(cbs=[wb], dls=types.SimpleNamespace(vocab=None))
    rec = dict(epoch=4, wrong=30, kept=6, made=6, pool=12, seconds=0.5)
    assert log_proxy_step(learn, rec, preview) == [wb]
    payload, step = logged[0]
    assert step == 41 and payload.pop('proxy/preview') == ('image', (2*96 + 2, 3*96 + 4, 3), 'row 1: true 3, predicted 5; row 2: true 4, predicted 4')
    assert payload == {'proxy/wrong': 30, 'proxy/kept': 6, 'proxy/made': 6, 'proxy/pool': 12, 'proxy/seconds': 0.5, 'proxy/epoch': 4}
    wb.run = False   # e.g. in `lr_find`, or on a rank other than 0
    assert log_proxy_step(learn, rec, preview) == [] and len(logged) == 1
