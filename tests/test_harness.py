"""The proven-pairs harness: arms forked from their baseline equal the same arms trained whole, every row carries its
environment and complete settings, pairs are checked, verdicts corrected, resumes never mix or duplicate, processes
share a folder, the random-map control is not the treatment, and every seed gets its own split.

Each test here was checked against a one-line breakage of the line it guards (see the comment above it)."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
import proxy_attention.experiments as E
from proxy_attention.experiments import (compare, sweep, read_results, pair_check, summarize, arm_callbacks, drift_note,
                                         RESULT_COLS)
from proxy_attention.training import train_arm, first_fed_epoch, ENV_COLS
from proxy_attention.callback import ProxyAttention
from proxy_attention.cams import compute_cams, find_target_layer
from proxy_attention.pixels import PixelSpace
from conftest import tiny_learner, quiet_fit

ROOT = Path(__file__).parents[1]
# 64 px: ResNet-18's last feature map is 2 x 2, so its CAMs are not flat
SMALL = dict(data='digits', epochs=3, size=64, bs=32, n=160, num_workers=0, show=False)
FORKABLE = dict(schedule='p,p,1', subset=0.5)   # proxy steps after epochs 1 and 2: the thesis's feeding trains in epoch 2

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "One small comparison with forks: baseline, proxy (the thesis's feeding), random maps, MixUp; 2 seeds; one thread"
    out = tmp_path_factory.mktemp('harness')
    df = compare(arms=('baseline', 'proxy', 'randomcam', 'mixup'), seeds=2, out=out, settings=FORKABLE, threads=1,
                 explain=('baseline', 'proxy'), n_explain=8, **SMALL)
    return out, df

# breakage: `for n in names: self.save(...)` in ForkPoints saving the state of the epoch after (`epoch == self.epoch`),
# or ResumeFit not restoring the generators: the forked rows differ from the whole ones
def _values(learn): return [[float(x) for x in v] for v in learn.recorder.values]

@pytest.mark.parametrize('settings', [dict(), dict(feed='every_epoch'), dict(source='all'), dict(method='randomcam'),
                                      dict(place='random')], ids=['thesis-feed', 'every-epoch', 'all', 'randomcam', 'randomplace'])
def test_a_forked_arm_equals_the_arm_trained_whole(digits64, settings):
    "Bit for bit, every epoch: losses, accuracy, the proxy steps' records, the images fed and the final weights"
    E_, mk = 4, lambda: [ProxyAttention(schedule=['p', 1, 'p', 1], subset=0.5, seed=0, verbose=False, **settings)]
    k = first_fed_epoch(mk(), E_)
    assert 0 < k < E_
    whole_cb = mk()[0]
    whole, _ = train_arm(digits64, epochs=E_, seed=0, cbs=whole_cb, show=False)
    base, _ = train_arm(digits64, epochs=E_, seed=0, show=False, forks={'arm': (mk(), k)})
    fork_cb = mk()[0]
    forked, _ = train_arm(digits64, epochs=E_, seed=0, cbs=fork_cb, show=False, resume=base.fork_states['arm'])
    assert _values(forked) == _values(whole)
    assert fork_cb.history and [{k: v for k, v in h.items() if k != 'seconds'} for h in fork_cb.history] == \
           [{k: v for k, v in h.items() if k != 'seconds'} for h in whole_cb.history]
    assert fork_cb.seen == whole_cb.seen and sum(fork_cb.seen) > 0
    assert all(torch.equal(a, b) for a, b in zip(forked.model.state_dict().values(), whole.model.state_dict().values()))

# breakage: a `Shadow` that forwards `before_batch` after its epoch (feeding the baseline), or a CAM pass that changes
# the model: the baseline with arms riding along is no longer the plain baseline
def test_riding_along_leaves_the_baseline_as_it_is(digits64):
    mk = lambda **s: [ProxyAttention(schedule=['p', 1, 'p', 1], subset=0.5, seed=0, verbose=False, **s)]
    plain, _ = train_arm(digits64, epochs=4, seed=0, show=False)
    ridden, _ = train_arm(digits64, epochs=4, seed=0, show=False,
                          forks={'a': (mk(), 2), 'b': (mk(feed='every_epoch'), 1), 'c': (mk(method='randomcam'), 2)})
    assert _values(ridden) == _values(plain) and set(ridden.fork_states) == {'a', 'b', 'c'}
    assert all(torch.equal(a, b) for a, b in zip(ridden.model.state_dict().values(), plain.model.state_dict().values()))

def test_first_fed_epoch():
    cb = lambda **s: [ProxyAttention(schedule=[1, 'p', 2, 'p', 1], **s)]
    assert first_fed_epoch(cb(), 6) == 4 and first_fed_epoch(cb(feed='every_epoch'), 6) == 2
    assert first_fed_epoch([ProxyAttention(schedule=[1, 'p', 1])], 3) == 3    # one step, the thesis's feeding: never
    assert first_fed_epoch([], 6) == 6 and first_fed_epoch(arm_callbacks('mixup'), 6) == 0
    assert first_fed_epoch(cb(subset=0), 6) == 6   # keeps none of its mistakes: never a proxy image

# breakage: `with run_environment(threads) as env` replaced by `env = environment()` (the thread count not set), or
# `**(env or {})` dropped from the rows
def test_rows_carry_environment_settings_and_fork(run):
    out, df = run
    assert set(RESULT_COLS) <= set(df.columns) and df[list(ENV_COLS)].notna().all().all()
    assert (df['threads'] == 1).all() and df['deterministic'].str.contains('algorithms=True').all()
    assert df['torch'].eq(torch.__version__).all()
    fork = df.groupby('arm')['fork'].first()
    assert fork['baseline'] == 0 and fork['mixup'] == 0 and fork['proxy'] == 1 and fork['randomcam'] == 1
    s = json.loads(df.loc[df['arm'] == 'proxy', 'callback_settings'].iloc[0])[0]
    # complete: the defaults of the day are written out, not left to a repr that omits them
    assert s['callback'] == 'ProxyAttention' and s['threshold'] == 0.85 and s['feed'] == 'proxy_epochs' and s['seed'] == 0
    assert json.loads(df.loc[df['arm'] == 'mixup', 'callback_settings'].iloc[0]) == [dict(callback='MixUp', alpha=0.4)]
    fed = df[df['arm'] == 'proxy'].sort_values(['seed', 'epoch'])['fed_images'].tolist()
    assert fed[0] == 0 and fed[1] > 0
    assert not (out/'.forks').exists() and not (out/'.claims').exists()   # kept only while needed

# breakage: `save_weights` given another model than the final one (say, a fresh `make_learner` of the seed)
def test_recorded_weights_are_the_final_model(run):
    out, df = run
    from proxy_attention.training import make_learner
    from proxy_attention.data import get_dls
    row = df[(df['arm'] == 'proxy') & (df['seed'] == 1)].iloc[-1]
    dls = get_dls('digits', size=64, bs=32, seed=1, n=160, num_workers=0)
    learn = E.load_weights(make_learner(dls, 'resnet18', False, 1), out, row['weights'])
    assert learn is not None
    _, acc = learn.validate()
    assert acc == pytest.approx(row['accuracy'], abs=1e-6)
    ex = pd.read_csv(out/'explain.csv')
    assert set(ex['weights']) <= set(df['weights']) and len(ex) == 4

# breakage: `_first_treated` using the first epoch with proxy images made (not fed), or the comparison of rows in
# `pair_check` skipped
def test_pair_check_passes_forks_and_names_drift(run):
    out, df = run
    pc = pair_check(df)
    assert set(pc['arm']) == {'proxy', 'randomcam'} and (pc['status'] == 'paired').all()
    assert set(pc['first_treated']) == {1}
    drifted = df.copy()
    sel = (drifted['arm'] == 'randomcam') & (drifted['seed'] == 1) & (drifted['epoch'] == 0)
    drifted.loc[sel, 'valid_loss'] += 1e-7   # one epoch before treatment, one loss a hair off
    pc = pair_check(drifted)
    assert pc.set_index(['arm', 'seed']).loc[('randomcam', 1), 'status'] == 'drifted'
    assert pc.set_index(['arm', 'seed']).loc[('randomcam', 1), 'drift_epoch'] == 0
    assert drift_note(pc).startswith('1 of 4 pairs drifted before treatment: seeds 1 (randomcam schedule=p,p,1 subset=0.5 seed 1 (epoch 1))')
    s = summarize(drifted).set_index('arm')
    assert s.loc['randomcam', 'n_paired'] == 1 and s.loc['randomcam', 'drifted'] == '1' and s.loc['proxy', 'n_paired'] == 2
    # a treated epoch may differ: that is the treatment
    treated = df.copy(); treated.loc[(treated['arm'] == 'proxy') & (treated['epoch'] == 1), 'accuracy'] += 0.1
    assert (pair_check(treated)['status'] == 'paired').all()

def test_rerun_drifted_trains_the_seeds_pairs_again(run, tmp_path, monkeypatch):
    out, _ = run
    work = tmp_path/'w'; work.mkdir()
    df = read_results(out/'results.csv')
    sel = (df['arm'] == 'randomcam') & (df['seed'] == 1) & (df['epoch'] == 0)
    df.loc[sel, 'accuracy'] -= 0.01
    df.to_csv(work/'results.csv', index=False)
    calls = []
    real = E._fit_run
    def spy(dls, cfg, arm, param, setting, seed, *a, **kw):
        calls.append((arm, seed)); return real(dls, cfg, arm, param, setting, seed, *a, **kw)
    monkeypatch.setattr(E, '_fit_run', spy)
    res = compare(arms=('baseline', 'proxy', 'randomcam', 'mixup'), seeds=2, out=work, settings=FORKABLE, threads=1,
                  rerun_drifted=True, **SMALL)
    # seed 1's baseline and proxy-pipeline runs again (their pairs must come from one fit); MixUp and seed 0 kept
    assert sorted(calls) == [('baseline', 1), ('proxy', 1), ('randomcam', 1)]
    assert (pair_check(res)['status'] == 'paired').all() and len(res) == 4 * 2 * 3

# breakage: `holm(res['p'])` replaced by the raw p-values, or the unequal-seed check removed
def test_summary_refuses_unequal_seeds_and_corrects_for_many_verdicts():
    rows = []
    for arm, shift in [('baseline', 0), ('a', 0.012), ('b', 0.011), ('c', 0.0)]:
        for seed, base in enumerate([0.80, 0.85, 0.82, 0.90, 0.78]):
            rows.append(dict(data='d', arch='r', epochs=1, size=32, bs=8, lr=0.1, pretrained=False, data_options='none',
                             arm=arm, param='none', setting='default', seed=seed, epoch=0,
                             accuracy=base + shift + (0.004 if seed % 2 else -0.004) * (arm != 'baseline')))
    df = pd.DataFrame(rows)
    s = summarize(df).set_index('arm')
    assert s.loc['a', 'p'] < 0.05 and s.loc['a', 'p_holm'] == pytest.approx(min(1, 3 * s.loc['a', 'p']))
    assert s.loc['a', 'verdict'].startswith('a helps') and s.loc['c', 'verdict'].startswith('within noise')
    with pytest.raises(ValueError, match='different seeds .*a: 0, 1, 2, 3;'):
        summarize(df.drop(df[(df['arm'] == 'a') & (df['seed'] == 4)].index))
    s = summarize(df.drop(df[(df['arm'] == 'a') & (df['seed'] == 4)].index), unequal_seeds=True).set_index('arm')
    assert s.loc['a', 'n_paired'] == 4

# breakage: `_check_resume` not called: the finished run of other settings is taken for the one asked
def test_resume_refuses_other_settings_before_any_work(run, monkeypatch):
    out, _ = run
    monkeypatch.setattr(E, 'get_dls', lambda *a, **k: pytest.fail('work started'))
    with pytest.raises(ValueError, match=r"proxy schedule=p,p,1 subset=0.5 seed 0 made with other settings .*"
                                         r"weight: 0.1 -> 0.3"):
        compare(arms=('baseline', 'proxy'), seeds=2, out=out, settings=FORKABLE, defaults=dict(weight=0.3), **SMALL)

# breakage: `_key` built without `param`/`setting` (resume takes the finished run of another value for the one asked)
def test_resume_never_takes_another_settings_run(run, monkeypatch):
    out, _ = run
    asked = []
    monkeypatch.setattr(E, '_run_group', lambda seed, items, *a, **k: asked.extend(it[:3] for it in items))
    sweep('threshold', [0.5, 0.85], seeds=[0], out=out, settings=FORKABLE, **SMALL)
    # 0.85 (the default) is the recorded proxy run; 0.5 is not, though the baseline and the other settings are the same
    assert asked == [('proxy', 'schedule;subset;threshold', 'p,p,1;0.5;0.5')]

# breakage: `get_dls(data, size=size, bs=bs, seed=0, ...)` in `_run_group`: every seed the same split
def test_every_seed_gets_its_own_split(tmp_path, monkeypatch):
    out = tmp_path
    from proxy_attention.data import get_dls
    a, b = (get_dls('digits', size=64, bs=32, seed=s, n=160, num_workers=0) for s in (0, 1))
    assert [str(x) for x in a.valid.items[:20]] != [str(x) for x in b.valid.items[:20]]
    class Seen(Exception): pass
    seen = []
    def spy(data, seed, **k): seen.append(seed); raise Seen
    monkeypatch.setattr(E, 'get_dls', spy)
    with pytest.raises(Seen): compare(arms=('baseline',), seeds=[5], out=out, **SMALL)
    assert seen == [5]

# breakage: `PROXY_ARMS['randomcam'] = dict(method='gradcam++')`, or the `randomcam` method computing the real map
def test_random_map_control_is_not_the_treatment(digits):
    maps = {}
    for arm in ('proxy', 'randomcam'):
        cb = arm_callbacks(arm, seed=0, schedule=[1, 'p'], subset=1.0, feed='every_epoch')[0]
        learn = tiny_learner(digits, seed=0)
        quiet_fit(learn, 2, cbs=cb)
        px = cb.preview['images']
        x = PixelSpace(digits).encode(px.float() / 255)
        real, _ = compute_cams(learn.model, x, 'gradcam++', layer=find_target_layer(learn.model, x[:1]))
        maps[arm] = (cb.preview['cams'], real)
    ok, real = maps['proxy']
    assert torch.allclose(ok, real, atol=1e-4)          # the treatment's maps are the model's Grad-CAM++
    rnd, real = maps['randomcam']
    assert (rnd - real).abs().mean() > 0.1                # the control's are not
    corr = np.corrcoef(rnd.flatten().numpy(), real.flatten().numpy())[0, 1]
    assert abs(corr) < 0.5

def _compare_process(out:Path, seeds='0,1', extra=''):
    code = (f"from proxy_attention.experiments import compare\n"
            f"compare(arms=('baseline', 'proxy'), seeds=[{seeds}], out={str(out)!r}, settings={FORKABLE!r}, threads=1, "
            f"**{SMALL!r}){extra}")
    return subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})

def _wait_for(pred, proc, timeout=600):
    t = time.time()
    while not pred():
        if proc.poll() is not None: pytest.fail(f"the process ended early: {proc.stdout.read()[-2000:]}")
        if time.time() - t > timeout: proc.kill(); pytest.fail('timed out')
        time.sleep(0.2)

def _runs(out): return read_results(out/'results.csv').groupby(['arm', 'seed']).size()

# breakage: `unfinished_runs`/`drop_rows` not called at the start of `_run_plan`, or `claim_group` not treating a dead
# process's claim as stale: the killed compare's seed is never trained again, or is trained twice
def test_a_killed_compare_resumes_without_duplicates(tmp_path):
    out = tmp_path/'r'
    p = _compare_process(out)
    # killed while seed 0's proxy run trains from its fork (the baseline's rows are in, the fork's state on disk)
    _wait_for(lambda: (out/'results.csv').exists() and len(read_results(out/'results.csv')) >= 3, p)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert (out/'.claims').exists() and any((out/'.claims').iterdir())   # its claim is left behind, stale
    with open(out/'results.csv', 'a') as f: f.write('digits,resnet18,3,64')   # and a write cut off mid-row
    df = compare(arms=('baseline', 'proxy'), seeds=[0, 1], out=out, settings=FORKABLE, threads=1, **SMALL)
    n = _runs(out)
    assert (n == 3).all() and len(n) == 4 and len(df) == 12
    assert (pair_check(df)['status'] == 'paired').all()

# breakage: `claim_group` always returning a path (no claims): both processes train seed 0, rows are duplicated
def test_two_processes_fill_one_folder(tmp_path):
    out = tmp_path/'r'
    procs = [_compare_process(out), _compare_process(out)]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    n = _runs(out)
    assert (n == 3).all() and len(n) == 4, n
    assert (pair_check(read_results(out/'results.csv'))['status'] == 'paired').all()

# breakage: `if gone := unfinished_runs(csv):` in `_run_plan` disabled: the cut-off run is taken as not begun and its
# first rows stay beside the new ones (duplicated), or it is never finished
def test_a_run_cut_off_is_trained_again_whole(run, tmp_path):
    out, _ = run
    df = read_results(out/'results.csv')
    cut = (df['arm'] == 'proxy') & (df['seed'] == 1) & (df['epoch'] > 0)   # only its first row was written
    df[~cut].to_csv(tmp_path/'results.csv', index=False)
    res = compare(arms=('baseline', 'proxy', 'randomcam', 'mixup'), seeds=2, out=tmp_path, settings=FORKABLE, threads=1,
                  **SMALL)
    n = read_results(tmp_path/'results.csv').groupby(['arm', 'seed', 'epoch']).size()
    assert (n == 1).all() and len(n) == 4 * 2 * 3 and len(res) == 24
    assert (pair_check(res)['status'] == 'paired').all()
