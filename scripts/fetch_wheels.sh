#!/usr/bin/env bash
# Fill the git-ignored .whl/ with the wheels the bare GPU machine lacks (Python 3.12, manylinux x86_64) and
# .data/flowers12 with the data its run uses; both travel with `scripts/device_check.sh` (carry .whl and .data).
# Run here, with network, in the project's venv: versions are pinned to what this venv has, so the GPU run runs
# the library with the packages the CPU test suite runs it with.
#   scripts/fetch_wheels.sh            # then: scripts/device_check.sh --cpu --tiny  (the rehearsal), see README
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
WHL=.whl DATA=.data SHARED=${SHARED_DATA:-../shared/data}
# What the GPU machine lacks. It has torch, torchvision, timm, pandas, scikit-learn, matplotlib, opencv, tensorboard
# and their dependencies (BOX_PACKAGES in scripts/wheel_coverage.py, which checks this list against the imports).
PACKAGES="fastai fastcore fastprogress fastdownload fasttransform plum-dispatch beartype rich markdown-it-py mdurl pygments
  cloudpickle python-fasthtml starlette anyio sniffio itsdangerous python-multipart accelerate psutil ttach
  requests urllib3 idna certifi charset-normalizer pytest pluggy iniconfig"
SDIST_ONLY="grad-cam"   # no wheel on PyPI: built here into a pure-python wheel, so the GPU machine builds nothing

pin() { "$PY" - "$1" <<'PYEOF'
import importlib.metadata as md, sys
try: print(f"{sys.argv[1]}=={md.version(sys.argv[1])}")
except md.PackageNotFoundError: print(sys.argv[1])
PYEOF
}
mkdir -p "$WHL"
pins=$(for p in $PACKAGES; do pin "$p"; done)
echo "wheels for Python 3.12 manylinux x86_64: $(echo $pins)"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --dest "$WHL" $pins
for p in $SDIST_ONLY; do "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$WHL" "$(pin "$p")"; done

if [ ! -d "$DATA/flowers12" ]; then
    [ -d "$SHARED/flowers12" ] || { echo "no $SHARED/flowers12 to copy (set SHARED_DATA)" >&2; exit 1; }
    mkdir -p "$DATA" && cp -r "$SHARED/flowers12" "$DATA/"
fi

"$PY" scripts/wheel_coverage.py "$WHL"   # every module the GPU run imports is on that machine or in .whl

tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
whl=$(du -sb "$WHL" | cut -f1) data=$(du -sb "$DATA" | cut -f1)
total=$(( (tree + whl + data) / 1048576 ))
echo "$(ls "$WHL" | wc -l) wheels: $(du -sh "$WHL" | cut -f1); $DATA: $(du -sh "$DATA" | cut -f1); with the tracked tree: $total MiB of the 64 MiB a run carries"
[ "$total" -lt 56 ] || { echo "too close to the 64 MiB limit: $total MiB" >&2; exit 1; }
