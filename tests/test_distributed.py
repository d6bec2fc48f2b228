"ProxyAttention under fastai's distributed training: 2 CPU processes with the gloo backend, end to end"
import json, os, subprocess, sys, pytest
from pathlib import Path

pytest.importorskip('accelerate')

def test_two_process_fit(tmp_path):
    script = Path(__file__).parent/'distributed_fit.py'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MASTER_ADDR': '127.0.0.1'}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', '29533', str(script), str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ranks = [json.loads((tmp_path/f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [r['world'] for r in ranks] == [2, 2]
    h0, h1 = ranks[0]['history'], ranks[1]['history']
    assert len(h0) == len(h1) == 2 and h0 == [{**a, 'seconds': b['seconds']} for a, b in zip(h1, h0)]  # combined: equal on all ranks
    # rank 1 keeps nothing (subset 0): the combined 'made' is rank 0's own pool, and rank 1's pool is empty
    assert ranks[1]['local_pool'] == 0 and h0[-1]['made'] + h0[0]['made'] == ranks[0]['local_pool'] > 0
    assert h0[0]['wrong'] >= h0[0]['made']
    assert ranks[1]['seen'] == [0, 0, 0] and ranks[0]['seen'][1] == h0[0]['made']
    assert all(r['hooks'] == 0 for r in ranks) and ranks[0]['changed'] > 0   # real maps: proxy images differ
