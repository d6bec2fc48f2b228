"Experiments harness: appended CSVs, resume, run identity, arms, CI maths, verdicts, figures only where asked, explain.csv (the CLI: test_cli.py)"
import io, math, os, re, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from scipy import stats
import proxy_attention.experiments as E
from proxy_attention.experiments import (compare, sweep, summarize, format_summary, t_interval, read_results,
                                         finished_runs, plot_compare, plot_sweep, RESULT_COLS, append_rows, arm_callbacks,
                                         compare_plan, sweep_plan, code_commit, check_seeds)

from proxy_attention.core import ProxyAttentionWarning
from proxy_attention.stats import verdict

TINY = dict(data='digits', epochs=1, seeds=2, size=32, bs=32, n=160, num_workers=0, show=False)

def too_short():
    "These tests are about the harness: their 1-epoch proxy arms make no proxy step, and the callback says so"
    return pytest.warns(ProxyAttentionWarning, match='too short for the default schedule')

@pytest.fixture(scope='module')
def first(tmp_path_factory):
    "One tiny comparison (baseline and proxy, 2 seeds, 1 epoch) that the tests below extend"
    out = tmp_path_factory.mktemp('results')
    with too_short(): df = compare(arms=('baseline', 'proxy'), out=out, **TINY)
    return out, df

@pytest.mark.newest_fastai
def test_compare_rows(first):
    out, df = first
    assert len(df) == 2 * 2 * 1 and set(df.columns) == set(RESULT_COLS)
    assert set(df['arm']) == {'baseline', 'proxy'} and sorted(set(df['seed'])) == [0, 1]
    assert df['accuracy'].between(0, 1).all() and (df['seconds'] > 0).all()
    # the same seed means the same split, weights and batch order: only the callback differs
    assert df[df['arm'] == 'proxy']['callback'].str.startswith('ProxyAttention(').all()
    assert (df[df['arm'] == 'baseline']['callback'] == 'none').all()

def test_append_not_overwrite(first, tmp_path):
    out, _ = first
    csv = out/'results.csv'
    before = csv.read_text()
    compare(arms=('mixup',), out=out, **TINY)
    after = csv.read_text()
    assert after.startswith(before) and len(after) > len(before)
    assert after.count('data,arch') == 1   # one header
    df = read_results(csv)
    assert df.groupby('arm').size().to_dict() == {'baseline': 2, 'mixup': 2, 'proxy': 2}

@pytest.mark.newest_fastai
def test_resume_skips_finished(first, monkeypatch):
    out, _ = first
    calls = []
    real = E._fit_run
    def counting(dls, cfg, arm, *args, **kw): calls.append(arm); return real(dls, cfg, arm, *args, **kw)
    monkeypatch.setattr(E, '_fit_run', counting)
    n_before = len(read_results(out/'results.csv'))
    compare(arms=('baseline', 'proxy'), out=out, **TINY)
    assert calls == [] and len(read_results(out/'results.csv')) == n_before
    with too_short(): compare(arms=('baseline', 'proxy'), out=out, **{**TINY, 'seeds': [0, 1, 2]})   # only seed 2 is new
    assert calls == ['baseline', 'proxy']

def test_unfinished_run_is_rerun(tmp_path):
    row = dict(data='digits', arch='resnet18', epochs=3, size=32, bs=32, lr=0.002, pretrained=False, data_options='none',
               arm='baseline', param='none', setting='default', seed=0, train_loss=1., valid_loss=1., accuracy=.5,
               seconds=1., proxy_images=0, callback='none')
    append_rows([dict(row, epoch=0), dict(row, epoch=1)], tmp_path/'results.csv')   # cut off before its last epoch
    assert finished_runs(tmp_path/'results.csv') == set()
    append_rows([dict(row, epoch=2)], tmp_path/'results.csv')
    assert len(finished_runs(tmp_path/'results.csv')) == 1

