"""The docs site builds offline (scripts/build_docs.sh -> _site/) and every page opens in a browser without a network:
a tutorial shows its stored figure, the API reference lists `ProxyAttention` with its settings, no request fails or
leaves the machine, no script error."""
import os, shutil, subprocess, sys, time
from importlib.util import find_spec
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]
SITE = ROOT/'_site'
TOOLS = ('sphinx', 'myst_nb', 'sphinx_book_theme', 'autoapi', 'playwright')
missing = [m for m in TOOLS if find_spec(m) is None]

@pytest.fixture(scope='module')
def site():
    env = {**os.environ, 'PYTHON': sys.executable,
           'PATH': f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    t = time.time()
    r = subprocess.run(['bash', str(ROOT/'scripts'/'build_docs.sh')], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    print(f'site built in {time.time() - t:.1f} s')
    return SITE

def browse(pages):
    "Open each page offline in Chromium: {page: (what `probe` found)}, every request made, failed ones, script errors"
    from playwright.sync_api import sync_playwright
    args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run']
    seen, failed, errors, found = [], [], [], {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which('chromium'), args=args)
        try:
            page = b.new_context(offline=True).new_page()
            page.on('request', lambda q: seen.append(q.url))
            page.on('requestfailed', lambda q: failed.append(f'{q.url} ({q.failure})'))
            page.on('pageerror', lambda e: errors.append(str(e)))
            for rel, probe in pages.items():
                page.goto((SITE/rel).as_uri(), wait_until='load')
                found[rel] = page.evaluate(probe) if probe else None
        finally: b.close()
    return found, seen, failed, errors

# every <img> of the page: (loaded with a width, inside a notebook cell's output)
IMAGES = "[...document.images].map(i => [i.complete && i.naturalWidth > 0, !!i.closest('.cell_output')])"
# the class's entry in the reference: its own text and its parameter list
API = """(() => { const dt = document.getElementById('proxy_attention.callback.ProxyAttention');
  return dt ? [dt.textContent, dt.parentElement.querySelector(':scope > dd').textContent] : null; })()"""

@pytest.mark.browser
@pytest.mark.skipif(not shutil.which('chromium') or bool(missing),
                    reason=f"needs chromium and the dev extras' docs tools (missing: {', '.join(missing) or 'none'})")
def test_docs_site_builds_and_opens_offline(site):
    built = {p.relative_to(site).as_posix() for p in site.rglob('*.html') if '_static' not in p.parts}
    # one page of every kind (they share one template; build_docs.sh greps every page for an address on the network)
    pages = {'index.html': IMAGES, 'nbs/tutorials/quickstart.html': IMAGES, 'nbs/tutorials/tuning.html': IMAGES,
             'nbs/tutorials/experiments.html': IMAGES, 'nbs/03_callback.html': None, 'docs/guide.html': IMAGES,
             'results/README.html': None, 'DEVELOPMENT.html': None, 'api/proxy_attention/callback/index.html': API,
             'search.html': None, 'genindex.html': None}
    assert set(pages) <= built, sorted(set(pages) - built)
    notebooks = [p for p in (ROOT/'nbs').rglob('*.ipynb') if p.name[0].isdigit() or p.parent.name == 'tutorials']
    assert {(p.relative_to(ROOT).with_suffix('.html')).as_posix() for p in notebooks} <= built   # every one of them
    found, seen, failed, errors = browse(pages)
    assert errors == [] and failed == []
    assert [u for u in seen if not u.startswith('file://')] == []
    assert len(seen) > len(pages)   # the pages' own style sheets, scripts and images were asked for, from _site/
    for page in ('nbs/tutorials/quickstart.html', 'nbs/tutorials/experiments.html'):   # figures stored in outputs
        figures = found[page]
        assert [ok for ok, in_output in figures if in_output] and all(ok for ok, _ in figures), (page, figures)
    for page in ('index.html', 'docs/guide.html'):   # figures from images/
        assert found[page] and all(ok for ok, _ in found[page]), (page, found[page])
    assert found['api/proxy_attention/callback/index.html'], 'ProxyAttention is not in the API reference'
    signature, params = found['api/proxy_attention/callback/index.html']
    assert 'threshold' in signature and 'weight' in signature and 'schedule' in signature
    # the settings' documentation, read from the docments in the source
    assert 'CAM value above which a pixel is replaced' in params and 'How strongly' in params
