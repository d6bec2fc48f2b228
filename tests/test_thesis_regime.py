"The thesis-regime script's command line: which seeds and arms reach the runs, and its one-line errors (no training)"
import importlib.util, sys
from pathlib import Path
import pytest
import proxy_attention.experiments as experiments

SCRIPT = Path(__file__).parents[1]/'scripts'/'thesis_regime.py'

@pytest.fixture
def script(monkeypatch, tmp_path):
    "The script as a module whose `compare` and `sweep` record their calls instead of training"
    spec = importlib.util.spec_from_file_location('thesis_regime', SCRIPT)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    calls = []
    monkeypatch.setattr(experiments, 'compare', lambda **k: calls.append(k))
    monkeypatch.setattr(experiments, 'sweep', lambda param, values, **k: calls.append(dict(k, param=param)))
    monkeypatch.setattr(m, 'DATA', tmp_path)   # the shared data's folder exists
    def run(*args):
        monkeypatch.setattr(sys, 'argv', ['thesis_regime.py', *args])
        calls.clear(); m.main(); return list(calls)
    run.module = m
    return run

def test_stage_seeds_by_default(script):
    assert [c['seeds'] for c in script('hyper')] == [3] * 3   # threshold, subset, schedule sweeps: seeds 0-2
    assert [c['seeds'] for c in script('seeds45')] == [[3, 4]]

def test_seeds_reach_every_run_of_every_stage(script):
    calls = script('hyper', 'imagenette', '--seeds', '2')
    assert len(calls) == 4 and all(c['seeds'] == [2] for c in calls)
    assert [c['param'] for c in calls[:3]] == ['threshold', 'subset', 'schedule']

def test_arms_and_seeds_together(script):
    (c,) = script('imagenette', '--arms', 'randomcam', '--seeds', '1')
    assert c['arms'] == ('randomcam',) and c['seeds'] == [1]

@pytest.mark.parametrize('args, says', [
    (['hyper', '--seeds', '-1'], '--seeds: -1 is negative'),
    (['hyper', '--seeds', '1', '1'], '--seeds names a seed twice: 1 1'),
    (['tune', '--seeds', '0'], 'not to tune'),
    (['hyper', '--arms', 'proxy'], '--arms applies to the compare stages'),
])
def test_bad_options_are_one_line_and_exit_2(script, capsys, args, says):
    with pytest.raises(SystemExit) as e: script(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith('thesis_regime.py: error:')

def test_missing_shared_data_is_one_line(script, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(script.module, 'DATA', tmp_path/'absent')
    with pytest.raises(SystemExit) as e: script('flowers')
    assert e.value.code == 2 and capsys.readouterr().err.strip().endswith('see ../shared/data/README.md)')