def test_t_interval_known_numbers():
    m, lo, hi = t_interval([1., 2., 3.])
    half = 4.302652729911275 / math.sqrt(3)        # t(0.975, df=2) * sd / sqrt(n), sd = 1
    assert (m, lo, hi) == pytest.approx((2., 2 - half, 2 + half))
    v = np.array([0.91, 0.93, 0.92, 0.95])
    assert t_interval(v, 0.9)[1:] == pytest.approx(stats.t.interval(0.9, len(v)-1, loc=v.mean(), scale=stats.sem(v)))
    assert math.isnan(t_interval([0.7])[1]) and t_interval([0.7])[0] == 0.7

def _toy(base, proxy):
    return pd.DataFrame([dict(data='d', arch='a', epochs=1, size=32, bs=8, lr=0.1, pretrained=False, data_options='none', arm=arm,
                              param='none', setting='default', seed=s, epoch=0, accuracy=acc)
                         for s, (b, p) in enumerate(zip(base, proxy)) for arm, acc in (('baseline', b), ('proxy', p))])

def test_summarize_paired_ci():
    s = summarize(_toy([0.80, 0.90, 0.70], [0.82, 0.921, 0.722])).set_index('arm')
    d = np.array([0.02, 0.021, 0.022])
    assert s.loc['proxy', 'diff'] == pytest.approx(d.mean())
    assert (s.loc['proxy', 'diff_low'], s.loc['proxy', 'diff_high']) == pytest.approx(t_interval(d)[1:])
    assert s.loc['proxy', 'verdict'].startswith('proxy helps')
    assert s.loc['proxy', 'ci_low'] < s.loc['baseline', 'mean'] < s.loc['proxy', 'ci_high']  # unpaired CIs overlap
    assert summarize(_toy([0.8, 0.9, 0.7], [0.7, 0.8, 0.61])).set_index('arm').loc['proxy', 'verdict'].startswith('proxy hurts')
    assert summarize(_toy([0.8, 0.9, 0.7], [0.81, 0.88, 0.7])).set_index('arm').loc['proxy', 'verdict'].startswith('within noise')
    t = format_summary(summarize(_toy([0.8, 0.9, 0.7], [0.82, 0.921, 0.722])))
    assert t.loc[1, 'vs baseline (paired 95% CI)'].startswith('+0.021 [')

def test_verdict_wording():
    assert verdict(0.001, 0.02) == 'proxy helps: better than the baseline beyond seed noise'
    assert verdict(-0.02, -0.001, 'cutmix') == 'cutmix hurts: worse than the baseline beyond seed noise'
    assert verdict(-0.01, 0.01).startswith('within noise')
    assert verdict(float('nan'), float('nan')).startswith('no verdict')
    assert verdict(0.008, 0.008).startswith('no verdict: +0.008 in every seed')   # zero spread is not certainty

def test_plots_only_where_asked(first, tmp_path):
    out, _ = first
    df = read_results(out/'results.csv')
    before = set(os.listdir(tmp_path)), set(os.listdir(out))
    plot_compare(df); plot_sweep(df, 'threshold')
    assert (set(os.listdir(tmp_path)), set(os.listdir(out))) == before
    plot_compare(df, save=tmp_path/'figs'/'c.png')
    title = plot_compare(df.assign(data='/data/sets/flowers12')).axes[0].get_title()
    assert title.startswith('flowers12, resnet18'), title   # a folder by its name, not its path
    assert os.listdir(tmp_path) == ['figs'] and (tmp_path/'figs'/'c.png').stat().st_size > 1000

def test_sweep(first, monkeypatch):
    out, _ = first
    with pytest.raises(ValueError, match='param'): sweep('lr', [0.1], out=out, **TINY)
    with pytest.raises(ValueError, match='threshold'): sweep('threshold', [1.5], out=out, **TINY)
    calls = []
    real = E._fit_run
    monkeypatch.setattr(E, '_fit_run', lambda dls, cfg, arm, param, setting, *a, **kw: calls.append((arm, param, setting)) or real(dls, cfg, arm, param, setting, *a, **kw))
    with too_short(): df = sweep('threshold', [0.5, 0.85], out=out, **{**TINY, 'seeds': 1})
    assert calls == [('proxy', 'threshold', '0.5')]    # baseline and the default 0.85 come from `compare`'s runs
    s = summarize(df[df['seed'] == 0])
    assert 'threshold' in set(s['param'])

