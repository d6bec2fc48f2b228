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

def test_tune_stage_validates_on_a_held_out_part_of_train(script, monkeypatch):
    import proxy_attention.tune as tune_module
    seen = []
    monkeypatch.setattr(tune_module, 'tune', lambda *a, **k: seen.append(k))
    monkeypatch.setattr(tune_module, 'tune_report', lambda study, out: None)
    script('tune')
    assert seen[0]['holdout'] == 0.2 and seen[0]['size'] == 128 and seen[0]['trials'] == 30   # the test images stay unseen

def test_tune_rerun_waits_for_the_study_then_runs_its_best_trial_over_seeds(script, monkeypatch, tmp_path, capsys):
    optuna = pytest.importorskip('optuna')
    from proxy_attention.tune import open_storage, study_name_of
    m = script.module
    monkeypatch.setattr(m, 'TUNE_DB', f"sqlite:///{tmp_path}/tune.db")
    with pytest.raises(SystemExit) as e: script('tune-rerun')
    assert e.value.code == 2 and 'no study in' in capsys.readouterr().err and not (tmp_path/'tune.db').exists()
    study = optuna.create_study(study_name=study_name_of(dict(m.TUNE, objective='accuracy')), storage=open_storage(m.TUNE_DB),
                                direction='maximize')
    dist = dict(threshold=optuna.distributions.FloatDistribution(0.3, 0.95),
                schedule=optuna.distributions.CategoricalDistribution(['default', 'once']))
    def add(value, threshold, schedule):
        study.add_trial(optuna.trial.create_trial(params=dict(threshold=threshold, schedule=schedule), distributions=dist, value=value))
    with pytest.raises(SystemExit) as e: script('tune-rerun')
    assert e.value.code == 2 and 'the study has finished 0 of its 30 trials' in capsys.readouterr().err
    for _ in range(29): add(0.5, 0.5, 'default')
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING))   # still running: not finished
    with pytest.raises(SystemExit) as e: script('tune-rerun')
    assert e.value.code == 2 and 'the study has finished 29 of its 30 trials' in capsys.readouterr().err
    add(0.9, 0.7, 'once'); add(0.4, 0.6, 'default')   # the best trial is not the last
    with pytest.raises(SystemExit) as e: script('tune-rerun')
    assert e.value.code == 2 and 'was not searched on the held-out fifth of train/' in capsys.readouterr().err
    study.set_user_attr('config', dict(dls_kwargs=dict(num_workers=0, holdout=0.2)))   # as `tune` records it
    (c,) = script('tune-rerun')
    assert c['settings'] == dict(threshold=0.7, schedule=[10, 'p', 9], feed='every_epoch')   # the best trial's
    assert c['arms'] == ('baseline', 'proxy', 'randomcam') and c['seeds'] == 3 and (c['size'], c['epochs']) == (128, 20)
    assert 'holdout' not in c   # judged on the test images

def test_fewer_data_stage_pairs_each_seed_at_both_sizes(script):
    calls = script('fewer')
    assert [(c['seeds'], c['train_fraction']) for c in calls] == [([s], f) for s in range(5) for f in (0.25, 0.5)]
    assert all(c['arms'] == ('baseline', 'proxy', 'randomcam', 'replay') and c['out'] == 'results/flowers12-fewer'
               and c['epochs'] == 30 and c['threads'] == 1 for c in calls)
    assert [c['seeds'] for c in script('fewer', '--seeds', '3,1')] == [[3], [3], [1], [1]]

def test_vit_reference_stage_trains_two_vit_baselines(script):
    (c,) = script('vit-ref')
    assert (c['arch'], c['size'], c['epochs'], c['arms'], c['seeds'], c['threads']) == (
        'vit_tiny_patch16_224', 112, 20, ('baseline',), 2, 1)
    assert c['out'] == 'results/flowers12-vit-ref'

def test_agreement_stage_needs_the_recorded_models_first(script, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)   # no results/flowers12-canonical here
    with pytest.raises(SystemExit) as e: script('agreement')
    assert e.value.code == 2
    assert 'results/flowers12-canonical has no results.csv or models/: run the canonical and vit-ref' in capsys.readouterr().err
