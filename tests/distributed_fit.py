"""Run by tests/test_distributed.py under `torch.distributed.run --nproc_per_node 2`: a fastai fit with
ProxyAttention inside `learn.distrib_ctx()` on CPU processes (gloo). Each rank writes what it saw to a JSON file."""
import json, os, sys, warnings
warnings.filterwarnings('ignore')
import torch
from fastai.vision.all import vision_learner, resnet18, accuracy, set_seed
from fastai.distributed import *
from proxy_attention.callback import ProxyAttention
from proxy_attention.data import digits_dls

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
learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
cb = ProxyAttention(schedule=['p', 'p', 1], subset=0.5 if rank == 0 else 0.0, seed=rank, verbose=False)
with learn.distrib_ctx(sync_bn=False, cpu=True):
    import torch.distributed as dist
    world = dist.get_world_size() if dist.is_initialized() else 1
    with learn.no_bar(): learn.fit(3, 1e-3, cbs=cb)
hooks = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in learn.model.modules())
json.dump(dict(rank=rank, world=world, history=cb.history, seen=cb.seen, local_pool=0 if cb.pool_x is None else len(cb.pool_x),
               hooks=hooks, n_train_batches=len(learn.dls.train)), open(f"{out}/rank{rank}.json", 'w'))
