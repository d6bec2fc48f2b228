"""`tune`: Optuna studies of the proxy-attention settings on real digits (100 at 64 px, ResNet-18: 2 x 2 maps, 4 epochs),
read back from the study's storage — what another machine joining the study would see."""
import os, subprocess, sys, time, pytest
from pathlib import Path
optuna = pytest.importorskip('optuna')
from optuna.trial import TrialState
from conftest import console_script
from proxy_attention import tune as tune_module
from proxy_attention.tune import tune, tune_report, open_storage, suggest_settings, retry_interrupted, SPACE

SMALL = dict(size=64, epochs=4, bs=32, n=100, num_workers=0, show=False)   # 4: the default schedule's two proxy steps
CHEAP = {**SPACE, 'smooth': ('choice', (None,))}   # test-time-augmented maps cost 5 CAM passes: not needed to test the study

CONSOLE = console_script('proxy-attention')   # what pip's console script does: exit with the entry point's value
ENV = {**os.environ, 'PYTHONPATH': str(Path(__file__).parents[1])}

def console(tmp_path, *argv, timeout=600):
    (tmp_path/'proxy-attention').write_text(CONSOLE)
    return subprocess.run([sys.executable, str(tmp_path/'proxy-attention'), *argv], capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=ENV)

def states(study): return [t.state for t in study.trials]

def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path}/tune.db"
    study = tune('digits', trials=4, workers=2, storage=storage, study_name='shared', space=CHEAP, **SMALL)
    again = optuna.load_study(study_name='shared', storage=open_storage(storage))   # what the storage holds
    assert states(again) == [TrialState.COMPLETE] * 4
    assert len({t.user_attrs['worker'] for t in again.trials}) == 2   # both processes finished trials
    assert len({tuple(sorted(t.params.items())) for t in again.trials}) == 4   # and did not draw the same settings

