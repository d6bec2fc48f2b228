#!/usr/bin/env bash
# After result rows land (results/flowers12-canonical, -fewer, -agreement): redraw their figures and rewrite every page
# that quotes them, each between its marks (results/README.md, nbs/index.ipynb and the README made from it).
# Trains nothing; tests/test_four_questions.py fails while a page is behind the committed rows.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python scripts/make_images.py --only flowers12-canonical-forest flowers12-canonical flowers12-fewer
python scripts/four_questions.py --update results/README.md
python scripts/four_questions.py --headline --update nbs/index.ipynb
python scripts/four_questions.py --answers --update nbs/index.ipynb
nbdev_clean --fname nbs/index.ipynb
jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README --log-level WARN
git status --short -- README.md nbs/index.ipynb results/README.md images
