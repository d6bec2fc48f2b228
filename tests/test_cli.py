"The `proxy-attention` command as a user meets it: flags that reach the arms, progress in a log, one-line errors"
import json, os, re, subprocess, sys
import numpy as np
from pathlib import Path
import pytest
from conftest import console_script
from test_data import photo_folder
from proxy_attention.experiments import read_results

ROOT = Path(__file__).parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
CONSOLE = console_script('proxy-attention')   # what pip's console script does: exit with the entry point's value
# every proxy flag at a value other than its default, and how the proxy arm's callback `repr` shows it
FLAGS = dict(schedule=('p,p', "schedule=['p', 'p']"), threshold=('0.5', 'threshold=0.5'), weight=('0.3', 'weight=0.3'),
             subset=('0.5', 'subset=0.5'), method=('gradcam', "method='gradcam'"), replacement=('mean', "replacement='mean'"),
             feed=('every_epoch', "feed='every_epoch'"), smooth=('eigen', "smooth='eigen'"), source=('all', "source='all'"),
             place=('random', "place='random'"))
ARMS, EPOCHS = ['baseline', 'proxy', 'thesisfeed', 'randomcam'], 2

@pytest.fixture(scope='module')
def matrix(tmp_path_factory):
    "One tiny `compare` of four arms with every proxy flag, through the console-script path, stdout piped as into a log file"
    tmp = tmp_path_factory.mktemp('cli')
    (tmp/'proxy-attention').write_text(CONSOLE)
    cmd = [sys.executable, str(tmp/'proxy-attention'), 'compare', '--arms', ','.join(ARMS), '--epochs', str(EPOCHS), '--seeds', '1',
           '--size', '48', '--bs', '32', '--n', '160', '--workers', '0', '--out', str(tmp/'res'), '--plot', str(tmp/'img'),
           *[a for k, (v, _) in FLAGS.items() for a in (f'--{k}', v)]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    df = read_results(tmp/'res'/'results.csv')
    return tmp, r, df, df.drop_duplicates('arm').set_index('arm')

@pytest.mark.parametrize('flag', list(FLAGS))
def test_flag_reaches_proxy_arm(matrix, flag):
    _, _, _, runs = matrix
    assert FLAGS[flag][1] in runs.loc['proxy', 'callback']
    assert flag in runs.loc['proxy', 'param'].split(';')    # part of the run's identity, so resume tells it from a default run
    if flag != 'method': assert FLAGS[flag][1] in runs.loc['randomcam', 'callback']

def test_arms_fix_their_setting(matrix):
    _, _, _, runs = matrix
    assert "method='randomcam'" in runs.loc['randomcam', 'callback'] and 'gradcam' not in runs.loc['randomcam', 'callback']
    assert 'method' not in runs.loc['randomcam', 'param'].split(';')   # the arm names it
    # the thesisfeed arm keeps the thesis's feed (the default) over --feed every_epoch
    assert 'feed=' not in runs.loc['thesisfeed', 'callback'] and "method='gradcam'" in runs.loc['thesisfeed', 'callback']
    assert (runs.loc['baseline', 'callback'], runs.loc['baseline', 'param']) == ('none', 'none')

def test_rows_carry_the_commit(matrix):
    _, _, df, _ = matrix
    assert df['commit'].str.fullmatch(r'[0-9a-f]{4,40}(\+dirty)?|unknown').all() and df['commit'].nunique() == 1

def test_one_progress_line_per_epoch(matrix):
    _, r, _, _ = matrix
    lines = r.stdout.splitlines()
    progress = [l for l in lines if re.match(r'\[\d+/\d+\] .* epoch \d+/\d+: train_loss ', l)]
    # the proxy arms are forked from the baseline after its first epoch (the schedule p,p feeds from epoch 2 on): a line
    # for each epoch each run trains, none for the epochs a fork takes from its baseline
    assert len(progress) == EPOCHS + (len(ARMS) - 1) * (EPOCHS - 1), r.stdout
    for i, arm in enumerate(ARMS):
        mine = [l for l in progress if l.startswith(f'[{i+1}/{len(ARMS)}] {arm} ')]
        assert [re.search(r' epoch (\d+/\d+):', l)[1] for l in mine] == (['1/2', '2/2'] if arm == 'baseline' else ['2/2'])
        assert all(re.search(r'valid_loss [\d.]+ accuracy [\d.]+ \| elapsed [\d:]+, left [\d:]+ \(run\), [\d:]+ \(all\)$', l) for l in mine)
    assert sum(l.startswith('estimated time for all 4 runs x 2 epochs') for l in lines) == 1
    assert lines.index(progress[0]) < [i for i, l in enumerate(lines) if l.startswith('estimated')][0] < lines.index(progress[1])

def test_cli_compare_summary_and_figure(matrix):
    tmp, r, df, _ = matrix
    assert 'no verdict' in r.stdout and 'paired against the random-map control (randomcam)' in r.stdout
    assert len(df) == len(ARMS) * EPOCHS and (tmp/'img'/'digits_resnet18.png').exists()
    assert 'Traceback' not in r.stderr

@pytest.mark.newest_fastai
def test_cli_parses():
    from fastcore.script import anno_parser
    from proxy_attention.cli import main, _list_arg
    p = anno_parser(main)
    a = p.parse_args(['compare', '--data', 'digits', '--epochs', '2', '--seeds', '3', '--out', 'results/'])
    assert (a.command, a.data, a.epochs, a.seeds, a.out, a.explain) == ('compare', 'digits', 2, '3', 'results/', False)
    a = p.parse_args(['sweep', '--param', 'threshold', '--values', '0.5,0.85', '--feed', 'proxy_epochs'])
    assert (a.command, a.param, _list_arg(a.values), a.feed) == ('sweep', 'threshold', ['0.5', '0.85'], 'proxy_epochs')
    assert p.parse_args([]).command == 'run'
    assert _list_arg('5,p,4|2') == ['5,p,4', '2']
    with pytest.raises(SystemExit): p.parse_args(['bench'])

# each bad command line, and a fragment its one-line message must hold
BAD = {'param given to compare': (['compare', '--param', 'threshold'], '--param is for sweep'),
       'arms given to sweep': (['sweep', '--arms', 'baseline', '--param', 'threshold', '--values', '0.5'], '--arms is for compare'),
       'arms given to run': (['run', '--arms', 'baseline'], '--arms is for compare'),
       'seed given to compare': (['compare', '--seed', '1'], '--seed is for run'),
       'plot given to run': (['--plot', 'img'], '--plot is for compare and sweep'),
       'ntrain with digits': (['compare', '--ntrain', '100'], '--ntrain is for --data fashion-mnist'),
       'n with fashion-mnist': (['run', '--data', 'fashion-mnist', '--n', '10'], '--n is for --data digits'),
       'no epochs': (['compare', '--epochs', '0'], '--epochs must be >= 1'),
       'lr not positive': (['run', '--lr', '0'], '--lr must be a number > 0'),
       'lr not finite': (['run', '--lr', 'inf'], '--lr must be a number > 0, got inf'),
       'subset keeping nothing': (['run', '--subset', '0'], 'proxy subset=0.0 would never train on a proxy image'),
       'swept subset keeping nothing': (['sweep', '--param', 'subset', '--values', '0,0.5'],
                                        'proxy subset=0.0 would never train on a proxy image'),
       'empty schedule': (['run', '--schedule', ''], '--schedule is empty: give a value or leave the flag out'),
       'empty data': (['run', '--data', ''], '--data is empty'),   # not the current folder
       'run never fed': (['run', '--epochs', '3'], 'proxy would never train on a proxy image in a 3-epoch fit'),
       'no seeds': (['compare', '--seeds', ','], "--seeds must be a count (5) or a list of seeds (3,4), got ','"),
       'a seed twice': (['compare', '--seeds', '3,3'], '--seeds names seed 3 twice (3,3): give each seed once'),
       'out is a file': (['compare', '--out', '{ds}.txt'], "is a file, not a folder"),
       'schedule longer than the fit': (['compare', '--epochs', '2', '--schedule', '1,p,1'], 'n_epoch=2'),
       'seeds neither a count nor a list': (['compare', '--seeds', '3,x'], "--seeds must be a count (5) or a list of seeds (3,4), got '3,x'"),
       'threads zero': (['compare', '--threads', '0'], '--threads must be >= 1, got 0'),
       'threads for run': (['run', '--threads', '2'], '--threads is for compare and sweep, not run'),
       # one proxy step under the thesis's feeding: never trained on, the arm would equal the baseline
       'proxy arm never fed': (['compare', '--arms', 'baseline,proxy', '--epochs', '3'],
                               'proxy would never train on a proxy image in a 3-epoch fit'),
       'swept run never fed': (['sweep', '--param', 'threshold', '--values', '0.5', '--epochs', '3'],
                               'proxy threshold=0.5 would never train on a proxy image'),
       'data folder missing': (['compare', '--data', 'no/such/folder'], "'no/such/folder' is neither"),
       'unknown arm': (['compare', '--arms', 'baseline,dropout'], "'dropout'"),
       'arm twice': (['compare', '--arms', 'proxy,proxy'], 'twice'),
       'unknown method': (['run', '--method', 'gradcamm'], "--method must be one of"),
       'threshold out of range': (['compare', '--threshold', '1.5'], '--threshold must be a number in [0, 1], got 1.5'),
       'unknown feed': (['compare', '--feed', 'sometimes'], "'sometimes'"),
       'unknown arch': (['run', '--arch', 'resnet99'], "'resnet99' is not a timm model"),
       'sweep without values': (['sweep', '--param', 'threshold'], 'sweep needs --param'),
       'unknown sweep param': (['sweep', '--param', 'lr', '--values', '0.1'], '--param must be one of'),
       'sweep value not a number': (['sweep', '--param', 'weight', '--values', 'a,b'], "--weight values must be numbers"),
       'swept setting also fixed': (['sweep', '--param', 'threshold', '--values', '0.5', '--threshold', '0.6'], 'swept'),
       'setting that reaches no arm': (['compare', '--arms', 'baseline,mixup', '--weight', '0.3'], '--weight reaches no arm'),
       'method with only randomcam': (['compare', '--arms', 'randomcam', '--method', 'gradcam'], '--method reaches no arm'),
       'out inside the dataset': (['compare', '--data', '{ds}', '--bs', '4', '--out', '{ds}/results'], 'inside the dataset folder'),
       'holdout with digits': (['tune', '--holdout', '0.2'], '--holdout is for an image folder with train/'),
       'holdout out of range': (['tune', '--data', '{ds}', '--holdout', '1.5'], '--holdout must be a share in (0, 1), got 1.5'),
       'proxy flag given to tune': (['tune', '--threshold', '0.5'], '--threshold is for run, compare and sweep, not tune'),
       'no tune workers': (['tune', '--workers', '0'], '--workers for tune is the number of worker processes'),
       'tune storage not a URL': (['tune', '--storage', 'results/tune.db'], "--storage 'results/tune.db' is neither a database URL"),
       'unknown tune objective': (['tune', '--objective', 'loss'], '--objective must be one of accuracy, vs_baseline'),
       'trials given to run': (['run', '--trials', '3'], '--trials is for tune, not run'),
       'argparse: not an int': (['--epochs', 'two'], "argument --epochs: invalid int value: 'two'"),
       'argparse: unknown command': (['bench'], "argument command: invalid choice: 'bench'"),
       'unknown flag': (['run', '--nosuch'], 'unknown option --nosuch'),
       'a flag misspelt': (['--thresold', '0.5'], 'unknown option --thresold; did you mean --threshold?'),
       'a size whose CAMs are flat': (['--size', '32'], "--size must be >= 33, got 32; at 32 px or less a ResNet's last feature "
                                                        "map is 1x1"),
       'batch larger than the digits': (['compare', '--n', '40'], '--bs 64 is more than the 32 training images of --data digits --n 40'),
       'data folder of one class': (['run', '--data', '{ds}/train/a', '--bs', '2'], "holds images of 1 class (a)")}

DRIVER = '''
import contextlib, io, json, sys, traceback
import proxy_attention.cli, proxy_attention.experiments, proxy_attention.tune
def refuse(*a, **k): raise RuntimeError('data loaded before the command line was checked')
proxy_attention.cli.get_dls = proxy_attention.experiments.get_dls = proxy_attention.tune.get_dls = refuse
script = sys.argv[1]
code, res = compile(open(script).read(), script, 'exec'), {}
for name, argv in json.loads(sys.argv[2]).items():
    out, err, rc = io.StringIO(), io.StringIO(), None
    sys.argv = [script, *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: exec(code, {'__name__': '__main__', '__file__': script})   # the console script, run as a script
        except SystemExit as e: rc = e.code
        except BaseException: traceback.print_exc()
    res[name] = (rc, out.getvalue(), err.getvalue())
print(json.dumps(res))
'''

@pytest.fixture(scope='module')
def bad_runs(tmp_path_factory):
    "Every bad command line of `BAD` through the console script, in one Python process (each would otherwise pay the import of torch)"
    tmp = tmp_path_factory.mktemp('bad')
    (tmp/'proxy-attention').write_text(CONSOLE); (tmp/'driver.py').write_text(DRIVER)
    ds = photo_folder(tmp/'dataset', {'train/a': 4, 'train/b': 4, 'valid/a': 2, 'valid/b': 2})
    (tmp/'dataset.txt').write_text('a file where --out wants a folder')
    listing = sorted((p, p.stat().st_mtime_ns) for p in ds.rglob('*'))
    cases = {k: [a.replace('{ds}', str(ds)) for a in argv] for k, (argv, _) in BAD.items()}
    r = subprocess.run([sys.executable, str(tmp/'driver.py'), str(tmp/'proxy-attention'), json.dumps(cases)],
                       capture_output=True, text=True, timeout=300, cwd=tmp, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, json.loads(r.stdout.splitlines()[-1]), listing

@pytest.mark.newest_fastai
@pytest.mark.parametrize('case', list(BAD))
def test_bad_command_line(bad_runs, case):
    tmp, res, listing = bad_runs
    rc, out, err = res[case]
    assert rc == 2 and 'Traceback' not in err, err
    assert out == '' and len(err.splitlines()) == 1, err   # argparse's own errors too: no usage block
    assert err.startswith('proxy-attention: error: ') and BAD[case][1] in err, err
    assert sorted(p.name for p in tmp.iterdir()) == ['dataset', 'dataset.txt', 'driver.py', 'proxy-attention']
    assert sorted((p, p.stat().st_mtime_ns) for p in (tmp/'dataset').rglob('*')) == listing   # nothing written into the dataset

@pytest.mark.newest_fastai
def test_benchmark_bad_command_line(tmp_path):
    "`proxy-attention-benchmark` refuses a bad flag value in one line, exit status 2, before measuring anything"
    (tmp_path/'proxy-attention-benchmark').write_text(console_script('proxy-attention-benchmark'))
    r = subprocess.run([sys.executable, str(tmp_path/'proxy-attention-benchmark'), '--repeats', 'x'], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, env=ENV)
    assert (r.returncode, r.stdout) == (2, ''), r.stderr[-2000:]
    assert r.stderr == "proxy-attention-benchmark: error: argument --repeats: invalid int value: 'x'\n", r.stderr[-2000:]

@pytest.mark.newest_fastai
def test_run_logs_each_epoch(capsys):
    from proxy_attention.training import run_pair
    from proxy_attention.core import ProxyAttentionWarning
    with pytest.warns(ProxyAttentionWarning, match='too short'):   # a 1-epoch fit has no proxy step, and says so
        res = run_pair('digits', epochs=1, size=32, bs=32, seed=0, dls_kwargs=dict(n=160, num_workers=0), threshold=0.5)
    out = capsys.readouterr().out.splitlines()   # stdout is not a terminal here
    assert [l.split(': ')[0] for l in out if ' epoch 1/1' in l] == ['[1/2] baseline seed 0 epoch 1/1', '[2/2] proxy seed 0 epoch 1/1']
    assert res['settings'] == 'ProxyAttention(threshold=0.5, seed=0)'

@pytest.mark.newest_fastai
def test_python_dash_m(tmp_path):
    "`python -m proxy_attention.cli` behaves as the console script: a bad line is one message and exit status 2, a good one runs"
    run = lambda *argv: subprocess.run([sys.executable, '-m', 'proxy_attention.cli', *argv], capture_output=True, text=True,
                                       timeout=600, cwd=tmp_path, env=ENV)
    r = run('--epochs', '0')
    assert (r.returncode, r.stdout, r.stderr) == (2, '', 'proxy-attention: error: --epochs must be >= 1, got 0\n')
    r = run('--epochs', '2', '--schedule', 'p,1', '--feed', 'every_epoch', '--n', '64', '--size', '48', '--bs', '16',
            '--workers', '0')
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'proxy attention accuracy:' in r.stdout and not list(tmp_path.iterdir())

# --- a bad command line or a bad data folder is refused before torch, timm and fastai are imported (issue 37)
FAST_DRIVER = '''
import contextlib, io, json, sys
from proxy_attention.cli import cli
res = {}
for name, argv in json.loads(sys.argv[1]).items():
    err, sys.argv = io.StringIO(), ['proxy-attention', *argv]
    with contextlib.redirect_stderr(err):
        try: rc = cli()
        except SystemExit as e: rc = e.code
    res[name] = (rc, err.getvalue(), sorted(m for m in ('torch', 'timm', 'fastai') if m in sys.modules))
print(json.dumps(res))
'''

def test_refused_before_the_heavy_imports(tmp_path):
    "The issue's cases, each one line naming the file or value and the fix, exit status 2, torch never imported"
    good = photo_folder(tmp_path/'good', {'train/a': 8, 'train/b': 8, 'valid/a': 2, 'valid/b': 2})
    small = photo_folder(tmp_path/'small', {'train/a': 30, 'train/b': 30, 'valid/a': 5, 'valid/b': 5}, side=16)
    (tmp_path/'empty'/'train'/'a').mkdir(parents=True); (tmp_path/'empty'/'valid').mkdir()
    cut = good/'train'/'a'/'image_0003.jpg'; cut.write_bytes(cut.read_bytes()[:1500])   # a download cut short
    noise = good/'valid'/'b'/'image_0001.jpg'; noise.write_bytes(np.random.default_rng(0).bytes(2000))
    cases = {'typo': (['--thresold', '0.5'], 'unknown option --thresold; did you mean --threshold?'),
             'size': (['--size', '7'], '--size must be >= 33, got 7'),
             'batch': (['compare', '--data', str(small)], f"--bs 64 is more than the 60 training images of {str(small/'train')!r}"),
             'one class': (['compare', '--data', str(small/'train'/'a'), '--bs', '8'], 'holds images of 1 class (a)'),
             'empty': (['sweep', '--data', str(tmp_path/'empty'), '--param', 'weight', '--values', '0.3'],
                       f"{str(tmp_path/'empty')!r} holds no image files"),
             'unreadable': (['tune', '--data', str(good), '--bs', '4'],
                            f"2 of the 20 image files in {str(good)!r} cannot be read: {str(cut)!r} (JPEG cut short")}
    r = subprocess.run([sys.executable, '-c', FAST_DRIVER, json.dumps({k: a for k, (a, _) in cases.items()})],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=ENV)
    res = json.loads(r.stdout.splitlines()[-1])
    for name, (_, fragment) in cases.items():
        rc, err, heavy = res[name]
        assert (rc, err.count('\n'), heavy) == (2, 1, []), (name, err)
        assert err.startswith('proxy-attention: error: ') and fragment in err, (name, err)
    assert repr(str(noise)) in res['unreadable'][1]

def test_compare_and_tune_write_outside_the_project_results_by_default(tmp_path, monkeypatch):
    from fastcore.script import anno_parser
    from proxy_attention.cli import main, check_args
    monkeypatch.chdir(tmp_path)
    args = lambda *argv: {k: v for k, v in vars(anno_parser(main).parse_args(argv)).items() if k not in ('pdb', 'xtra')}
    assert check_args(args('compare'))['out'] == str(tmp_path/'proxy-attention-runs')
    assert check_args(args('sweep', '--param', 'weight', '--values', '0.3'))['out'] == str(tmp_path/'proxy-attention-runs')
    assert check_args(args('compare', '--out', 'results/mine'))['out'] == str(tmp_path/'results'/'mine')   # when told
    tune = check_args(args('tune'))
    assert (tune['out'], tune['storage']) == (str(tmp_path/'proxy-attention-runs'/'tune'),
                                              'sqlite:///proxy-attention-runs/tune.db')
    assert list(tmp_path.iterdir()) == []   # checking writes nothing

def test_ctrl_c_says_what_is_safe_and_how_to_resume(tmp_path):
    "SIGINT to a real `compare` once a run is in the CSV: one line with the count of finished runs, exit status 130"
    import signal, time
    from proxy_attention.experiments import final_accuracies
    (tmp_path/'proxy-attention').write_text(CONSOLE)
    cmd = [sys.executable, str(tmp_path/'proxy-attention'), 'compare', '--arms', 'baseline,proxy', '--seeds', '3',
           '--epochs', '2', '--schedule', 'p,1', '--feed', 'every_epoch', '--n', '160', '--size', '48', '--bs', '32',
           '--workers', '0', '--out', str(tmp_path/'runs')]
    csv = tmp_path/'runs'/'results.csv'
    # as from a terminal: SIGINT at its default, also where this suite was started in the background of a script
    # (a shell without job control starts its `&` commands with SIGINT ignored, and the compare would inherit that)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not (csv.exists() and final_accuracies(csv)) and p.poll() is None and time.monotonic() < deadline: time.sleep(0.2)
    assert p.poll() is None, 'the compare ended before it could be interrupted'
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    done = len(final_accuracies(csv))
    assert p.returncode == 130 and 'Traceback' not in err, f"{done} runs finished; stderr: {err[-3000:]}; stdout: {out[-2000:]}"
    assert 0 < done < 6 and err.splitlines()[-1] == (
        f"proxy-attention: interrupted: {done} finished run{'s' * (done != 1)} safely in {csv} ({done} from this command); "
        "the same command resumes from there, skipping them"), err[-3000:]


def test_seeds_as_a_count_or_a_list():
    "One process's share of a table: `--seeds 3,4` trains those seeds, `--seeds 5` seeds 0-4"
    from proxy_attention.cli import _seeds_arg
    assert _seeds_arg('5') == 5 and _seeds_arg('3,4') == [3, 4] and _seeds_arg('7,') == [7]
