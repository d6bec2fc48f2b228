"""The rehearsal of the prepared GPU run: `scripts/device_check.sh --cpu --tiny`, the same steps as on the GPU at tiny
sizes, so the script cannot rot between the rare occasions a GPU is at hand. Every step must exit 0 and leave its output;
the GPU tests themselves are skipped without CUDA."""
import csv, os, subprocess, sys
import xml.etree.ElementTree as ET
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT/'scripts'/'device_check.sh'
STEPS = ['install', 'imports', 'gpu_tests', 'bench_fp32', 'bench_bf16', 'compare']

def run(out, *args, timeout=420):
    env = {**os.environ, 'OUT': str(out), 'PYTHON': sys.executable, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}
    return subprocess.run(['bash', str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

@pytest.fixture(scope='module')
def rehearsal(tmp_path_factory):
    if not (ROOT/'.data'/'flowers12').is_dir() and not (ROOT.parent/'shared'/'data'/'flowers12').is_dir():
        pytest.skip('no flowers12: scripts/fetch_wheels.sh copies it to .data/')
    out = tmp_path_factory.mktemp('device_check')
    res = run(out, '--cpu', '--tiny')
    return out, res

def test_every_step_succeeds(rehearsal):
    out, res = rehearsal
    rows = [line.split('\t') for line in (out/'summary.txt').read_text().splitlines()]
    assert [r[0] for r in rows] == STEPS, res.stdout[-3000:] + res.stderr[-3000:]
    failed = {name: rc for name, rc, *_ in rows if rc != '0'}
    assert not failed, '\n'.join(f"{n} exited {rc}:\n{(out/'logs'/f'{n}.log').read_text()[-2000:]}" for n, rc in failed.items())
    assert res.returncode == 0 and all((out/'logs'/f'{n}.log').is_file() for n in STEPS)
    assert int(rows[-1][2]) <= int(rows[-1][3]) and 'gpu: no GPU (CPU)' in (out/'env.txt').read_text()

def test_outputs(rehearsal):
    out, _ = rehearsal
    bench = (out/'results'/'benchmark_gpu.md').read_text()
    for dtype in ('fp32', 'bf16'): assert f'dtype {dtype})' in bench and f'<!-- {dtype}: exit status 0 -->' in bench
    assert '| resnet18 | 32 | gradcam |' in bench
    tests = ET.parse(out/'results'/'gpu_tests.xml').getroot().find('testsuite')
    assert int(tests.get('tests')) >= 8 and tests.get('failures') == tests.get('errors') == '0'   # skipped without CUDA
    rows = list(csv.DictReader(open(out/'results'/'results.csv')))
    # 4 epochs: two proxy steps, so the thesis's feeding trains on proxy images (one step would equal the baseline)
    assert {(r['arm'], r['epoch']) for r in rows} == {(a, str(e)) for a in ('baseline', 'proxy', 'randomcam') for e in range(4)}
    made = {a: sum(int(r['proxy_images']) for r in rows if r['arm'] == a) for a in ('baseline', 'proxy', 'randomcam')}
    assert made['baseline'] == 0 and made['proxy'] > 0 and made['randomcam'] > 0   # the proxy steps ran

def test_bad_option(tmp_path):
    res = run(tmp_path, '--gpu', timeout=60)
    assert res.returncode == 2 and 'unknown option --gpu' in res.stderr
