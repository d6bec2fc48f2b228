"""Run by tests/test_distributed.py under `torch.distributed.run --nproc_per_node 2`: a fastai fit with
ProxyAttention inside `learn.distrib_ctx()` on CPU processes (gloo). Each rank writes what it saw to a JSON file."""
import json, os, sys, warnings
import torch
from fastai.vision.all import Learner, CrossEntropyLossFlat, accuracy, set_seed
from fastai.distributed import *
from proxy_attention.callback import ProxyAttention
from proxy_attention.core import ProxyAttentionWarning
from proxy_attention.data import digits_dls
sys.path.insert(0, os.path.dirname(__file__))
from conftest import tiny_cnn   # 4 x 4 maps at 32 px: the proxy images differ from their originals
warnings.simplefilter('error', ProxyAttentionWarning)   # as in the rest of the suite

# fastai 2.8's DistributedDL broadcasts its indices as CUDA tensors (for nccl); on CPU processes with gloo
# we send them as CPU tensors. This is the only change to fastai's distributed training in this test.
def _broadcast_cpu(self, t, rank):
    t = torch.LongTensor(t)
    torch.distributed.broadcast(t, rank)
    return t.tolist()
DistributedDL._broadcast = _broadcast_cpu

out, rank = sys.argv[1], int(os.environ.get('RANK', 0))
set_seed(0)
# rank 1 keeps none of its mistakes (subset 0): its proxy steps make nothing, and nothing may deadlock
dls = digits_dls(size=32, bs=16, n=160, num_workers=0)
learn = Learner(dls, tiny_cnn(n_out=dls.c), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
cb = ProxyAttention(schedule=['p', 'p', 1], subset=0.5 if rank == 0 else 0.0, seed=rank, verbose=False, threshold=0.5)
with learn.distrib_ctx(sync_bn=False, cpu=True):
    import torch.distributed as dist
    world = dist.get_world_size() if dist.is_initialized() else 1
    with learn.no_bar(): learn.fit(3, 1e-2, cbs=cb)
# fastai's distrib_ctx leaves the process group that accelerate made open: without this, gloo's threads are torn down at
# interpreter exit and a rank can abort ("terminate called without an active exception", seen once in CI)
if dist.is_initialized():
    dist.barrier()
    dist.destroy_process_group()
hooks = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in learn.model.modules())
json.dump(dict(rank=rank, world=world, history=cb.history, seen=cb.seen, local_pool=0 if cb.pool_x is None else len(cb.pool_x),
               hooks=hooks, n_train_batches=len(learn.dls.train),
               changed=0 if cb.preview is None else int((cb.preview['proxies'] != cb.preview['images']).flatten(1).any(1).sum())),
          open(f"{out}/rank{rank}.json", 'w'))
