"""Every image of the README, the docs and the deck, made from the current code and the committed results, with a
manifest of what each one shows (images/manifest.json): the command that makes it, the settings it used, the text drawn
in its titles, labels and legends, the results folder it reads and the commit.

The figures of results read the committed `results/*/results.csv` (no training) and draw only runs the library can still
make (an arm of `ARMS` whose settings `check_settings` accepts); the grids train small models on the built-in digits
(64 px, seconds each); the tuner screenshot drives the tuner in Chromium (scripts/tuner_screenshot.py, about two
minutes). Settings other than the library's defaults are named in the image's title.
Usage: python scripts/make_images.py [--only NAME ...] [--list]"""
import argparse, functools, hashlib, json, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
IMAGES, MANIFEST = ROOT/'images', ROOT/'images'/'manifest.json'
sys.path.insert(0, str(Path(__file__).resolve().parent))   # results_summary draws the figures of a results folder
from proxy_attention import callback
from proxy_attention.callback import ProxyAttention, check_settings
from proxy_attention.core import check_choice
from proxy_attention.experiments import (read_results, final_rows, code_commit, ARMS, PROXY_ARMS,
                                         _settings_of, _run_name)
from proxy_attention.viz import save_figure
from proxy_attention.reporting import common_seeds, on_common_seeds

# Settings that were the library's defaults when a folder's rows were made, and are not today: its scripts passed
# `defaults=dict(feed='every_epoch')` (scripts/thesis_regime.py, scripts/run_experiments.py) to keep the folder on the
# feeding it began with. Rows that record `callback_settings` (results/flowers12-canonical) need no entry here.
RAN_WITH = {'flowers12': dict(feed='every_epoch'), 'imagenette-4k': dict(feed='every_epoch'),
            'flowers12-vit': dict(feed='every_epoch'), 'flowers12-hyper': dict(feed='every_epoch'),
            'results': dict(feed='every_epoch')}

def _value(v:str):
    "A setting as the CSV writes it, as the callback takes it: `0.5` a float, `10,p,9` a schedule, `eigen` a string"
    try: return float(v)
    except ValueError: return None if v == 'None' else v

def defaults() -> dict:
    "`ProxyAttention`'s settings at today's defaults, read from its signature"
    import inspect
    ps = inspect.signature(ProxyAttention).parameters
    return {k: ps[k].default for k in setting_names()}

def setting_names() -> list:
    "The names of `ProxyAttention`'s settings, from the callback's own table of them (what `check_settings` checks)"
    return list(getattr(callback, 'SETTINGS', None) or callback._SETTINGS)

def non_default(settings:dict) -> dict:
    "The settings that differ from today's defaults"
    d = defaults()
    return {k: v for k, v in settings.items() if k in d and v != d[k]}

def current_runs(df:pd.DataFrame, folder:str) -> tuple:
    "The rows of runs the library can still make, their runs (name, arm, settings, seeds), and the names left out"
    keep, runs, dropped = [], [], []
    for (arm, param, setting), g in df.groupby(['arm', 'param', 'setting'], sort=False):
        name = _run_name(arm, param, setting)
        try:
            check_choice('arm', arm, ARMS)
            own = {k: _value(v) for k, v in _settings_of(param, setting).items()}
            settings = {} if arm not in PROXY_ARMS else check_settings(**{**RAN_WITH.get(folder, {}), **recorded(g),
                                                                          **PROXY_ARMS[arm], **own})
        except ValueError:   # an arm or a setting the library no longer has (e.g. the adaptive schedules' arms)
            dropped.append(name); continue
        keep.append(g)
        runs.append(dict(run=name, arm=arm, settings=_jsonable(settings), seeds=int(final_rows(g)['seed'].nunique())))
    return pd.concat(keep), runs, dropped

def recorded(g:pd.DataFrame) -> dict:
    "The non-default settings a run's rows record in `callback_settings` (JSON of its callbacks), if they do"
    if 'callback_settings' not in g.columns or g['callback_settings'].isna().all(): return {}
    cbs = [c for c in json.loads(str(g['callback_settings'].dropna().iloc[0])) if c.get('callback') == 'ProxyAttention']
    if not cbs: return {}
    return non_default({k: v for k, v in cbs[0].items() if k in defaults()})

def _jsonable(d:dict) -> dict: return {k: v if isinstance(v, (int, float, str, bool, type(None), list)) else str(v)
                                       for k, v in d.items()}

