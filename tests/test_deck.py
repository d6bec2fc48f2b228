"""The results deck builds into an offline reveal.js slideshow that a browser opens without any network, and every slide
fits 1280 x 720: no element runs off it, at most 6 bullets, every picture loaded"""
import os, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]
CACHE = Path(os.environ.get('REVEAL_CACHE', Path.home()/'.cache'/'proxy_attention'/'reveal'))
have_reveal = shutil.which('npm') is not None or (CACHE/'node_modules'/'reveal.js'/'dist'/'reveal.js').exists()
W, H = 1280, 720

# one slide, shown alone (no transition): what of it lies outside the slide's box, its title, bullets, unloaded pictures
MEASURE = """(i) => {
  const s = Reveal.getSlides()[i], at = Reveal.getIndices(s);
  Reveal.slide(at.h, at.v);
  Reveal.layout();
  const box = document.querySelector('.reveal .slides').getBoundingClientRect(), out = [];
  for (const el of s.querySelectorAll('*')) {
    const r = el.getBoundingClientRect(), st = getComputedStyle(el);
    if ((r.width === 0 && r.height === 0) || st.display === 'none' || st.visibility === 'hidden') continue;
    const by = Math.max(r.bottom - box.bottom, r.right - box.right, box.left - r.left, box.top - r.top);
    if (by > 1) out.push(`${el.tagName.toLowerCase()}.${el.className} "${(el.textContent || el.src || '').trim()
                              .slice(0, 60)}" by ${Math.round(by)}px`);
  }
  const h = s.querySelector('h1, h2, h3');
  return {title: h ? h.textContent.replace('¶', '').trim() : '', overflow: out.slice(0, 4),
          bullets: s.querySelectorAll('li').length,
          unloaded: [...s.querySelectorAll('img')].filter(im => !im.complete || !im.naturalWidth).length,
          box: [box.width, box.height], text: s.innerText};
}"""

@pytest.mark.skipif(not shutil.which('chromium') or not have_reveal,
                    reason='needs chromium and npm (or a cached reveal.js)')
def test_deck_builds_opens_offline_and_every_slide_fits():
    env = {**os.environ, 'PYTHONPATH': str(ROOT),
           'PATH': f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(['bash', str(ROOT/'scripts'/'build_deck.sh')], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
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
            page = b.new_context(offline=True, viewport={'width': W, 'height': H}).new_page()
            failed, errors = [], []
            page.on('requestfailed', lambda q: failed.append(q.url))
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_selector('.reveal.ready', timeout=30000)
            page.evaluate("window.Reveal = require('vendor/reveal.js/dist/reveal.js');"   # the template's AMD module
                          "Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
            title = page.evaluate("document.querySelector('section.present h1').textContent")
            slides = [page.evaluate(MEASURE, i) for i in range(page.evaluate("Reveal.getSlides().length"))]
            assert errors == [] and failed == []
        finally: b.close()
    assert len(slides) >= 10 and 'Proxy Attention, measured' in title
    assert all(abs(s['box'][0] / s['box'][1] - W / H) < 0.01 for s in slides)   # the slides are 1280 x 720
    bad = {f"{i}: {s['title']}": s['overflow'] for i, s in enumerate(slides) if s['overflow']}
    assert bad == {}, f"elements run off their slide at {W} x {H}: {bad}"
    assert [(s['title'], s['bullets']) for s in slides if s['bullets'] > 6] == []
    assert [s['title'] for s in slides if s['unloaded']] == []
    # one slide per thesis question, each with its one-line answer, then the controls and what changed from the thesis
    titles = [s['title'] for s in slides]
    for q in ('1. Can attention maps make an augmentation?', "2. Can a CNN approximate a ViT's attention?",
              '3. Does it converge faster, and so need fewer data?', '4. Does it improve explanations?',
              'The controls: the map, the darkening, or where?', 'What changed from the thesis'):
        assert q in titles, titles
    answer = re.compile(r'^(Not measured yet|Not answered yet|Yes|No gain measured|No sign|No, )', re.M)
    for s in slides:
        if s['title'][:2] in ('1.', '2.', '3.', '4.'): assert answer.search(s['text']), s['text']
    # a canonical table still filling up is paired on the seeds every arm has (one seed set, one Holm family)
    from proxy_attention.reporting import common_seeds
    from proxy_attention.storage import read_results
    canon = ROOT/'results'/'flowers12-canonical'/'results.csv'
    if canon.exists():
        common = common_seeds(read_results(canon))
        paired_on = f"on seed{'s' if len(common) != 1 else ''} {', '.join(map(str, common))}, which every arm has"
        assert paired_on in slides[titles.index('The canonical table')]['text']
    # each question's slide answers in the README's words and numbers (scripts/four_questions.py, the same rows)
    sys.path.insert(0, str(ROOT/'scripts'))
    import four_questions
    texts = four_questions.answer_texts(ROOT)
    flat = lambda t: re.sub(r'\s+', ' ', t)
    for q, (word, rest) in texts.items():
        slide = next(s for s in slides if s['title'].startswith(f"{q}. "))
        assert flat(f"{word}: {rest}" if rest else word) in flat(slide['text']), (word, rest, slide['text'])
    changed = slides[titles.index('What changed from the thesis')]['text']
    assert all(w in changed for w in ('From scratch', 'pretrained', '160 px', 'Seeds'))
