"The results deck builds into an offline reveal.js slideshow that a browser opens without any network"
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]
CACHE = Path(os.environ.get('REVEAL_CACHE', Path.home()/'.cache'/'proxy_attention'/'reveal'))
have_reveal = shutil.which('npm') is not None or (CACHE/'node_modules'/'reveal.js'/'dist'/'reveal.js').exists()

@pytest.mark.skipif(not shutil.which('chromium') or not have_reveal, reason='needs chromium and npm (or a cached reveal.js)')
def test_deck_builds_and_opens_offline():
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'PATH': f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(['bash', str(ROOT/'scripts'/'build_deck.sh')], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    html = ROOT/'deck'/'index.slides.html'
    text = html.read_text()
    assert 'vendor/reveal.js/dist/reveal.js' in text and 'https://cdnjs' not in text
    from playwright.sync_api import sync_playwright
    args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
            '--disable-sync', '--no-first-run']
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which('chromium'), args=args)
        try:
            page = b.new_context(offline=True).new_page()
            failed, errors = [], []
            page.on('requestfailed', lambda q: failed.append(q.url))
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_selector('.reveal.ready', timeout=30000)
            n = page.evaluate("document.querySelectorAll('.reveal .slides section').length")
            title = page.evaluate("document.querySelector('section.present h1').textContent")
            for _ in range(4): page.keyboard.press('ArrowRight')
            page.wait_for_timeout(300)
            assert errors == [] and failed == []
        finally: b.close()
    assert n >= 10 and 'Proxy Attention, measured' in title
