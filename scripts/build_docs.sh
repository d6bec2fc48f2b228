#!/usr/bin/env bash
# Build the docs site offline into _site/ (open _site/index.html): the tutorials and API notebooks with their stored
# outputs (never executed), the guide, the results and the development pages, and an API reference read from the
# source. docs/site/stage.py lays the sources out in _proc/site/, Sphinx (myst-nb, sphinx-book-theme, sphinx-autoapi,
# all in the dev extras) turns them into HTML. Nothing is downloaded, and no page asks for anything outside _site/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
$PY docs/site/stage.py
rm -rf _site _proc/html
# built inside _proc/ (git-ignored), then moved: myst-nb writes its output images beside the build folder
# (jupyter_execute/), which would otherwise land in the project's root
$PY -m sphinx -b html -q -j auto -c docs/site -d _proc/site-doctrees _proc/site _proc/html
mv _proc/html _site
# sphinx writes this for its own incremental builds; the site does not need it
rm -f _site/.buildinfo
# a page that would reach the network when opened: a script, style sheet or image from http(s)
if grep -rlE '<(script|link|img)[^>]+(src|href)="(https?:)?//' _site --include='*.html' >/dev/null; then
  echo "pages of _site/ load something from the network:" >&2
  grep -rhoE '<(script|link|img)[^>]+(src|href)="(https?:)?//[^"]*"' _site --include='*.html' | sort | uniq -c >&2
  exit 1
fi
echo "_site/: $(find _site -name '*.html' | wc -l) pages; open _site/index.html in a browser (works offline)"
