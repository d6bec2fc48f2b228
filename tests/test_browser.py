"The tuner in a real browser: a notebook served by voila, driven with Playwright and Debian's Chromium"
import os, shutil, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

CHROMIUM = shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
try: from playwright.sync_api import sync_playwright
except ImportError: sync_playwright = None
try: import voila
except ImportError: voila = None

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason='needs chromium (apt-get install chromium)'),
              pytest.mark.skipif(sync_playwright is None or voila is None, reason='needs playwright and voila')]

REPO = Path(__file__).resolve().parents[1]
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-dev-shm-usage']

NOTEBOOK = '''
import warnings; warnings.filterwarnings('ignore')
import torch; torch.set_num_threads(1)
from proxy_attention.data import digits_dls
from proxy_attention.training import make_learner
from proxy_attention.tuner import ProxyTuner
dls = digits_dls(size=64, bs=32, n=160, num_workers=0)
learn = make_learner(dls, 'resnet18', pretrained=False, seed=0)
with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 2e-3)
tuner = ProxyTuner(learn, n=4, threshold=0.9, replacement='mean', epochs=4)
tuner
'''

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def write_notebook(folder:Path) -> Path:
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK.strip())])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    path = folder / 'tuner.ipynb'
    nbformat.write(nb, path)
    return path

@pytest.fixture
def voila_url(tmp_path):
    "Serve the tuner notebook with voila on 127.0.0.1 (this checkout's `proxy_attention` first on the path)"
    nb, port = write_notebook(tmp_path), free_port()
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]), 'MPLBACKEND': 'Agg'}
    log = open(tmp_path / 'voila.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'voila', str(nb), '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1',
                             '--show_tracebacks=True', f'--Voila.root_dir={tmp_path}'],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}/'
    try:
        for _ in range(120):
            if proc.poll() is not None: pytest.fail(f"voila exited: {(tmp_path / 'voila.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1): break   # listening: ready (a page request would run the notebook)
            except OSError: time.sleep(0.5)
        else: pytest.fail('voila did not start in 60 s')
        yield url
    finally:
        proc.terminate()                      # voila shuts its kernel down on SIGTERM
        try: proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # its own session: voila and the kernel it started
            proc.wait()
        log.close()

def srcs(page, cls): return page.eval_on_selector_all(f'.pa-preview img.{cls}', 'els => els.map(e => e.src)')
def snippet(page): return page.inner_text('.pa-snippet pre').strip()

def test_tuner_threshold_slider_updates_preview_and_snippet(voila_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={'width': 1100, 'height': 1500})
            page.goto(voila_url, timeout=180_000)
            page.wait_for_selector('.pa-snippet pre', timeout=180_000)
            assert snippet(page) == "ProxyAttention(threshold=0.9, replacement='mean')"
            originals, before = srcs(page, 'pa-original'), srcs(page, 'pa-proxy')
            assert len(originals) == len(before) == 4 and all(s.startswith('data:image/png;base64,') for s in before)
            assert before != originals            # at 0.9 the hottest pixels become the image's mean

            handle = page.locator('.pa-threshold .noUi-handle')
            handle.focus()
            handle.press('End')                   # threshold 1.0: no pixel is above it, the proxies are the originals
            page.wait_for_function("() => document.querySelector('.pa-snippet pre').innerText.trim() === \"ProxyAttention(threshold=1.0, replacement='mean')\"", timeout=30_000)
            page.wait_for_function("() => { const o = [...document.querySelectorAll('.pa-preview img.pa-original')].map(e => e.src);"
                                   " const p = [...document.querySelectorAll('.pa-preview img.pa-proxy')].map(e => e.src);"
                                   " return o.length === 4 && o.every((s, i) => s === p[i]); }", timeout=30_000)
            assert srcs(page, 'pa-original') == originals

            for _ in range(5): handle.press('ArrowLeft')   # five steps of 0.01
            page.wait_for_function("() => document.querySelector('.pa-snippet pre').innerText.trim() === \"ProxyAttention(threshold=0.95, replacement='mean')\"", timeout=30_000)
            page.wait_for_function("() => { const o = [...document.querySelectorAll('.pa-preview img.pa-original')].map(e => e.src);"
                                   " const p = [...document.querySelectorAll('.pa-preview img.pa-proxy')].map(e => e.src);"
                                   " return p.some((s, i) => s !== o[i]); }", timeout=30_000)
            assert page.inner_text('.pa-threshold .widget-readout').strip() == '0.95'

            page.fill('.pa-schedule input', '5,p,9,p,4')
            page.press('.pa-schedule input', 'Enter')
            page.wait_for_selector('.pa-message >> text=spans 20 epochs', timeout=30_000)
            page.fill('.pa-schedule input', '1,p,2')
            page.press('.pa-schedule input', 'Enter')
            page.wait_for_function("() => document.querySelector('.pa-snippet pre') && document.querySelector('.pa-snippet pre').innerText.includes(\"schedule=[1, 'p', 2]\")", timeout=30_000)
            assert snippet(page) == "ProxyAttention(threshold=0.95, replacement='mean', schedule=[1, 'p', 2])"
            assert page.inner_text('.pa-message').strip() == ''

            # Compare trains in a thread: the panel keeps answering while it runs, then shows the curves
            page.fill('.pa-epochs input', '2'); page.press('.pa-epochs input', 'Enter')
            page.fill('.pa-schedule input', 'p,1'); page.press('.pa-schedule input', 'Enter')
            page.wait_for_function("() => document.querySelector('.pa-snippet pre') && document.querySelector('.pa-snippet pre').innerText.includes(\"schedule=['p', 1]\")", timeout=30_000)
            page.click('.pa-compare')
            handle.focus(); handle.press('ArrowLeft')
            page.wait_for_function("() => document.querySelector('.pa-snippet pre').innerText.trim() === \"ProxyAttention(threshold=0.94, replacement='mean', schedule=['p', 1])\"", timeout=30_000)
            assert 'training' in page.inner_text('.pa-status')   # the preview followed the slider while the arms trained
            page.wait_for_selector('.pa-status >> text=after 2 epochs', timeout=120_000)
            assert 'proxy' in page.inner_text('.pa-status') and 'failed' not in page.inner_text('.pa-status')
            assert page.get_attribute('.pa-plot', 'src').startswith('blob:') or page.eval_on_selector('.pa-plot', 'e => e.naturalWidth') > 0
            page.wait_for_function("() => document.querySelector('.pa-plot').naturalWidth > 100", timeout=30_000)
            assert page.get_attribute('.pa-progress .progress-bar', 'style').replace(' ', '').count('width:100%') == 1

            # a screenshot of the panel renders (the README's, at a realistic setting, is scripts/tuner_screenshot.py's)
            shot = tmp_path/'tuner.png'
            page.locator('.pa-tuner').screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally: browser.close()