def test_explain_csv_and_no_dataset_writes(tmp_path, monkeypatch):
    out = tmp_path/'out'
    with too_short(): compare(arms=('baseline', 'proxy'), out=out, score=('proxy',), n_explain=8, **{**TINY, 'seeds': 1})
    ex = pd.read_csv(out/'explain.csv')
    assert list(ex['arm']) == ['proxy'] and ex['n_images'].tolist() == [8]
    assert {'road', 'drop_in_confidence', 'increase_in_confidence'} <= set(ex.columns)
    # another map method later: the recorded model's weights are loaded, nothing is trained again, a row per method
    n_rows = len(pd.read_csv(out/'results.csv'))
    grids, real_grid, fits = [], E.compare_grid, []
    monkeypatch.setattr(E, 'compare_grid', lambda *a, **k: grids.append(1) or real_grid(*a, **k))
    monkeypatch.setattr(E, 'train_arm', lambda *a, **k: fits.append(1) or pytest.fail('trained again'))
    compare(arms=('baseline', 'proxy'), out=out, score=('proxy',), n_explain=4, grid=tmp_path/'grid.png',
            explain_methods=('gradcam++', 'layercam', 'xgradcam'), **{**TINY, 'seeds': 1})
    ex = pd.read_csv(out/'explain.csv')
    assert list(ex['method']) == ['gradcam++', 'layercam', 'xgradcam'] and len(pd.read_csv(out/'results.csv')) == n_rows
    assert grids == [1] and (tmp_path/'grid.png').stat().st_size > 1000   # one grid, not one per map method
    res = read_results(out/'results.csv')
    w = res.loc[res['arm'] == 'proxy', 'weights'].iloc[0]
    assert ex['weights'].nunique() == 1 and ex['weights'].iloc[0] == w    # each row names the model it explains
    # the same metrics from the recorded weights as from the model right after its training
    assert ex.loc[ex['method'] == 'gradcam++', 'road'].iloc[0] == pytest.approx(
        pd.read_csv(out/'explain.csv').loc[0, 'road'])
    # a row from before a metric existed is completed from the recorded weights in place (no second row), when the
    # values it has are reproduced; otherwise it is kept as it is, with a warning
    full = pd.read_csv(out/'explain.csv')
    auc = full.loc[0, ['deletion_auc', 'insertion_auc']].astype(float).tolist()
    full.loc[0, ['deletion_auc', 'insertion_auc']] = np.nan; full.to_csv(out/'explain.csv', index=False)
    compare(arms=('baseline', 'proxy'), out=out, score=('proxy',), n_explain=8, **{**TINY, 'seeds': 1})
    again = pd.read_csv(out/'explain.csv')
    assert len(again) == 3 and again.loc[0, 'method'] == 'gradcam++'
    assert again.loc[0, ['deletion_auc', 'insertion_auc']].astype(float).tolist() == pytest.approx(auc, abs=1e-6)
    assert again.drop(columns=['deletion_auc', 'insertion_auc']).equals(full.drop(columns=['deletion_auc', 'insertion_auc']))
    bad = again.copy(); bad.loc[0, ['deletion_auc', 'insertion_auc']] = np.nan; bad.loc[0, 'road'] += 0.01
    bad.to_csv(out/'explain.csv', index=False)
    with pytest.warns(UserWarning, match='other values here'):
        compare(arms=('baseline', 'proxy'), out=out, score=('proxy',), n_explain=8, **{**TINY, 'seeds': 1})
    assert pd.read_csv(out/'explain.csv').equals(pd.read_csv(io.StringIO(bad.to_csv(index=False))))
    # weights that are not the recorded ones (changed, or gone) explain nothing: a model trained again is another model
    (out/w.split()[0]).write_bytes(b'not the recorded weights')
    with pytest.warns(UserWarning, match='no recorded weights'):
        compare(arms=('baseline', 'proxy'), out=out, score=('proxy',), n_explain=4, explain_methods=('gradcam',),
                **{**TINY, 'seeds': 1})
    assert 'gradcam' not in set(pd.read_csv(out/'explain.csv')['method']) and fits == []
    ds = tmp_path/'my_dataset'; ds.mkdir()
    with pytest.raises(ValueError, match='dataset'): compare(str(ds), out=ds/'results', epochs=1, show=False)
    assert list(ds.iterdir()) == []

