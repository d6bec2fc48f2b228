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
  --SlidesExporter.jquery_url=vendor/jquery.min.js --SlidesExporter.mathjax_url=vendor/no-mathjax.js --SlidesExporter.reveal_theme=white
out=deck/index.slides.html
# the deck has no mermaid diagrams: drop nbconvert's CDN mermaid import so nothing reaches for the network
python - "$out" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p, encoding='utf-8').read()
open(p, 'w', encoding='utf-8').write(re.sub(r'<script type="module">\s*import mermaid from .*?</script>', '', s, flags=re.S))
PY
grep -q '"vendor/reveal.js/dist/reveal.js"' "$out" || { echo "no local reveal.js in $out" >&2; exit 1; }
if grep -qE 'src="https?://|from .https?://' "$out"; then echo "$out still loads scripts from the network:" >&2; grep -o 'src="https\?://[^"]*"' "$out" >&2; exit 1; fi
echo "$out: $(grep -c '<section' "$out") slide sections, scripts local; open it in a browser (works offline)"