def common_settings(runs:list) -> dict:
    "The non-default settings every proxy run of a figure shares, beyond what its arm fixes: the title must name them"
    proxy = [r for r in runs if r['arm'] in PROXY_ARMS]
    if not proxy: return {}
    shared = {k: v for k, v in non_default(proxy[0]['settings']).items()
              if all(r['settings'].get(k) == v or k in PROXY_ARMS[r['arm']] for r in proxy)}
    return {k: v for k, v in shared.items() if not all(k in PROXY_ARMS[r['arm']] for r in proxy)}

def settings_note(settings:dict, fig=None) -> str:
    "'(proxy arms: feed=every_epoch)': the settings a figure's title must name, those it does not name already"
    drawn = ' '.join(drawn_texts(fig)) if fig is not None else ''
    said = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items() if f"{k}=" not in drawn]
    return f" (proxy arms: {', '.join(said)})" if said else ''

def add_note(fig, note:str):
    "Append `note` to the figure's title (its suptitle, else its first axes' title)"
    if not note: return
    t = fig._suptitle if fig._suptitle is not None else fig.axes[0].title
    t.set_text(t.get_text() + '\n' + note.strip())
    fig.tight_layout()

def drawn_texts(fig) -> list:
    "Every text a figure draws (titles, axis labels, tick labels, legends), once each, in drawing order"
    from matplotlib.text import Text
    out = [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return list(dict.fromkeys(out))

# ------------------------------------------------------------------------------------------- the images
IMAGE_MAKERS = {}

def image(name:str, source:str):
    "Register a maker of images/<name>.png; it returns the figure and what the manifest records of it"
    def deco(f):
        IMAGE_MAKERS[name] = dict(make=f, source=source)
        return f
    return deco

def results_figure(folder:str, kind:str='curves', rows=None, **kwargs) -> dict:
    "A results folder's figure (results_summary's: curves or panels, or the forest with `kwargs`), from its current runs"
    import results_summary
    path = ROOT/'results' if folder == 'results' else ROOT/'results'/folder
    df = read_results(path/'results.csv') if rows is None else rows
    df, runs, dropped = current_runs(df, folder)
    if kwargs.get('common_seeds'):   # the manifest lists what is drawn: the seeds every arm has
        df = df[df['seed'].isin(common_seeds(df, by=('param', 'setting')))]
        runs = current_runs(df, folder)[1]
    fig = results_summary.forest(path, df, **kwargs) if kind == 'forest' else results_summary.figure(path, df)
    add_note(fig, settings_note(common_settings(runs), fig))
    return dict(fig=fig, settings=common_settings(runs), runs=runs, left_out=dropped, rows=int(len(df)),
                rows_made_at=sorted(set(df['commit'].astype(str))))

@image('flowers12-forest', 'results/flowers12')
def _flowers12_forest(): return results_figure('flowers12', 'forest')

@image('flowers12-canonical-forest', 'results/flowers12-canonical')
def _canonical_forest():   # seeds declared for every arm, run one after another: pair on those all arms have
    return results_figure('flowers12-canonical', 'forest', common_seeds=True)

@image('flowers12-canonical', 'results/flowers12-canonical')
def _canonical_curves():   # the same seeds as its forest: a seed some arms lack yet is not drawn for the others
    return results_figure('flowers12-canonical', common_seeds=True)

@image('flowers12-hyper', 'results/flowers12-hyper')
def _hyper(): return results_figure('flowers12-hyper')

@image('flowers12-vit', 'results/flowers12-vit')
def _vit(): return results_figure('flowers12-vit')

@image('imagenette-4k', 'results/imagenette-4k')
def _imagenette(): return results_figure('imagenette-4k')

@image('tune-flowers12', 'results/tune-flowers12')
def _tune(): return results_figure('tune-flowers12')

from thesis_regime import FEWER as FEWER_ARMS   # the fewer stage's arms, as the stage declares them

def fewer_rows() -> tuple:
    "Question 3's rows (the fewer-data runs and the canonical 100% ones), at each size on the seeds every arm has there"
    frames = [read_results(ROOT/'results'/f/'results.csv') for f in ('flowers12-fewer', 'flowers12-canonical')]
    kept = [current_runs(df, f) for df, f in zip(frames, ('flowers12-fewer', 'flowers12-canonical'))]
    rows = pd.concat([k[0] for k in kept], ignore_index=True)
    rows = rows[rows['arm'].isin(FEWER_ARMS)]
    # at each size, the seeds every arm has finished (one seed set per size: a point is never an arm's lucky seeds)
    return on_common_seeds(rows, FEWER_ARMS, per=('data_options',)), sorted({d for k in kept for d in k[2]})

@image('flowers12-fewer', 'results/flowers12-fewer and results/flowers12-canonical (the 100% points)')
def _fewer():
    "Question 3: accuracy against the share of training images, and each arm's paired difference to the baseline"
    from proxy_attention.questions import fewer_data_summary, plot_fewer_data, train_fraction_of
    rows, left_out = fewer_rows()
    arms, fin = FEWER_ARMS, final_rows(rows)
    s = fewer_data_summary(rows, arms=arms)
    fig = plot_fewer_data(s, title='flowers12, ResNet-18 from scratch: fewer training images (same test images)')
    runs = current_runs(rows, 'flowers12-fewer')[1]   # what is drawn: the seeds counted over every size
    add_note(fig, settings_note(common_settings(runs), fig))
    return dict(fig=fig, settings=common_settings(runs), runs=runs, left_out=left_out,
                rows=int(len(rows)), rows_made_at=sorted(set(rows['commit'].astype(str))),
                seeds={f"{100 * train_fraction_of(o):.0f}%": sorted(int(x) for x in set(g['seed']))
                       for o, g in fin.groupby('data_options')})

# the grids: a baseline and a proxy arm at the library's defaults on 256 digits at 64 px (2 x 2 maps), 4 epochs: the
# default schedule makes two proxy steps, the second trains on the first's images (the thesis's feeding)
DIGITS = dict(size=64, bs=16, n=256, epochs=4, seed=42)

@functools.lru_cache(None)
def digits_learners():
    "A baseline and a proxy arm at the defaults on the built-in digits, trained once per run of this script"
    import torch
    from proxy_attention.data import digits_dls
    from proxy_attention.training import train_arm
    torch.set_num_threads(1)
    dls = digits_dls(size=DIGITS['size'], bs=DIGITS['bs'], n=DIGITS['n'], num_workers=0)
    base, _ = train_arm(dls, 'resnet18', epochs=DIGITS['epochs'], seed=DIGITS['seed'], show=False)
    cb = ProxyAttention(seed=DIGITS['seed'], verbose=False)
    proxy, _ = train_arm(dls, 'resnet18', epochs=DIGITS['epochs'], seed=DIGITS['seed'], cbs=cb, show=False)
    return base, proxy, cb

def _digits_settings(cb=None) -> dict:
    return _jsonable({k: getattr(cb, k) for k in defaults()} if cb is not None else defaults())

@image('attention_grid', f"digits ({DIGITS['n']} images, {DIGITS['size']} px), trained here")
def _attention_grid():
    from proxy_attention.viz import attention_grid
    base, _, _ = digits_learners()
    return dict(fig=attention_grid(base, n=4).plot(), settings=_digits_settings(), training=DIGITS)

@image('proxy_grid', f"digits ({DIGITS['n']} images, {DIGITS['size']} px), trained here")
def _proxy_grid():
    from proxy_attention.viz import preview_grid
    _, _, cb = digits_learners()
    return dict(fig=preview_grid(cb, n=4).plot(), settings=_digits_settings(cb), training=DIGITS,
                history=[{k: r[k] for k in ('epoch', 'wrong', 'made', 'pool')} for r in cb.history])

@image('attention_compare', f"digits ({DIGITS['n']} images, {DIGITS['size']} px), trained here")
def _attention_compare():
    from proxy_attention.viz import compare_grid
    base, proxy, cb = digits_learners()
    return dict(fig=compare_grid({'baseline': base, 'proxy': proxy}, n=4).plot(), settings=_digits_settings(cb),
                training=DIGITS)

@image('flowers12-agreement', 'results/flowers12-canonical and results/flowers12-vit-ref: their recorded final weights '
                              '(models/, hash checked) on the flowers12 test images; nothing trained')
def _agreement():
    from proxy_attention.questions import agreement_grid
    cnn, vit = ROOT/'results'/'flowers12-canonical', ROOT/'results'/'flowers12-vit-ref'
    for f in (cnn, vit):
        if not (f/'models').is_dir():
            raise SystemExit(f"make_images.py: flowers12-agreement needs the recorded weights in {f}/models (kept where "
                             "they were trained: scripts/thesis_regime.py canonical, vit-ref)")
    fin = final_rows(read_results(cnn/'results.csv'))
    arms = tuple(a for a in ('baseline', 'proxy', 'randomcam') if ((fin['arm'] == a) & (fin['seed'] == 0)).any())
    grid = agreement_grid(cnn, vit, arms=arms, seed=0)
    return dict(fig=grid.plot(size=1.3), settings={}, runs=[dict(run=a, arm=a, settings={}, seeds=1) for a in arms])

def tuner_controls(tuner) -> dict:
    "Each control of a `ProxyTuner`: its label, and the values its options give `ProxyAttention` (as `settings` says)"
    out = {}
    for attr, w in vars(tuner).items():
        if not attr.startswith('w_') or not any(w is c for c in tuner.controls): continue
        name, entry = attr[2:], dict(label=w.description)
        if hasattr(w, 'options'):
            old, values = w.value, []
            for o in w.options:
                w.value = o[1] if isinstance(o, tuple) else o
                values.append(tuner.settings.get(name, w.value))
            w.value = old
            entry['options'] = values
        if getattr(w, 'placeholder', ''): entry['placeholder'] = w.placeholder
        out[name] = _jsonable(entry)
    return out

def small_tuner():
    "A `ProxyTuner` over an untrained resnet18 on 64 digits: the controls without the training (seconds)"
    from proxy_attention.data import digits_dls
    from proxy_attention.training import make_learner
    from proxy_attention.tuner import ProxyTuner
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return ProxyTuner(make_learner(digits_dls(size=64, bs=32, n=64, num_workers=0), 'resnet18', seed=0))

@image('tuner', 'digits, trained here (scripts/tuner_screenshot.py: voila and Chromium)')
def _tuner():
    with tempfile.TemporaryDirectory() as d:
        texts = Path(d)/'texts.json'
        subprocess.run([sys.executable, str(ROOT/'scripts'/'tuner_screenshot.py'), '--out', str(IMAGES/'tuner.png'),
                        '--texts', str(texts)], check=True, cwd=ROOT)
        shown = json.loads(texts.read_text())
    t = small_tuner()
    return dict(fig=None, settings=_jsonable(t.settings), controls=tuner_controls(t), texts=shown['texts'],
                training=shown['notebook'], compare=shown['status'])

# ------------------------------------------------------------------------------------------- the manifest
def _sha256(p:Path) -> str: return hashlib.sha256(p.read_bytes()).hexdigest()

def make(name:str) -> dict:
    "Make images/<name>.png; its manifest entry"
    spec, t = IMAGE_MAKERS[name], time.time()
    out = spec['make']()
    fig, path = out.pop('fig'), IMAGES/f"{name}.png"
    if fig is not None:
        out['texts'] = drawn_texts(fig)
        save_figure(fig, path)
        import matplotlib.pyplot as plt
        plt.close(fig)
    return dict(file=f"images/{name}.png", command=f"python scripts/make_images.py --only {name}",
                function=f"scripts/make_images.py:{spec['make'].__name__}", source=spec['source'],
                commit=code_commit(), sha256=_sha256(path), seconds=round(time.time() - t, 1), **out)

def read_manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', metavar='NAME', help=f"only these images: {', '.join(IMAGE_MAKERS)}")
    p.add_argument('--list', action='store_true', help='list the images and their sources, make nothing')
    a = p.parse_args()
    if a.list:
        for n, s in IMAGE_MAKERS.items(): print(f"images/{n}.png  <- {s['source']}")
        return
    names = a.only or list(IMAGE_MAKERS)
    unknown = [n for n in names if n not in IMAGE_MAKERS]
    if unknown: p.error(f"--only: unknown image(s) {', '.join(unknown)}; the images are {', '.join(IMAGE_MAKERS)}")
    manifest = read_manifest()
    for n in names:
        new, old = make(n), manifest.get(n)
        # an image drawn again as it was, from the same runs, keeps its entry: the commit it was first made at; unless
        # that was uncommitted code ('+dirty') and this is a clean commit, which now says what code makes it
        same = old is not None and all(old.get(k) == v for k, v in new.items() if k not in ('commit', 'seconds'))
        cleaner = same and str(old.get('commit', '')).endswith('+dirty') and not str(new['commit']).endswith('+dirty')
        manifest[n] = old if same and not cleaner else new
        print(f"images/{n}.png: {new['seconds']}s" + (' (the same, now from a clean commit)' if cleaner else
                                                       ' (unchanged)' if same else ''), flush=True)
        MANIFEST.write_text(json.dumps({k: manifest[k] for k in IMAGE_MAKERS if k in manifest}, indent=1) + '\n')

if __name__ == '__main__': main()
