"""The tuner screenshot (images/tuner.png, made through scripts/make_images.py): 256 of the built-in digits at 64 px in
batches of 16, a ResNet-18 trained 3 epochs, the tuner at its defaults (today's controls), and its Compare button's
4-epoch baseline vs proxy run (the default schedule's two proxy steps, the second trained on the first's images).

Serves a notebook with voila on 127.0.0.1 and drives it with Playwright and Debian's chromium, as tests/test_browser.py
does; with --texts, writes the text the page shows (labels, options, placeholders, messages) as JSON.
Usage: python scripts/tuner_screenshot.py [--out images/tuner.png] [--texts FILE.json]"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = '''
import warnings; warnings.filterwarnings('ignore')
import torch; torch.set_num_threads(1)   # a small model: one thread is fastest on a shared CPU
from proxy_attention.data import digits_dls
from proxy_attention.training import make_learner
from proxy_attention.tuner import ProxyTuner
dls = digits_dls(size=64, bs=16, n=256, num_workers=0)
learn = make_learner(dls, 'resnet18', pretrained=False, seed=42)
with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 2e-3)
tuner = ProxyTuner(learn, epochs=4)
tuner.widget
'''

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(REPO/'images'/'tuner.png'))
    p.add_argument('--texts', help="write the text the page shows here (JSON), for images/manifest.json")
    p.add_argument('--log', default='/tmp/tuner_screenshot_voila.log', help="voila's output, to read when it fails")
    a = p.parse_args()
    chromium = shutil.which('chromium') or '/usr/bin/chromium'
    from playwright.sync_api import sync_playwright
    import nbformat
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK.strip())])
        nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
        nbformat.write(nb, d/'tuner.ipynb')
        with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
        log = open(a.log, 'w')
        env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]), 'MPLBACKEND': 'Agg'}
        proc = subprocess.Popen([sys.executable, '-m', 'voila', str(d/'tuner.ipynb'), '--no-browser', f'--port={port}',
                                 '--Voila.ip=127.0.0.1', f'--Voila.root_dir={d}', '--show_tracebacks=True'], cwd=d, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for _ in range(120):
                try:
                    with socket.create_connection(('127.0.0.1', port), timeout=1): break
                except OSError: time.sleep(0.5)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=['--headless', '--no-sandbox', '--disable-gpu'])
                page = browser.new_page(viewport={'width': 1100, 'height': 1500})
                t = time.time()
                page.goto(f'http://127.0.0.1:{port}/', timeout=600_000)
                page.wait_for_selector('.pa-snippet pre', timeout=600_000)
                print(f"tuner ready after {time.time() - t:.0f}s; comparing 4 epochs", flush=True)
                page.click('.pa-compare')
                page.wait_for_function("() => /after 4 epochs|failed|cannot compare/.test("
                                       "document.querySelector('.pa-status').innerText)", timeout=900_000)
                if 'after 4 epochs' not in (status := page.inner_text('.pa-status')):
                    sys.exit(f"tuner_screenshot.py: the tuner's comparison did not finish: {status.strip()}")
                page.wait_for_function("() => document.querySelector('.pa-plot').naturalWidth > 100", timeout=60_000)
                print(page.inner_text('.pa-status').strip())
                Path(a.out).parent.mkdir(parents=True, exist_ok=True)
                page.locator('.pa-tuner').screenshot(path=a.out)
                if a.texts:   # what a reader sees: every label, option, placeholder and message of the panel
                    texts = page.evaluate("""() => {
                        const r = document.querySelector('.pa-tuner'), out = [r.innerText];
                        r.querySelectorAll('option').forEach(o => out.push(o.textContent));
                        r.querySelectorAll('input[placeholder]').forEach(i => out.push(i.placeholder));
                        r.querySelectorAll('input[type=text], input[type=number]').forEach(i => out.push(i.value));
                        return out; }""")
                    lines = [l.strip() for t in texts for l in t.split('\n') if l.strip()]
                    Path(a.texts).write_text(json.dumps(dict(texts=list(dict.fromkeys(lines)), notebook=NOTEBOOK.strip(),
                                                             status=page.inner_text('.pa-status').strip())))
                browser.close()
            print(f"{a.out}: {Path(a.out).stat().st_size} bytes, {time.time() - t:.0f}s")
        finally:
            log.close()
            proc.terminate()
            try: proc.wait(15)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, 9)

if __name__ == '__main__': main()