def test_sweep_explains_its_baseline_and_proxy_runs(monkeypatch):
    monkeypatch.setattr(E, '_run_plan', lambda plan, **kw: kw)   # what `sweep` asks the runner for, nothing trained
    kw = sweep('threshold', [0.5], score=True, n_explain=4, explain_methods=('gradcam++', 'layercam'), **TINY)
    assert (kw['explain'], kw['n_explain'], kw['explain_methods']) == (('baseline', 'proxy'), 4, ('gradcam++', 'layercam'))
    assert sweep('threshold', [0.5], **TINY)['explain'] == ()
    # the old name (`explain` is also the callback's setting: the class a CAM explains) still works, with a warning
    with pytest.warns(FutureWarning, match='is now `score=`'): kw = sweep('threshold', [0.5], explain=True, **TINY)
    assert kw['explain'] == ('baseline', 'proxy') and 'explain' not in kw['dls_kwargs']

def test_compare_and_sweep_write_outside_the_project_results_by_default(monkeypatch):
    "Run from the project's root, a call without `out` never appends to its tracked results/ (the CLI's default too)"
    monkeypatch.setattr(E, '_run_plan', lambda plan, **kw: kw)   # where each would write, nothing trained
    tiny = {k: v for k, v in TINY.items() if k != 'out'}
    assert compare(arms=('baseline',), **tiny)['out'] == sweep('threshold', [0.5], **tiny)['out'] == 'proxy-attention-runs'

def test_proxy_settings_are_part_of_the_run(first, monkeypatch):
    out, _ = first
    calls = []
    real = E._fit_run
    monkeypatch.setattr(E, '_fit_run', lambda dls, cfg, arm, *a, **kw: calls.append(arm) or real(dls, cfg, arm, *a, **kw))
    with too_short(): df = compare(arms=('baseline', 'proxy'), settings=dict(threshold=0.5), out=out, **{**TINY, 'seeds': [1]})
    assert calls == ['proxy']        # the default baseline of seed 1 is reused; the proxy arm at threshold=0.5 is a new run
    p = df[df['arm'] == 'proxy'].iloc[0]
    assert (p['param'], p['setting'], p['callback']) == ('threshold', '0.5', 'ProxyAttention(threshold=0.5, seed=1)')
    assert set(zip(df['arm'], df['param'])) == {('baseline', 'none'), ('proxy', 'threshold')}   # only the runs asked for
    compare(arms=('proxy',), settings=dict(threshold=0.5), out=out, **{**TINY, 'seeds': [1]})
    assert calls == ['proxy']        # and resumed as such

def test_plans_name_runs_by_their_settings():
    plan = compare_plan(('baseline', 'proxy', 'thesisfeed', 'randomcam'), 10, dict(method='GradCAM', threshold=0.5))
    assert [p[:3] for p in plan] == [('baseline', 'none', 'default'), ('proxy', 'method;threshold', 'gradcam;0.5'),
                                     ('thesisfeed', 'method;threshold', 'gradcam;0.5'), ('randomcam', 'threshold', '0.5')]
    assert repr(plan[3][3](7)[0]) == "ProxyAttention(threshold=0.5, method='randomcam', seed=7)"
    assert plan[2][3](7)[0].feed == 'proxy_epochs' and plan[2][3](7)[0].method == 'gradcam'
    # a swept value at its default is compare's run with the same settings
    assert [p[:3] for p in sweep_plan('threshold', ['0.5', 0.85], 10, dict(weight=0.3))] == [
        ('baseline', 'none', 'default'), ('proxy', 'threshold;weight', '0.5;0.3'), ('proxy', 'weight', '0.3')]
    assert compare_plan(('proxy',), 10, dict(weight=0.3))[0][:3] == ('proxy', 'weight', '0.3')

