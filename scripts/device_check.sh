#!/usr/bin/env bash
# One prepared GPU run (issue 12): on the bare GPU machine (Python 3.12, torch, timm, pandas, scikit-learn, matplotlib,
# opencv, tensorboard; no fastai, no network), install the carried wheels, then run each step time-boxed, writing
# everything to $OUT (a temporary folder if unset):
#   install    the wheels of .whl/ (scripts/fetch_wheels.sh fills it here) into a throwaway folder on PYTHONPATH
#   imports    the library and what its GPU run imports
#   gpu_tests  tests/test_gpu.py (fp16/bf16 fits, autocast CAMs, pinned pool, DistributedDL, ViT, GPU memory)
#   bench_fp32, bench_bf16   proxy-attention-benchmark at 224 px, batch 64 -> results/benchmark_gpu.md
#   compare    baseline, proxy and the random-map control on flowers12 at 224 px, 30 epochs, 3 seeds -> results/results.csv
# A failed step does not stop the later ones; $OUT/summary.txt has one line per step: name, exit status, seconds, limit.
# The timeouts add up to under 8 minutes, so a failed first try on a 15-minute loan leaves time for a second.
#
#   scripts/device_check.sh                  # on the GPU machine: run with carry .whl and .data
#   scripts/device_check.sh --cpu --tiny     # the rehearsal here: same steps, tiny sizes, CPU (tests/test_device_check.py)
#   scripts/device_check.sh --steps bench_fp32,compare   # only these steps (install and imports always run)
#   scripts/device_check.sh --resume results/gpu        # compare continues the results.csv found there
set -uo pipefail
cd "$(dirname "$0")/.."
CPU=0 TINY=0 ONLY= RESUME=
while [ $# -gt 0 ]; do
    case $1 in
        --cpu) CPU=1 ;;
        --tiny) TINY=1 ;;
        --steps) ONLY=$2; shift ;;
        --resume) RESUME=$2; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "device_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
OUT=${OUT:-$(mktemp -d -t device-check.XXXXXX)}
mkdir -p "$OUT/logs" "$OUT/results"
PY=${PYTHON:-$(command -v python3 || command -v python)}
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"

WORK=$(mktemp -d -t device-check-work.XXXXXX)   # installed packages, console scripts, tiny data: not under $OUT, which travels back
trap 'rm -rf "$WORK"' EXIT
if [ $CPU = 1 ]; then DEVICE=cpu; else DEVICE=cuda; fi
DATA=.data/flowers12
if [ $TINY = 1 ]; then   # the rehearsal: every step's code path, in seconds on a small CPU
    BENCH="--archs resnet18 --sizes 32 --methods gradcam --bs 8 --n_images 8 --repeats 1 --data none"
    BENCH_FP32_EXTRA="--no-epochs --no-fit --no-forks"   # the epoch, whole-fit and fork figures take minutes on a CPU
    COMPARE="--size 48 --epochs 4 --seeds 1"   # 48 px: 2x2 maps; 4: two proxy steps, so the thesis's feeding trains on proxy images
    T_INSTALL=60 T_IMPORTS=60 T_TESTS=120 T_BENCH=100 T_COMPARE=200
    src=$DATA; [ -d "$src" ] || src=../shared/data/flowers12   # a fresh checkout here has no .data yet
    DATA=$WORK/flowers12-tiny   # 8 training and 4 test images per class
    for d in "$src"/*/*/; do
        rel=${d#"$src"/}; mkdir -p "$DATA/$rel"
        ls "$d" | head -n "$([[ $rel == train/* ]] && echo 8 || echo 4)" | while read -r f; do cp "$d$f" "$DATA/$rel"; done
    done
else
    BENCH="--archs resnet18,efficientnet_b0 --sizes 224 --methods gradcam,gradcam++ --bs 64 --n_images 64 --repeats 3 --data none"
    BENCH_FP32_EXTRA="--no-forks"   # with the epoch overhead and the whole-fit figures (forks: a CPU figure)
    COMPARE="--size 224 --epochs 30 --seeds 3"
    T_INSTALL=40 T_IMPORTS=20 T_TESTS=80 T_BENCH=90 T_COMPARE=190   # with bench_bf16 at 54 s: 474 s
fi

# The project is not installed: it is on PYTHONPATH, and its console scripts (setup.py's) are small files on PATH.
SITE=$WORK/site BIN=$WORK/bin
mkdir -p "$SITE" "$BIN"
# settings.ini's console_scripts, `name=module:function` each
for entry in $(sed -n '/^console_scripts *=/,/^[^ ]/{s/^console_scripts *= *//;/^[a-z_]* *=/!p}' settings.ini); do
    target=${entry#*=}
    printf '#!%s\nimport sys\nfrom %s import %s\nif __name__ == "__main__": sys.exit(%s())\n' "$PY" "${target%%:*}" "${target#*:}" "${target#*:}" > "$BIN/${entry%%=*}"
    chmod +x "$BIN/${entry%%=*}"
done
export PYTHONPATH=$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH} PATH=$BIN:$PATH MPLBACKEND=Agg PY OUT DEVICE

wanted() { [ -z "$ONLY" ] || [[ ",$ONLY,install,imports," == *",$1,"* ]]; }
step() {   # step NAME TIMEOUT_S COMMAND: run COMMAND (bash) time-boxed, its output in logs/NAME.log, a line in summary.txt
    local name=$1 limit=$2 cmd=$3 start rc
    wanted "$name" || return 0
    echo "== $name (at most ${limit}s): $cmd"
    start=$(date +%s)
    timeout --kill-after=10 "$limit" bash -c "$cmd" > "$OUT/logs/$name.log" 2>&1; rc=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" "$limit" >> "$SUMMARY"
    [ $rc = 0 ] || { echo "   $name: exit status $rc$([ $rc = 124 ] && echo ', timed out'); last lines of logs/$name.log:"; tail -n 15 "$OUT/logs/$name.log" | sed 's/^/   | /'; }
}

GPU=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU)")' 2>&1 | tail -1)
TORCH=$("$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}")' 2>&1 | tail -1)
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
{ echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; echo "commit: $COMMIT"; echo "gpu: $GPU"; echo "python: $("$PY" --version 2>&1), $TORCH"
  echo "options: cpu=$CPU tiny=$TINY steps=${ONLY:-all}"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
} > "$OUT/env.txt"
cat "$OUT/env.txt"

