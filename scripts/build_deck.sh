#!/usr/bin/env bash
# Build the results deck (nbs/deck.ipynb) into an offline reveal.js slideshow: deck/index.slides.html (+ deck/vendor).
# reveal.js@4, require.js and jQuery come from npm once, into a cache outside the repository ($REVEAL_CACHE),
# and are copied next to the HTML, so the folder deck/ opens without a network.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${REVEAL_CACHE:-$HOME/.cache/proxy_attention/reveal}"
NM="$CACHE/node_modules"
if [ ! -f "$NM/reveal.js/dist/reveal.js" ] || [ ! -f "$NM/requirejs/require.js" ] || [ ! -f "$NM/jquery/dist/jquery.min.js" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm install --no-save --no-audit --no-fund reveal.js@4 requirejs@2 jquery@3)
fi
rm -rf deck/vendor && mkdir -p deck/vendor/reveal.js
cp -r "$NM/reveal.js/dist" "$NM/reveal.js/plugin" deck/vendor/reveal.js/
cp "$NM/requirejs/require.js" "$NM/jquery/dist/jquery.min.js" deck/vendor/
# the deck has no maths: a stub for the MathJax calls of nbconvert's reveal template instead of MathJax from a CDN
echo 'window.MathJax = {Hub: {getAllJax: function () { return []; }, Rerender: function () {}, Queue: function () {}, Config: function () {}}};' > deck/vendor/no-mathjax.js
# slide types: a cell's `slideshow` metadata, else its marker (`<!-- slide_type: X -->` / `# slide_type: X`), which
# survives `nbdev_clean` where the metadata may not
python - <<'PY'
import re, nbformat
nb = nbformat.read('nbs/deck.ipynb', as_version=4)
for c in nb.cells:
    m = re.search(r'^(?:<!--|#)\s*slide_type:\s*([-\w]+)', c.source, re.M)
    if m and 'slideshow' not in c.metadata: c.metadata['slideshow'] = {'slide_type': m.group(1)}
nbformat.write(nb, 'deck/index.ipynb')
PY
jupyter nbconvert --to slides --execute --no-input deck/index.ipynb --output-dir deck --output index \
  --SlidesExporter.reveal_url_prefix=vendor/reveal.js --SlidesExporter.require_js_url=vendor/require.js \
  --SlidesExporter.jquery_url=vendor/jquery.min.js --SlidesExporter.mathjax_url=vendor/no-mathjax.js --SlidesExporter.reveal_theme=white \
  --SlidesExporter.reveal_width=1280 --SlidesExporter.reveal_height=720
out=deck/index.slides.html
# the deck has no mermaid diagrams: drop nbconvert's CDN mermaid import so nothing reaches for the network; slides of
# 1280 x 720 with text sized for a table or a figure beside a few lines (nbconvert's 160% is for three lines a slide)
python - "$out" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p, encoding='utf-8').read()
s = re.sub(r'<script type="module">\s*import mermaid from .*?</script>', '', s, flags=re.S)
css = """<style type="text/css">
.reveal { font-size: 100%; }
.reveal h1 { font-size: 2.2em; } .reveal h2 { font-size: 1.6em; } .reveal h3 { font-size: 1.25em; }
.reveal h1, .reveal h2, .reveal h3 { margin-bottom: 0.3em; }
.reveal p, .reveal li { font-size: 24px; line-height: 1.3; }
.reveal table { font-size: 18px; } .reveal pre { font-size: 18px; }
.reveal .jp-OutputArea-output img { margin: 0.2em 0; }
</style>
"""
open(p, 'w', encoding='utf-8').write(s.replace('</head>', css + '</head>', 1))
PY
grep -q '"vendor/reveal.js/dist/reveal.js"' "$out" || { echo "no local reveal.js in $out" >&2; exit 1; }
if grep -qE 'src="https?://|from .https?://' "$out"; then echo "$out still loads scripts from the network:" >&2; grep -o 'src="https\?://[^"]*"' "$out" >&2; exit 1; fi
echo "$out: $(grep -c '<section' "$out") slide sections, scripts local; open it in a browser (works offline)"