@pytest.mark.parametrize('arms, settings, match', [
    (('baseline', 'mixup'), dict(threshold=0.5), 'reaches no arm'), (('randomcam',), dict(method='gradcam'), 'reaches no arm'),
    (('thesisfeed',), dict(feed='every_epoch'), 'reaches no arm'), (('proxy', 'proxy'), None, 'twice'), ((), None, 'empty'),
    (('proxy',), dict(colour='red'), 'colour'), (('proxy',), dict(seed=3), 'seed'), (('proxy',), dict(schedule='1,p,1'), 'n_epoch=10')])
def test_compare_plan_refuses(arms, settings, match):
    with pytest.raises(ValueError, match=match): compare_plan(arms, 10, settings)

def test_proxy_setting_as_loader_option_refused(tmp_path):
    with pytest.raises(ValueError, match='settings='): compare(arms=('proxy',), out=tmp_path, threshold=0.5, **TINY)
    assert list(tmp_path.iterdir()) == []

def test_arm_callbacks_fixed_settings():
    assert repr(arm_callbacks('randomcam', 0, method='gradcam', weight=0.3)[0]) == "ProxyAttention(weight=0.3, method='randomcam', seed=0)"
    assert repr(arm_callbacks('thesisfeed', 0, feed='every_epoch')[0]) == "ProxyAttention(seed=0)"   # the thesis's: the default
    assert arm_callbacks('proxy', 0, method='gradcam')[0].method == 'gradcam'

def test_summarize_against_another_reference():
    df = _toy([0.80, 0.90, 0.70], [0.82, 0.921, 0.722])
    rc = df[df['arm'] == 'baseline'].assign(arm='randomcam', accuracy=lambda d: d['accuracy'] + [0.03, 0.031, 0.029])
    both = pd.concat([df, rc])
    s = summarize(both, reference='randomcam').set_index('arm')
    d = np.array([0.02, 0.021, 0.022]) - [0.03, 0.031, 0.029]
    assert s.loc['proxy', 'diff'] == pytest.approx(d.mean()) and (s.loc['proxy', 'diff_low'], s.loc['proxy', 'diff_high']) == pytest.approx(t_interval(d)[1:])
    assert s.loc['proxy', 'verdict'] == f"proxy hurts: worse than randomcam (Holm p={s.loc['proxy', 'p_holm']:.3f})"
    # two comparisons in the table (proxy and the baseline against randomcam): Holm's step-down adjustment
    p = s['p'].dropna().sort_values()
    assert s.loc[p.index[0], 'p_holm'] == pytest.approx(min(1, 2 * p.iloc[0]))
    assert s.loc[p.index[1], 'p_holm'] == pytest.approx(min(1, max(2 * p.iloc[0], p.iloc[1])))
    assert s.loc['randomcam', 'verdict'] == 'reference' and s.loc['baseline', 'verdict'].startswith('baseline hurts')
    assert list(format_summary(summarize(both, reference='randomcam')).columns[-2:]) == ['vs randomcam (paired 95% CI)', 'verdict']
    b = summarize(both).set_index('arm')   # the default reference is still the baseline, with the same columns
    assert b.loc['proxy', 'diff'] == pytest.approx(0.021) and b.loc['randomcam', 'verdict'].startswith('randomcam helps')
    assert 'vs baseline (paired 95% CI)' in format_summary(summarize(both)).columns

def test_reference_pairs_runs_of_the_same_settings():
    df = _toy([0.80, 0.90, 0.70], [0.82, 0.921, 0.722])
    prox = df[df['arm'] == 'proxy'].assign(param='method;threshold', setting='gradcam;0.5')
    rc = df[df['arm'] == 'baseline'].assign(arm='randomcam', param='threshold', setting='0.5', accuracy=lambda d: d['accuracy'] + 0.01)
    rc_default = rc.assign(param='none', setting='default', accuracy=lambda d: d['accuracy'] + 0.5)
    s = summarize(pd.concat([prox, rc, rc_default]), reference='randomcam').set_index(['arm', 'param'])
    assert s.loc[('proxy', 'method;threshold'), 'diff'] == pytest.approx(0.011)   # randomcam at threshold=0.5, not its default run