def test_a_bad_trial_fails_and_the_study_goes_on(tmp_path):
    storage = f"sqlite:///{tmp_path}/tune.db"
    optuna.create_study(study_name='s', storage=open_storage(storage), direction='maximize').enqueue_trial(dict(subset=1.5))
    study = tune('digits', trials=2, storage=storage, study_name='s', space=CHEAP, **SMALL)
    assert states(study) == [TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[0].intermediate_values == {}   # it failed before training

def test_a_hopeless_trial_is_pruned_after_its_first_epoch(tmp_path):
    storage = f"{tmp_path}/tune.journal"   # Optuna's journal file, for a shared file system
    hopeless = optuna.pruners.ThresholdPruner(lower=1.01)   # no accuracy reaches 1.01: every trial is hopeless by construction
    study = tune('digits', trials=2, storage=storage, study_name='p', space=CHEAP, pruner=hopeless, **SMALL)
    assert states(study) == [TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [0] for t in study.trials)   # stopped after epoch 0, not trained on

def test_default_pruner_stops_a_trial_worse_than_the_median(tmp_path):
    storage = f"sqlite:///{tmp_path}/tune.db"
    base = optuna.create_study(study_name='m', storage=open_storage(storage), direction='maximize')
    good = dict(threshold=0.85, weight=0.1, subset=0.2, replacement='blend', method='gradcam++', smooth=None, source='wrong', schedule='default')
    base.enqueue_trial(good)
    (t0,) = tune('digits', trials=1, storage=storage, study_name='m', space=CHEAP, **SMALL).trials
    # the same settings and seed train the same values: three copies of that trial complete the pruner's four start-up trials
    for _ in range(3):
        base.add_trial(optuna.trial.create_trial(params=t0.params, distributions=t0.distributions, value=t0.value,
                                                 intermediate_values=t0.intermediate_values))
    # a trial that darkens every pixel of every training image it can, from the first proxy epoch on: worse than the median of 4 good ones
    base.enqueue_trial(dict(threshold=0.3, weight=1.0, subset=1.0, replacement='zero', method='gradcam', smooth=None, source='all', schedule='once'))
    study = tune('digits', trials=5, storage=storage, study_name='m', space=CHEAP, **SMALL)
    assert states(study)[:4] == [TrialState.COMPLETE] * 4
    last = study.trials[4]
    median = sorted(t.intermediate_values[3] for t in study.trials[:4])[1:3]
    assert last.state == TrialState.PRUNED or last.value >= sum(median) / 2   # pruned exactly when it fell below the median

def test_a_killed_workers_trial_runs_again_and_does_not_count(tmp_path, monkeypatch):
    "A worker killed mid-trial leaves a running trial whose heartbeats stop: the next run fails it and reruns its settings"
    monkeypatch.setitem(tune_module.HEARTBEAT, 'grace', 1)
    storage = f"sqlite:///{tmp_path}/tune.db"
    study = optuna.create_study(study_name='k', storage=open_storage(storage), direction='maximize')
    with pytest.warns(UserWarning, match='Heartbeat'):   # Optuna: heartbeats are meant for `optimize`; a worker's, here by hand
        dead = study.ask()   # what a killed worker leaves: a running trial, its settings drawn, one heartbeat long ago
    suggest_settings(dead, SMALL['epochs'], CHEAP)
    study._storage.record_heartbeat(dead._trial_id)
    time.sleep(2)
    study = tune('digits', trials=1, storage=storage, study_name='k', space=CHEAP, **SMALL)
    assert states(study) == [TrialState.FAIL, TrialState.COMPLETE]   # one trial asked for: the killed one did not count
    assert study.trials[1].user_attrs['retry_of'] == 0 and study.trials[1].params == dead.params
    retry_interrupted(study, study.trials[0])   # a second worker that failed the same trial: queued once, not twice
    assert len(study.trials) == 2

def test_tune_shows_a_servers_url_without_its_password(monkeypatch, capsys):
    "What `tune` prints and raises about a database server's URL has its password as ***: logs are often readable by all"
    mem = optuna.storages.InMemoryStorage()
    monkeypatch.setattr(tune_module, 'open_storage', lambda storage: mem)   # the server's stand-in
    url = 'postgresql://pa:s3cret@db.lab:5432/studies'
    optuna.create_study(study_name='done', storage=mem).add_trial(optuna.trial.create_trial(value=0.5))
    tune('digits', trials=1, storage=url, study_name='done', space=CHEAP, **{**SMALL, 'show': True})   # nothing to run
    assert capsys.readouterr().out == "study 'done' in postgresql://pa:***@db.lab:5432/studies: 1 of 1 trials there, 0 to run\n"
    with pytest.raises(ValueError, match=r"'done' in postgresql://pa:\*\*\*@db.lab:5432/studies was made for another") as e:
        tune('digits', trials=1, storage=url, study_name='done', space=CHEAP, **{**SMALL, 'epochs': 5})
    assert 's3cret' not in str(e.value)

@pytest.fixture(scope='module')
def resumed(tmp_path_factory):
    "A study of 2 trials, run again with 2 (nothing to do), then with 3 (one more): the report test reads it too"
    storage = f"sqlite:///{tmp_path_factory.mktemp('resumed')}/tune.db"
    first = tune('digits', trials=2, storage=storage, study_name='r', space=CHEAP, **SMALL)
    params = [t.params for t in first.trials]
    again = tune('digits', trials=2, storage=storage, study_name='r', space=CHEAP, **SMALL).trials   # read now
    more = tune('digits', trials=3, storage=storage, study_name='r', space=CHEAP, **SMALL)
    return storage, params, again, more

def test_a_resumed_study_does_not_repeat_finished_trials(resumed):
    storage, params, again, more = resumed
    assert [t.params for t in again] == params and [t.state for t in again] == [TrialState.COMPLETE] * 2
    assert [t.params for t in more.trials][:2] == params and len(more.trials) == 3
    with pytest.raises(ValueError, match=r"made for another configuration \(epochs: 4 there, 5 here\)"):
        tune('digits', trials=3, storage=storage, study_name='r', space=CHEAP, **{**SMALL, 'epochs': 5})

def test_a_continued_study_draws_new_settings(resumed):
    "A process that continues a study (or joins it from another machine) must not draw the first trials' settings again"
    storage, params, again, more = resumed
    assert more.trials[2].params not in params

def test_report_writes_trials_best_settings_and_plots(resumed, tmp_path):
    study = resumed[-1]
    paths = tune_report(study, tmp_path/'out', show=False)
    assert sorted(paths) == ['best', 'history', 'importance', 'trials']
    best = paths['best'].read_text().splitlines()[0]
    assert best == study.best_trial.user_attrs['callback'] and best.startswith('ProxyAttention(')
    import pandas as pd
    assert len(pd.read_csv(paths['trials'])) == 3 and all(paths[k].stat().st_size > 1000 for k in ('history', 'importance'))

def test_cli_tune_in_a_log_file(tmp_path):
    out = console(tmp_path, 'tune', '--trials', '2', '--epochs', '3', '--size', '64', '--bs', '32', '--n', '100',
                  '--storage', f"sqlite:///{tmp_path}/t.db", '--out', str(tmp_path/'out'))
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    epochs = [l for l in lines if ' epoch ' in l and ' left ' in l]   # a line per epoch when stdout is not a terminal
    assert [l.split()[0] for l in epochs] == ['[1/2]'] * 3 + ['[2/2]'] * 3   # trial k of the two
    assert sum(l.startswith('trial ') for l in lines) == 2 and any(l.startswith('best: trial ') for l in lines)
    assert (tmp_path/'out'/'best.txt').read_text().startswith('ProxyAttention(')

# the command line's errors for `tune` are in tests/test_cli.py's BAD (one process checks them all)

def test_a_trial_trains_through_train_arm_as_compare_does(monkeypatch):
    "The objective's fit is `train_arm`'s (the weights, batch order and schedule of an arm of `compare`), and its pruning report a fastai `TrackerCallback`"
    from fastai.callback.tracker import TrackerCallback
    calls, real = [], tune_module.train_arm
    monkeypatch.setattr(tune_module, 'train_arm', lambda *a, **k: calls.append(a) or real(*a, **k))
    obj = tune_module.TuneObjective('digits', size=32, epochs=1, bs=32, seed=3, dls_kwargs=dict(n=96, num_workers=0))
    learn = obj.fit([])
    assert len(calls) == 1 and calls[0][0] is obj.dls and calls[0][1:5] == ('resnet18', 1, 2e-3, 3)
    assert len(learn.recorder.values) == 1
    assert issubclass(tune_module.OptunaReport, TrackerCallback)
