"""The images of the README, the docs and the deck are made by scripts/make_images.py (images/manifest.json says how),
and none shows an option the library no longer has or a path of the machine that made it"""
import hashlib, json, re, sys
from pathlib import Path
from proxy_attention.callback import check_settings
from proxy_attention.core import check_schedule
from proxy_attention.experiments import ARMS

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT/'scripts'))
import make_images

MANIFEST = json.loads((ROOT/'images'/'manifest.json').read_text())
SETTINGS = make_images.setting_names()   # the callback's table of its settings
# a path of some machine: absolute or relative (`../shared/data/flowers12`, `/home/x`, `C:\\`), or three or more parts
PATH = re.compile(r"(?:^|[\s(\[{'\"=`:])(?:\.{1,2}/|~/|/\w)|\b[A-Za-z]:\\|\w+/\w+/\w+")
SETTING_TEXT = re.compile(r"\b(" + '|'.join(map(re.escape, sorted(SETTINGS, key=len, reverse=True))) + r")=([^\s(]+)")

def _value(v:str):
    v = v.rstrip(',;:)')
    try: return float(v)
    except ValueError: return v

def problems(name:str, entry:dict) -> list:
    "What is wrong with one manifest entry: settings, arms or options the library no longer has, machine paths"
    out = []
    def check(what, **settings):
        try: check_settings(**settings)
        except ValueError as e: out.append(f"{name}: {what}: {e}")
    check('settings', **entry.get('settings', {}))
    for r in entry.get('runs', []):
        if r['arm'] not in ARMS: out.append(f"{name}: run {r['run']!r}: arm {r['arm']!r} is not one of {ARMS}")
        check(f"run {r['run']!r}", **r['settings'])
    for control, c in entry.get('controls', {}).items():
        if control in SETTINGS:
            for v in c.get('options', []): check(f"control {control!r}", **{control: v})
        for example in c.get('placeholder', '').split(';'):   # 'default; 2; 5,p,9,p,4': each example a schedule
            example = example.strip()
            if control == 'schedule' and example and example != 'default':
                try: check_schedule(example)
                except ValueError as e: out.append(f"{name}: schedule placeholder example {example!r}: {e}")
    for t in entry.get('texts', []):
        if PATH.search(t): out.append(f"{name}: drawn text {t!r} holds a path")
        for k, v in SETTING_TEXT.findall(t):
            if v.rstrip(',;:)') not in ('default', '') and k != 'schedule': check(f"drawn text {t!r}", **{k: _value(v)})
            elif k == 'schedule' and v.rstrip(',;:)') != 'default':
                try: check_schedule(v.rstrip(';:)'))
                except ValueError as e: out.append(f"{name}: drawn text {t!r}: {e}")
    # settings other than today's defaults are named in the image
    for k in make_images.non_default(entry.get('settings', {})):
        if not any(f"{k}=" in t or f"{k} " in t for t in entry.get('texts', [])):
            out.append(f"{name}: made with {k}={entry['settings'][k]!r} (not today's default) but no title says so")
    return out

def test_no_image_names_an_option_the_library_no_longer_has():
    "Every image's settings, runs, controls and drawn text pass today's `check_settings`, arms and schedule parser"
    found = [p for n, e in MANIFEST.items() for p in problems(n, e)]
    assert found == [], '\n'.join(found)

def test_problems_are_found():
    "The check itself: the removed 'plateau' schedule, a removed arm, a machine path and an unnamed setting are caught"
    entry = dict(settings={}, texts=['flowers12: accuracy'], runs=[dict(run='proxy', arm='proxy', settings={})],
                 controls={'schedule': dict(label='schedule', placeholder='default; 2; 5,p,9,p,4')})
    assert problems('x', entry) == []
    bad = {**entry, 'controls': {'schedule': dict(label='schedule', placeholder='default; 2; plateau')}}
    assert 'plateau' in ' '.join(problems('x', bad))
    assert 'plateau' in ' '.join(problems('x', {**entry, 'runs': [dict(run='plateau', arm='plateau', settings={})]}))
    assert 'path' in ' '.join(problems('x', {**entry, 'texts': ['../shared/data/flowers12, resnet18']}))
    assert 'path' in ' '.join(problems('x', {**entry, 'texts': ['data /home/me/flowers']}))
    assert problems('x', {**entry, 'texts': ['gradcam++/aug', 'threshold=0.85 (default)', 'schedule=default']}) == []
    assert 'threshold' in ' '.join(problems('x', {**entry, 'texts': ['proxy threshold=1.5']}))
    assert 'feed' in ' '.join(problems('x', {**entry, 'settings': {'feed': 'every_epoch'}}))
    said = {**entry, 'settings': {'feed': 'every_epoch'}, 'texts': ['(proxy arms: feed=every_epoch)']}
    assert problems('x', said) == []
    no_such = {**entry, 'controls': {'source': dict(label='source', options=['wrong', 'best'])}}
    assert 'source' in ' '.join(problems('x', no_such))