def test_old_results_file_stays_appendable(tmp_path):
    csv = tmp_path/'results.csv'
    row = dict(data='digits', arch='resnet18', epochs=1, size=32, bs=32, lr=0.002, pretrained=False, data_options='none',
               arm='baseline', param='none', setting='default', seed=0, epoch=0, train_loss=1., valid_loss=1., accuracy=.5,
               seconds=1., proxy_images=0, callback='none')
    append_rows([row], csv)                                    # a file from before the commit and environment columns
    with pytest.warns(UserWarning, match='predates the commit, threads column'):
        append_rows([dict(row, seed=1, commit='abc1234', threads=1)], csv)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        append_rows([dict(row, seed=2, commit='abc1234', threads=1)], csv)  # warned once per file
    df = read_results(csv)
    assert len(df) == 3 and df['commit'].tolist()[0] != df['commit'].tolist()[0] and df['commit'].tolist()[1:] == ['abc1234'] * 2
    assert df['threads'].tolist()[1:] == [1, 1] and len(finished_runs(csv)) == 3
    with pytest.raises(ValueError, match='unknown_col'): append_rows([dict(row, unknown_col=1)], csv)

def test_cut_off_write_leaves_a_readable_csv(tmp_path):
    "A kill during a write leaves at most a cut-off last line: it is not read, and the run is trained again whole"
    csv = tmp_path/'results.csv'
    row = dict(data='digits', arch='resnet18', epochs=2, size=32, bs=32, lr=0.002, pretrained=False, data_options='none',
               arm='baseline', param='none', setting='default', seed=0, train_loss=1., valid_loss=1., accuracy=.5,
               seconds=1., proxy_images=0, callback='none')
    append_rows([dict(row, epoch=0), dict(row, epoch=1)], csv)
    append_rows([dict(row, seed=1, epoch=0)], csv)
    with open(csv, 'a') as f: f.write('digits,resnet18,2,32,32,0.002,False,none,baseline,none,default,1,1,1.0,0.9')
    df = read_results(csv)
    assert len(df) == 3 and E.unfinished_runs(csv) == {E.run_key(dict(row, seed=1))}
    assert E.drop_rows(csv, E.unfinished_runs(csv)) == 1
    assert len(read_results(csv)) == 2 and csv.read_text().endswith('\n') and E.unfinished_runs(csv) == set()

def test_code_commit(tmp_path):
    assert re.fullmatch(r'[0-9a-f]{4,40}(\+dirty)?|unknown', code_commit())
    assert code_commit(tmp_path/'module.py') == 'unknown'      # not a git checkout

def test_accuracy_intervals_clipped_to_one_in_tables():
    s = summarize(_toy([0.99, 0.96, 1.0], [0.99, 0.97, 1.0]))
    assert s['ci_high'].max() > 1                                   # the t interval itself goes past 1...
    t = format_summary(s)
    assert all(float(v.split('[')[1].split(',')[1].rstrip(']')) <= 1 for v in t['accuracy (95% CI)'])   # ...the table does not

def test_explanation_intervals_stay_in_each_metric_range():
    from proxy_attention.metrics import summarize_explanations, METRIC_RANGES
    seeds = pd.DataFrame(dict(arm='proxy', road=[0.1, 0.6, 0.9], drop_in_confidence=[0.2, 0.9, 1.0],
                              increase_in_confidence=[0.0, 0.0, 1.0], deletion_auc=[0.0, 0.05, 0.9],
                              insertion_auc=[0.1, 0.95, 1.0]))
    s = summarize_explanations(seeds, by='arm').set_index('metric')
    for m, (lo, hi) in METRIC_RANGES.items(): assert lo <= s.loc[m, 'ci_low'] <= s.loc[m, 'ci_high'] <= hi
    assert s.loc['drop_in_confidence', 'ci_high'] == 1.0 and abs(s.loc['drop_in_confidence', 'mean'] - 0.7) < 1e-9

