"Experiments harness: appended CSVs, resume, CI maths, verdicts, figures only where asked, explain.csv, the CLI"
import math, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from scipy import stats
import proxy_attention.experiments as E
from proxy_attention.experiments import (compare, sweep, summarize, format_summary, t_interval, verdict, read_results,
                                         finished_runs, plot_compare, plot_sweep, RESULT_COLS, append_rows)

TINY = dict(data='digits', epochs=1, seeds=2, size=32, bs=32, n=160, num_workers=0, show=False)

@pytest.fixture(scope='module')
def first(tmp_path_factory):
    "One tiny comparison (baseline and proxy, 2 seeds, 1 epoch) that the tests below extend"
    out = tmp_path_factory.mktemp('results')
    df = compare(arms=('baseline', 'proxy'), out=out, **TINY)
    return out, df

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

def test_resume_skips_finished(first, monkeypatch):
    out, _ = first
    calls = []
    real = E._fit_run
    def counting(dls, cfg, arm, *args): calls.append(arm); return real(dls, cfg, arm, *args)
    monkeypatch.setattr(E, '_fit_run', counting)
    n_before = len(read_results(out/'results.csv'))
    compare(arms=('baseline', 'proxy'), out=out, **TINY)
    assert calls == [] and len(read_results(out/'results.csv')) == n_before
    compare(arms=('baseline', 'proxy'), out=out, **{**TINY, 'seeds': [0, 1, 2]})   # only seed 2 is new
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

def test_plots_only_where_asked(first, tmp_path):
    out, _ = first
    df = read_results(out/'results.csv')
    before = set(os.listdir(tmp_path)), set(os.listdir(out))
    plot_compare(df); plot_sweep(df, 'threshold')
    assert (set(os.listdir(tmp_path)), set(os.listdir(out))) == before
    plot_compare(df, save=tmp_path/'figs'/'c.png')
    assert os.listdir(tmp_path) == ['figs'] and (tmp_path/'figs'/'c.png').stat().st_size > 1000

def test_sweep(first, monkeypatch):
    out, _ = first
    with pytest.raises(ValueError, match='param'): sweep('lr', [0.1], out=out, **TINY)
    with pytest.raises(ValueError, match='threshold'): sweep('threshold', [1.5], out=out, **TINY)
    calls = []
    real = E._fit_run
    monkeypatch.setattr(E, '_fit_run', lambda dls, cfg, arm, param, setting, *a: calls.append((arm, param, setting)) or real(dls, cfg, arm, param, setting, *a))
    df = sweep('threshold', [0.5, 0.85], out=out, **{**TINY, 'seeds': 1})
    assert calls == [('proxy', 'threshold', '0.5')]    # baseline and the default 0.85 come from `compare`'s runs
    s = summarize(df[df['seed'] == 0])
    assert 'threshold' in set(s['param'])

def test_explain_csv_and_no_dataset_writes(tmp_path):
    out = tmp_path/'out'
    compare(arms=('baseline', 'proxy'), out=out, explain=('proxy',), n_explain=8, **{**TINY, 'seeds': 1})
    ex = pd.read_csv(out/'explain.csv')
    assert list(ex['arm']) == ['proxy'] and ex['n_images'].tolist() == [8]
    assert {'road', 'drop_in_confidence', 'increase_in_confidence'} <= set(ex.columns)
    ds = tmp_path/'my_dataset'; ds.mkdir()
    with pytest.raises(ValueError, match='dataset'): compare(str(ds), out=ds/'results', epochs=1, show=False)
    assert list(ds.iterdir()) == []

def test_cli_parses():
    from fastcore.script import anno_parser
    from proxy_attention.cli import main, _list_arg
    p = anno_parser(main)
    a = p.parse_args(['compare', '--data', 'digits', '--epochs', '2', '--seeds', '3', '--out', 'results/'])
    assert (a.command, a.data, a.epochs, a.seeds, a.out, a.explain) == ('compare', 'digits', 2, 3, 'results/', False)
    a = p.parse_args(['sweep', '--param', 'threshold', '--values', '0.5,0.85', '--explain'])
    assert (a.command, a.param, _list_arg(a.values), a.explain) == ('sweep', 'threshold', ['0.5', '0.85'], True)
    assert p.parse_args([]).command == 'run'
    assert _list_arg('5,p,4|2') == ['5,p,4', '2']
    with pytest.raises(SystemExit): p.parse_args(['bench'])

def test_cli_compare_runs(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(Path(__file__).parents[1]), 'OMP_NUM_THREADS': '1'}
    (tmp_path/'cli.py').write_text('import sys\nfrom proxy_attention.cli import main\nsys.exit(main())\n')   # what the console script does (exit status = main's value)
    cmd = [sys.executable, str(tmp_path/'cli.py'), 'compare', '--arms', 'baseline,proxy',
           '--epochs', '1', '--seeds', '1', '--size', '32', '--bs', '32', '--n', '160', '--workers', '0',
           '--out', str(tmp_path/'res'), '--plot', str(tmp_path/'img')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'within noise' in r.stdout or 'no verdict' in r.stdout
    assert len(read_results(tmp_path/'res'/'results.csv')) == 2
    assert (tmp_path/'img'/'digits_resnet18.png').exists()