def _referenced() -> dict:
    "{image file name: the pages that show it}: Markdown images of the README, docs, results and notebooks; the deck's"
    pages = [ROOT/'README.md', ROOT/'results'/'README.md', *ROOT.glob('docs/**/*.md'), *ROOT.glob('nbs/*.ipynb'),
             *ROOT.glob('nbs/tutorials/*.ipynb')]
    md = re.compile(r"!\[[^\]]*\]\([^)\s]*?images/([\w.-]+\.png)\)")
    deck = re.compile(r"(?:show_image|show_figure)\(\\?['\"]([\w.-]+)")   # the deck's images and figures
    out = {}
    for p in pages:
        if not p.exists(): continue
        text = p.read_text(encoding='utf-8')
        for f in md.findall(text) + [f"{n}.png" for n in deck.findall(text)]:
            out.setdefault(f, []).append(str(p.relative_to(ROOT)))
    return out

def test_every_shown_image_is_made_by_the_script():
    "Every image a page shows is in the manifest, unchanged since the script made it"
    files = {e['file']: e for e in MANIFEST.values()}
    missing = {f: pages for f, pages in _referenced().items() if f"images/{f}" not in files}
    assert missing == {}, f"shown but not made by scripts/make_images.py: {missing}"
    for f, e in files.items():
        made = hashlib.sha256((ROOT/f).read_bytes()).hexdigest() == e['sha256']
        assert made, f"{f} changed since make_images.py made it"
        assert set(MANIFEST) <= set(make_images.IMAGE_MAKERS) and e['command'].endswith(f"--only {Path(f).stem}")
    assert {'flowers12-forest.png', 'proxy_grid.png', 'tuner.png'} <= set(_referenced())   # the pages are read

def test_tuner_screenshot_shows_todays_controls():
    "The screenshot's controls (names, options, placeholder) are those a `ProxyTuner` has now"
    assert make_images.tuner_controls(make_images.small_tuner()) == MANIFEST['tuner']['controls']

def test_canonical_forest_pairs_every_arm_on_the_seeds_all_arms_have():
    "A table still filling up: an arm with a seed the others lack is not paired on more seeds than they are"
    import results_summary
    from proxy_attention.experiments import read_results, summarize
    folder = ROOT/'results'/'flowers12-canonical'
    res = read_results(folder/'results.csv')
    # baseline and proxy on seeds 0 and 1, the replay control on seed 0 only (rows committed in the canonical folder)
    res = res[(res['arm'].isin(['baseline', 'proxy']) & res['seed'].isin([0, 1]))
              | ((res['arm'] == 'replay') & (res['seed'] == 0))]
    assert set(res.loc[res['arm'] == 'proxy', 'seed']) == {0, 1}
    labels = lambda fig: [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert 'proxy, 2 seeds' in labels(results_summary.forest(folder, res))   # each arm on its own seeds
    fig = results_summary.forest(folder, res, common_seeds=True)
    assert labels(fig) == ['replay, 1 seed', 'proxy, 1 seed'], labels(fig)
    assert 'seed 0 (every arm has them)' in fig.axes[0].get_title() and 'no interval' in fig.axes[0].get_title()
    # the point drawn is seed 0's own difference
    one = summarize(res[res['seed'] == 0])
    row = labels(fig).index('proxy, 1 seed')
    xs = [l.get_xdata()[0] for l in fig.axes[0].lines if list(l.get_ydata()) == [row]]
    assert xs and abs(xs[0] - 100 * one.set_index('arm').loc['proxy', 'diff']) < 1e-9, xs

def test_canonical_curves_draw_only_the_seeds_every_arm_has(monkeypatch):
    "A seed whose baseline has landed before its proxy arms is not drawn for the baseline alone"
    full = make_images.read_results(ROOT/'results'/'flowers12-canonical'/'results.csv')
    part = full[full['seed'].isin([0, 1]) | ((full['arm'] == 'baseline') & (full['seed'] == 2))]
    monkeypatch.setattr(make_images, 'read_results', lambda path: part)
    made = make_images.IMAGE_MAKERS['flowers12-canonical']['make']()
    assert {r['run']: r['seeds'] for r in made['runs']} == {a: 2 for a in dict.fromkeys(part['arm'])}
    assert made['rows'] == int(part['seed'].isin([0, 1]).sum())