# install: on the GPU machine, into $SITE. Here (--cpu): the same wheels into a throwaway folder for Python 3.12
# manylinux, which proves them installable, and then the imports with only the GPU machine's packages and the wheels visible.
PIP="$PY -m pip install --no-index --no-deps --disable-pip-version-check --quiet --target"
IMPORTS="import fastai, fastcore, pytorch_grad_cam, timm, torch, proxy_attention.callback, proxy_attention.trackers, proxy_attention.cli, proxy_attention.benchmark, fastai.distributed, pytest
print('fastai', fastai.__version__, 'fastcore', fastcore.__version__, 'torch', torch.__version__, 'timm', timm.__version__)"
if [ $CPU = 0 ]; then   # without pip, a wheel of these is a zip file to unpack
    step install $T_INSTALL "ls .whl/*.whl > /dev/null && if $PY -m pip --version; then $PIP $SITE .whl/*.whl; \
        else for w in .whl/*.whl; do $PY -m zipfile -e \$w $SITE || exit 1; done; fi && ls $SITE"
    step imports $T_IMPORTS "$PY -c \"$IMPORTS\""
elif [ -d .whl ]; then
    step install $T_INSTALL "$PIP $WORK/py312 --python-version 3.12 --only-binary=:all: --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 .whl/*.whl && ls $WORK/py312"
    step imports $T_IMPORTS "$PY scripts/wheel_coverage.py .whl"
else
    step install $T_INSTALL "echo 'no .whl here (scripts/fetch_wheels.sh fills it): the install is not rehearsed'"
    step imports $T_IMPORTS "$PY -c \"$IMPORTS\""
fi

step gpu_tests $T_TESTS "$PY -m pytest tests/test_gpu.py -v -rsP --durations=0 --junitxml=$OUT/results/gpu_tests.xml"

step bench_fp32 $T_BENCH "proxy-attention-benchmark --device $DEVICE $BENCH $BENCH_FP32_EXTRA"
step bench_bf16 $(( T_BENCH * 3 / 5 )) "proxy-attention-benchmark --device $DEVICE --dtype bf16 $BENCH --no-epochs --no-fit --no-forks"
if wanted bench_fp32 || wanted bench_bf16; then
    { echo "# proxy-attention-benchmark on $GPU"; echo
      echo "Made by \`scripts/device_check.sh$([ $CPU = 1 ] && echo ' --cpu')$([ $TINY = 1 ] && echo ' --tiny')\` on $(date -u +%Y-%m-%d), commit $COMMIT; $TORCH."
      echo "fp32: \`proxy-attention-benchmark --device $DEVICE $BENCH $BENCH_FP32_EXTRA\`; bf16: the same with \`--dtype bf16 --no-epochs --no-fit\`."
      for d in fp32 bf16; do
          [ -f "$OUT/logs/bench_$d.log" ] || continue
          echo; echo "<!-- $d: exit status $(awk -v s=bench_$d '$1 == s {print $2}' "$SUMMARY") -->"
          awk '/^## /{on=1} on' "$OUT/logs/bench_$d.log" | sed 's/^## /### /'
      done
    } > "$OUT/results/benchmark_gpu.md"
fi

[ -n "$RESUME" ] && [ -f "$RESUME/results.csv" ] && cp "$RESUME/results.csv" "$OUT/results/"
step compare $T_COMPARE "proxy-attention compare --data $DATA $COMPARE --arms baseline,proxy,randomcam --workers 0 --out $OUT/results"

echo "== summary ($OUT/summary.txt: step, exit status, seconds, time limit)"; cat "$SUMMARY"
awk '$2 != 0 {bad=1} END {exit bad}' "$SUMMARY"