@pytest.mark.parametrize('seeds, match', [(0, 'trains nothing'), (-2, 'trains nothing'), ([0, 2, 0], 'seed 0 twice'),
                                          ([1, -1], 'not a seed'), ([1.0], 'not a seed'), ([True], 'not a seed'),
                                          ([], 'empty'), ('012', 'a count'), (None, 'a count')])
def test_bad_seeds_refused_before_any_work(tmp_path, seeds, match):
    "compare and sweep refuse a seed list they could not pair, before a folder is made or data loaded"
    out = tmp_path/'results'
    with pytest.raises(ValueError, match=match): compare(arms=('baseline',), **{**TINY, 'seeds': seeds, 'out': out})
    with pytest.raises(ValueError, match=match): sweep('threshold', [0.5], **{**TINY, 'seeds': seeds, 'out': out})
    assert not out.exists()

def test_check_seeds():
    assert check_seeds(2) == [0, 1] and check_seeds((3, 1)) == [3, 1] and check_seeds(np.arange(2)) == [0, 1]
    assert all(type(s) is int for s in check_seeds(np.arange(2)))

def test_sweep_legend_names_the_default(first):
    "The proxy run at the defaults is labelled by the default's value, or as the default schedule where that is None"
    _, df = first
    legend = lambda fig: [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend(plot_sweep(df, 'threshold')) == ['baseline', 'threshold=0.85 (default)']
    assert legend(plot_sweep(df, 'schedule')) == ['baseline', 'schedule=default']

def test_results_summary_draws_a_panel_per_swept_setting(first, tmp_path):
    "scripts/results_summary.py on a folder of several sweeps: its tables, and one figure with a panel per setting"
    import shutil
    from PIL import Image
    out, _ = first
    root = Path(__file__).parents[1]
    (tmp_path/'scripts').mkdir(); shutil.copy(root/'scripts'/'results_summary.py', tmp_path/'scripts')   # images/ of tmp_path
    hyper = tmp_path/'results'/'hyper'; hyper.mkdir(parents=True); shutil.copy(out/'results.csv', hyper)
    with too_short():
        sweep('threshold', [0.5], out=hyper, **TINY); sweep('subset', [0.8], out=hyper, **TINY)
    r = subprocess.run([sys.executable, 'scripts/results_summary.py', '--figures', 'results/hyper'], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'PYTHONPATH': str(root)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert '**digits** (`hyper/`)' in r.stdout and '| proxy | threshold | 0.5 | 2 |' in r.stdout, r.stdout
    assert '![hyper: accuracy per epoch](images/hyper.png)' in r.stdout
    # each swept proxy run is paired with proxy attention at the defaults, seed by seed
    assert '| proxy threshold=0.5 | 2 | ' in r.stdout and '| proxy subset=0.8 | 2 | ' in r.stdout, r.stdout
    plot_compare(read_results(out/'results.csv'), save=tmp_path/'one.png')   # one panel, for scale
    (w, h), (w1, h1) = Image.open(tmp_path/'images'/'hyper.png').size, Image.open(tmp_path/'one.png').size
    assert w > 1.4 * w1 and h > 1.4 * h1, ((w, h), (w1, h1))   # two panels side by side, curves above differences

def test_results_summary_draws_a_compare_at_searched_settings(tmp_path):
    "A compare at several settings other than the defaults (the tune-rerun stage) gets its figure, not a KeyError"
    import shutil
    from PIL import Image
    root = Path(__file__).parents[1]
    (tmp_path/'scripts').mkdir(); shutil.copy(root/'scripts'/'results_summary.py', tmp_path/'scripts')
    rerun = tmp_path/'results'/'rerun'
    with too_short():
        compare(arms=('baseline', 'proxy'), settings=dict(subset=0.11040264838497274, replacement='halfmax'), out=rerun,
                **TINY)
    r = subprocess.run([sys.executable, 'scripts/results_summary.py', '--figures', 'results/rerun'], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'PYTHONPATH': str(root)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert '![rerun: accuracy per epoch](images/rerun.png)' in r.stdout, r.stdout
    assert Image.open(tmp_path/'images'/'rerun.png').size[0] > 0
