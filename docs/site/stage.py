"""Stage the docs site's sources in `_proc/site/`, laid out as the repository is, so that relative links between the
README, the notebooks, the guides and `images/` resolve as they do on disk.

Notebooks are converted without running anything: nbdev's cell directives (`#| export`, `#| hide`, ...) are read and
dropped, hidden cells removed, exported code folded (the API reference has the signatures), and outputs kept as
stored. Widget outputs and widget state are left out: they need JavaScript from a CDN to show.
Usage: `python docs/site/stage.py` from the repository root (scripts/build_docs.sh runs it)."""
import re, shutil, sys
from pathlib import Path
sys.modules.setdefault('rfc3987_syntax', None)   # jsonschema's optional URI checker: ~2 s to import (see conf.py)
import nbformat

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT/'_proc'/'site'
PAGES = ['docs/guide.md', 'results/README.md', 'DEVELOPMENT.md']   # Markdown pages, staged as they are
WIDGET = 'application/vnd.jupyter.widget-view+json'
DROP = {'hide', 'default_exp', 'include: false'}   # cells the reader never sees
FOLD = {'export', 'exports', 'exporti', 'code-fold: true'}   # code the API reference documents: folded, one click away
TAGS = {'echo: false': 'remove-input', 'output: false': 'remove-output'}
TUTORIALS = ['quickstart', 'cnn_vit', 'tuning', 'experiments']   # the README's order; others follow by name

def directives(src):
    "(nbdev/Quarto cell options at the top of a code cell, the source without them)"
    lines = src.splitlines()
    opts = []
    while lines and re.match(r'\s*#\|', lines[0]): opts.append(re.sub(r'\s*#\|\s*', '', lines.pop(0)).strip().lower())
    return opts, '\n'.join(lines)

def convert(nb):
    "The notebook as the site shows it: directives read and dropped, hidden cells out, widget outputs out"
    cells, module = [], None
    for c in nb.cells:
        if c.cell_type == 'code':
            opts, c.source = directives(c.source)
            module = module or next((o.split()[1] for o in opts if o.startswith('default_exp ')), None)
            keys = {o.split()[0] for o in opts if o} | set(opts)
            if keys & DROP or not c.source.strip(): continue
            tags = set(c.metadata.get('tags', []))
            if keys & FOLD: tags.add('hide-input')
            tags |= {t for o, t in TAGS.items() if o in opts}
            c.metadata = {'tags': sorted(tags)} if tags else {}
            c.outputs = [o for o in c.get('outputs', []) if WIDGET not in o.get('data', {})]
        else:
            c.metadata = {}
        cells.append(c)
    if module and cells and cells[0].cell_type == 'markdown':   # after the title: where its API reference is
        ref = f'{{doc}}`API reference of proxy_attention.{module} </api/proxy_attention/{module}/index>`'
        cells.insert(1, nbformat.v4.new_markdown_cell(ref))
    nb.cells = cells
    nb.metadata.pop('widgets', None)
    return nb

def linked_pages():
    "Stage the repository's other Markdown pages that a staged page links to (results/benchmark_cpu.md), off the menu"
    for page in list(OUT.rglob('*.md')) + list(OUT.rglob('*.ipynb')):
        for link in re.findall(r'\]\(([^)#\s]+\.md)(?:#[^)]*)?\)', page.read_text(encoding='utf-8')):
            src, dst = (ROOT/page.parent.relative_to(OUT)/link).resolve(), (page.parent/link).resolve()
            if src.is_file() and src.is_relative_to(ROOT) and not dst.exists() and dst.is_relative_to(OUT):
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text('---\norphan: true\n---\n\n' + src.read_text(encoding='utf-8'), encoding='utf-8')

def toctree(caption, docs):
    return f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + '\n'.join(docs) + '\n```\n'

def stage():
    if OUT.exists(): shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    api = sorted(p for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))
    tutorials = sorted((ROOT/'nbs'/'tutorials').glob('*.ipynb'),
                       key=lambda p: (TUTORIALS.index(p.stem) if p.stem in TUTORIALS else len(TUTORIALS), p.stem))
    for p in api + tutorials:
        dst = OUT/p.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(convert(nbformat.read(p, as_version=4)), dst)
    for page in PAGES:
        (OUT/page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT/page, OUT/page)
    shutil.copytree(ROOT/'images', OUT/'images')
    # the home page is the README's notebook; its hidden tables of contents are the site's navigation
    home = convert(nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4))
    nav = (toctree('Tutorials', [str(p.relative_to(ROOT).with_suffix('')) for p in tutorials]) +
           toctree('Guide and results', [p.removesuffix('.md') for p in PAGES]) +
           toctree('API notebooks', [str(p.relative_to(ROOT).with_suffix('')) for p in api]) +
           toctree('API reference', ['api/proxy_attention/index']))
    home.cells.append(nbformat.v4.new_markdown_cell(nav))
    nbformat.write(home, OUT/'index.ipynb')
    linked_pages()
    print(f'{OUT.relative_to(ROOT)}: {len(api)} API notebooks, {len(tutorials)} tutorials, {len(PAGES)} pages, home')

if __name__ == '__main__': sys.exit(stage())
