#!/usr/bin/env bash
# One-shot GPU check: install the packages carried in .gpu/ (made by bench/prepare_gpu.sh,
# wheels only: nothing is compiled), run the CUDA tests and the CUDA benchmarks, write
# everything into one folder. For a machine with an NVIDIA GPU, no internet, and a Python 3.12
# that has torch and torchvision (left untouched). Each stage has a time cap and the caps add
# up to GPU_CHECK_BUDGET seconds (default 420), so a lent machine's start and the check fit
# in 15 minutes of device time.
#
#   bash bench/gpu_check.sh [OUT_DIR]        OUT_DIR: default $OUT when set, else ./gpu_results
#   bash bench/gpu_check.sh --dry-run        check .gpu/ and a no-index install, here
#
# Files written to OUT_DIR (at most 7): summary.txt (each stage, status, seconds),
# env.txt (GPU, Python, package versions), install.log, tests.log,
# bench.log (benchmark output), RESULTS-gpu.md (the benchmark tables, to be copied into
# bench/RESULTS.md) and demo.log (digits2coco, tools/train.py and tools/test.py on CUDA).
#
# Environment: PYTHON (default python3), GPU_CHECK_BUDGET (seconds, default 420),
# CLASSICDET_GPU_SITE (install folder, default /tmp/classicdet-site), CLASSICDET_GPU_CARRY
# (carried folder, default .gpu), DEMO_ITERS (training iterations of the demo stage,
# default 100).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARRY=${CLASSICDET_GPU_CARRY:-$ROOT/.gpu}
PY=${PYTHON:-python3}
# Absolute, as steps run from other folders: a path, or the command found on PATH.
[[ $PY == */* ]] || PY=$(command -v "$PY" || echo "$PY")
[[ $PY == /* ]] || PY=$PWD/$PY
SITE=${CLASSICDET_GPU_SITE:-/tmp/classicdet-site}
BUDGET=${GPU_CHECK_BUDGET:-420}
LIMIT_MB=60
# Run-time packages gpu_check installs from .gpu/wheels, and those the machine must have.
CARRIED=(mmengine mmdet mmcv_lite pycocotools faster_coco_eval shapely addict yapf platformdirs
         termcolor terminaltables setuptools)
EXPECTED_IMPORTS=(numpy cv2 scipy sklearn matplotlib PIL yaml rich pygments six tqdm packaging
                  pytest hypothesis torch torchvision)

DRY_RUN=0
OUT_DIR=${OUT:-$ROOT/gpu_results}
for arg in "$@"; do
    case $arg in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) OUT_DIR=$arg ;;
    esac
done

fail() { echo "gpu_check: $*" >&2; exit 1; }

# ------------------------------------------------------------------ the carried folder
check_carried() {
    [[ -d $CARRY/wheels ]] \
        || fail "$CARRY is missing or incomplete: run bash bench/prepare_gpu.sh first (where pip can download)"
    local name count
    for name in "${CARRIED[@]}"; do
        count=$(ls "$CARRY/wheels" | grep -ci "^${name}-[0-9]")
        [[ $count == 1 ]] || fail "$CARRY/wheels: expected one wheel of $name, found $count"
    done
    local bad tag
    tag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])') || fail "$PY does not run"
    bad=$(ls "$CARRY/wheels" | grep '\.whl$' | grep -v -e '-py3-none-' -e '-py2.py3-none-' -e "-$tag-" || true)
    [[ -z $bad ]] || fail "wheels not for $PY ($tag): $bad (PY_VERSION of prepare_gpu.sh)"
    local size_mb
    size_mb=$(du -sm "$CARRY" | cut -f1)
    echo "carried folder ok: $(ls "$CARRY/wheels" | wc -l) run-time wheels, ${size_mb} MB"
    [[ $size_mb -lt $LIMIT_MB ]] || echo "warning: $CARRY is ${size_mb} MB (budget ${LIMIT_MB} MB)"
}

install_carried() {  # install_carried PYTHON TARGET: the wheels, then mmcv/_ext.py
    rm -rf "$2"
    "$1" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-compile \
        --target "$2" "$CARRY"/wheels/*.whl || return 1
    # mmcv-lite's missing extension module, re-exporting this checkout's mmcv_lite_ext.
    (cd "$ROOT" && PYTHONPATH=$2:$ROOT "$1" -m mmcv_lite_ext.install) || return 1
    # Byte-compile once, on all cores, rather than in each tool the demo stage starts (in
    # one GPU run its first tools took about two minutes to reach training).
    "$1" -m compileall -q -j 0 "$2" > /dev/null || return 1
    (cd / && PYTHONPATH=$2:$ROOT "$1" -c "
import torch
import mmdet.models  # noqa: F401
from mmcv.ops import nms
_, keep = nms(torch.tensor([[0., 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]), torch.tensor([.9, .8, .7]), 0.5)
assert keep.tolist() == [0, 2], keep
print('mmdet imports; mmcv.ops.nms runs on mmcv_lite_ext')")
}

if [[ $DRY_RUN == 1 ]]; then
    check_carried
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    install_carried "$PY" "$tmp/site" || fail "no-index install with $PY failed"
    for name in mmengine mmdet mmcv/_ext.py pycocotools faster_coco_eval shapely pkg_resources; do
        [[ -e $tmp/site/$name ]] || fail "install left no $name in the target"
    done
    echo "dry run ok: $("$PY" -V) installed the carried wheels with --no-index, mmdet imports"
    exit 0
fi

# ------------------------------------------------------------------ the real run
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
SUMMARY=$OUT_DIR/summary.txt
: > "$SUMMARY"
START=$SECONDS

# stage NAME MAX_SECONDS LOG COMMAND...: run with a limit that also respects the overall budget.
stage() {
    local name=$1 max=$2 log=$3
    shift 3
    local left=$((BUDGET - (SECONDS - START) - 5))
    local limit=$((max < left ? max : left))
    if [[ $limit -le 5 ]]; then
        echo "$name: skipped (budget spent)" | tee -a "$SUMMARY"
        return 1
    fi
    local began=$SECONDS rc
    echo "==> $name (limit ${limit}s)" | tee -a "$log"
    # A child bash, so that the exported shell functions below can be staged too.
    timeout --kill-after=10 "$limit" bash -c '"$@"' stage "$@" >> "$log" 2>&1
    rc=$?
    local verdict=ok
    [[ $rc == 0 ]] || verdict="FAILED rc=$rc"
    [[ $rc == 124 || $rc == 137 ]] && verdict="TIMED OUT after ${limit}s"
    echo "$name: $verdict ($((SECONDS - began)) s)" | tee -a "$SUMMARY"
    return $rc
}

check_carried >> "$SUMMARY" 2>&1 || { cat "$SUMMARY"; exit 1; }

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
    echo "cores: $(nproc)"
    "$PY" - <<'PY'
import importlib, sys
print('python', sys.version.split()[0], sys.executable)
for name in ['torch', 'torchvision', 'numpy', 'cv2', 'scipy', 'sklearn', 'matplotlib', 'PIL',
             'pytest', 'hypothesis', 'setuptools']:
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, '__version__', '?'))
    except Exception as err:  # noqa: BLE001
        print(name, 'MISSING', err)
import torch
print('cuda available', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
PY
} > "$OUT_DIR/env.txt" 2>&1

missing=$("$PY" -c "
import importlib.util, sys
print(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is None))" "${EXPECTED_IMPORTS[@]}")
if [[ -n $missing ]]; then
    echo "missing on this machine: $missing (carry them: bash bench/prepare_gpu.sh --full)" | tee -a "$SUMMARY"
    exit 1
fi

export CARRY PY SITE ROOT
export -f install_carried
stage install 45 "$OUT_DIR/install.log" install_carried "$PY" "$SITE" || exit 1

export PYTHONPATH=$SITE:$ROOT
cd "$ROOT"
TESTS_LOG=$OUT_DIR/tests.log
stage cuda-tests 60 "$TESTS_LOG" "$PY" -m pytest tests -q -rs -p no:cacheprovider -m cuda
stage cuda-named-tests 30 "$TESTS_LOG" "$PY" -m pytest tests -q -rs -p no:cacheprovider \
    -k cuda -m 'not cuda'

BENCH_LOG=$OUT_DIR/bench.log
RESULTS=$OUT_DIR/RESULTS-gpu.md
bench() { "$PY" "bench/$1" --device cuda --results "$RESULTS" "${@:2}"; }
export RESULTS
export -f bench
# The figures the goals are about first (R50-FPN training, fp32 and AMP, with a profile of
# one step per contender), then the digits models, inference, the tools on CUDA, NMS.
stage train-r50 100 "$BENCH_LOG" bench train_speed.py --models r50 --precision fp32 amp --nchw \
    --repeats 3 --warmup 2 --profile
stage train-digits 40 "$BENCH_LOG" bench train_speed.py --models r18-digits vgg16-digits \
    --precision fp32 amp --repeats 3 --warmup 2
stage infer-fp32 40 "$BENCH_LOG" bench infer_speed.py --repeats 10 --warmup 3 --nchw --profile
stage infer-amp 25 "$BENCH_LOG" bench infer_speed.py --repeats 10 --warmup 3 --nchw --amp

# What a user runs, on CUDA, shortened to fit the budget: digits2coco (a 400 + 100 image set in
# its own folder, data/digits is left alone), tools/train.py on the digits R18-FPN config for
# DEMO_ITERS iterations (default 100) with validation at the end, then tools/test.py.
demo_on_cuda() {
    local data=/tmp/classicdet-digits work=/tmp/classicdet-demo iters=${DEMO_ITERS:-100}
    local config=configs/digits/faster-rcnn_r18_fpn_540it_digits.py
    rm -rf "$work"
    if [[ ! -f $data/annotations/instances_val.json ]]; then
        "$PY" tools/dataset_converters/digits2coco.py "$data" --train 400 --val 100 \
            --no-progress || return 1
    fi
    local paths=() part
    for part in train_dataloader val_dataloader test_dataloader; do
        paths+=("$part.dataset.data_root=$data/")
    done
    for part in val_evaluator test_evaluator; do
        paths+=("$part.ann_file=$data/annotations/instances_val.json")
    done
    "$PY" tools/train.py "$config" --work-dir "$work" --cfg-options "${paths[@]}" \
        "train_cfg.max_iters=$iters" "train_cfg.val_interval=$iters" || return 1
    "$PY" tools/test.py "$config" "$work/iter_$iters.pth" --work-dir "$work" \
        --out "$work/preds.json" --cfg-options "${paths[@]}"
}
export PY
export -f demo_on_cuda
stage digits-demo 50 "$OUT_DIR/demo.log" demo_on_cuda
# NMS last: its CUDA figures change least between runs, and a stage the budget cuts short
# says so in summary.txt.
stage nms-fp32 15 "$BENCH_LOG" bench nms_speed.py --repeats 10
stage nms-fp16 15 "$BENCH_LOG" bench nms_speed.py --repeats 10 --dtype float16

echo "total: $((SECONDS - START)) s" | tee -a "$SUMMARY"
grep -q -e FAILED -e 'TIMED OUT' -e skipped "$SUMMARY" && exit 1
exit 0
