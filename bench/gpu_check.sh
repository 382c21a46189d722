#!/usr/bin/env bash
# One-shot GPU check: install the packages carried in .gpu/ (made by bench/prepare_gpu.sh),
# build mmcv's CPU ops, run the CUDA tests and the CUDA benchmarks, write everything into one
# folder. For a machine with an NVIDIA GPU, no internet, and a Python 3.12 that has torch and
# torchvision (left untouched). Finishes within GPU_CHECK_BUDGET seconds (default 470).
#
#   bash bench/gpu_check.sh [OUT_DIR]        OUT_DIR: default $OUT when set, else ./gpu_results
#   bash bench/gpu_check.sh --dry-run        check .gpu/ and a no-index install, here
#
# Files written to OUT_DIR (at most 7): summary.txt (each stage, status, seconds),
# env.txt (GPU, Python, package versions), build.log (install and mmcv build), tests.log,
# bench.log (benchmark output), RESULTS-gpu.md (the benchmark tables, to be copied into
# bench/RESULTS.md) and demo.log (digits2coco, tools/train.py and tools/test.py on CUDA).
#
# Environment: PYTHON (default python3), GPU_CHECK_BUDGET (seconds, default 470),
# CLASSICDET_GPU_SITE (install folder, default /tmp/classicdet-site), CLASSICDET_GPU_CARRY
# (carried folder, default .gpu), MMCV_WHEEL (an mmcv 2.1.0 wheel built for this torch, e.g.
# tools/setup_env.sh's cached one: skips the build), DEMO_ITERS (training iterations of the
# demo stage, default 150).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARRY=${CLASSICDET_GPU_CARRY:-$ROOT/.gpu}
PY=${PYTHON:-python3}
SITE=${CLASSICDET_GPU_SITE:-/tmp/classicdet-site}
BUILD_SITE=$SITE-buildtools
BUDGET=${GPU_CHECK_BUDGET:-470}
MMCV_VERSION=2.1.0
LIMIT_MB=60
# Run-time packages gpu_check installs from .gpu/wheels, and those the machine must have.
CARRIED=(mmengine mmdet pycocotools faster_coco_eval shapely addict yapf platformdirs termcolor
         terminaltables setuptools)
EXPECTED_IMPORTS=(numpy cv2 scipy sklearn matplotlib PIL yaml rich pygments six tqdm packaging
                  pytest hypothesis torch torchvision)

DRY_RUN=0
OUT_DIR=${OUT:-$ROOT/gpu_results}
for arg in "$@"; do
    case $arg in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) OUT_DIR=$arg ;;
    esac
done

fail() { echo "gpu_check: $*" >&2; exit 1; }

# ------------------------------------------------------------------ the carried folder
check_carried() {
    [[ -d $CARRY/wheels && -d $CARRY/build && -d $CARRY/src ]] \
        || fail "$CARRY is missing or incomplete: run bash bench/prepare_gpu.sh first (where pip can download)"
    local name count
    for name in "${CARRIED[@]}"; do
        count=$(ls "$CARRY/wheels" | grep -ci "^${name}-[0-9]")
        [[ $count == 1 ]] || fail "$CARRY/wheels: expected one wheel of $name, found $count"
    done
    for name in setuptools-69 wheel- ninja-; do
        ls "$CARRY/build" | grep -q "^$name" || fail "$CARRY/build: no $name* wheel"
    done
    local bad tag
    tag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])') || fail "$PY does not run"
    bad=$(ls "$CARRY/wheels" "$CARRY/build" | grep '\.whl$' | grep -v -e '-py3-none-' -e '-py2.py3-none-' -e "-$tag-" || true)
    [[ -z $bad ]] || fail "wheels not for $PY ($tag): $bad (PY_VERSION of prepare_gpu.sh)"
    tar -tzf "$CARRY/src/mmcv-$MMCV_VERSION.tar.gz" "mmcv-$MMCV_VERSION/setup.py" >/dev/null 2>&1 \
        || fail "$CARRY/src/mmcv-$MMCV_VERSION.tar.gz is missing or has no setup.py"
    tar -xzOf "$CARRY/src/mmcv-$MMCV_VERSION.tar.gz" "mmcv-$MMCV_VERSION/setup.py" \
        | grep -q "extra_compile_args\['cxx'\] = \['-std=c++17'\]" \
        || fail "mmcv's setup.py no longer has the -std=c++17 line the C++20 patch replaces"
    local size_mb
    size_mb=$(du -sm "$CARRY" | cut -f1)
    echo "carried folder ok: $(ls "$CARRY/wheels" | wc -l) run-time wheels, ${size_mb} MB"
    [[ $size_mb -lt $LIMIT_MB ]] || echo "warning: $CARRY is ${size_mb} MB (budget ${LIMIT_MB} MB)"
}

install_carried() {  # install_carried PYTHON TARGET BUILD_TARGET
    rm -rf "$2" "$3"
    "$1" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-compile \
        --target "$2" "$CARRY"/wheels/*.whl || return 1
    # Byte-compile once, on all cores, rather than in each tool the demo stage starts (in
    # one GPU run its first tools took about two minutes to reach training).
    "$1" -m compileall -q -j 0 "$2" > /dev/null || return 1
    "$1" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-compile \
        --target "$3" "$CARRY"/build/*.whl || return 1
}

if [[ $DRY_RUN == 1 ]]; then
    check_carried
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    install_carried "$PY" "$tmp/site" "$tmp/build" || fail "no-index install with $PY failed"
    for name in mmengine mmdet pycocotools faster_coco_eval shapely pkg_resources; do
        [[ -e $tmp/site/$name ]] || fail "install left no $name package in the target"
    done
    [[ -x $tmp/build/bin/ninja ]] || fail "no ninja in the build tools"
    mkdir -p "$tmp/src" && tar -xzf "$CARRY/src/mmcv-$MMCV_VERSION.tar.gz" -C "$tmp/src"
    sed -i "s/extra_compile_args\['cxx'\] = \['-std=c++17'\]/extra_compile_args['cxx'] = ['-std=c++20']/" \
        "$tmp/src/mmcv-$MMCV_VERSION/setup.py"
    grep -q "'-std=c++20'" "$tmp/src/mmcv-$MMCV_VERSION/setup.py" || fail "C++20 patch did not apply"
    echo "dry run ok: $("$PY" -V) installed the carried wheels with --no-index; mmcv source unpacks and patches"
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

BUILD_LOG=$OUT_DIR/build.log
export CARRY PY SITE BUILD_SITE
export -f install_carried
stage install 120 "$BUILD_LOG" install_carried "$PY" "$SITE" "$BUILD_SITE" || exit 1

build_mmcv() {
    if [[ -n ${MMCV_WHEEL:-} ]]; then
        echo "using the prebuilt $MMCV_WHEEL"
        "$PY" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-compile \
            --upgrade --target "$SITE" "$MMCV_WHEEL" || return 1
        check_mmcv
        return
    fi
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    tar -xzf "$CARRY/src/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    local src=$work/mmcv-$MMCV_VERSION
    # Newer torch headers need C++20 (2.14 refuses C++17; reports differ on 2.12 and 2.13);
    # mmcv 2.1.0 asks for C++17 (as tools/setup_env.sh). C++20 also builds with older torch.
    if "$PY" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(v < (2, 12))'; then
        sed -i "s/extra_compile_args\['cxx'\] = \['-std=c++17'\]/extra_compile_args['cxx'] = ['-std=c++20']/" "$src/setup.py"
        grep -q "'-std=c++20'" "$src/setup.py" || { echo "could not patch mmcv's C++ standard"; return 1; }
        echo "patched mmcv setup.py: -std=c++17 -> -std=c++20"
    fi
    # CPU ops only, GPU hidden: on CUDA tensors classicdet's ops use torchvision's kernels.
    # setuptools < 70 and ninja come from the build tools; the machine's ninja first if any.
    (cd "$src" && PATH="$PATH:$(dirname "$("$PY" -c 'import sys; print(sys.executable)')"):$BUILD_SITE/bin" \
        PYTHONPATH=$BUILD_SITE CUDA_VISIBLE_DEVICES='' FORCE_CUDA=0 MMCV_WITH_OPS=1 \
        MAX_JOBS=$(nproc) "$PY" -m pip wheel -v --disable-pip-version-check --no-index --no-deps \
        --no-build-isolation -w "$work/dist" .) || return 1
    "$PY" -m pip install --disable-pip-version-check -q --no-index --no-deps --no-compile \
        --upgrade --target "$SITE" "$work"/dist/mmcv-*.whl || return 1
    check_mmcv
}

check_mmcv() {
    PYTHONPATH=$SITE "$PY" -c "
import torch
from mmcv.ops import nms
_, keep = nms(torch.tensor([[0., 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]), torch.tensor([.9, .8, .7]), 0.5)
assert keep.tolist() == [0, 2], keep
print('mmcv.ops.nms runs on CPU')"
}
export CARRY PY SITE BUILD_SITE MMCV_VERSION
export -f install_carried build_mmcv check_mmcv
stage build-mmcv 330 "$BUILD_LOG" build_mmcv || exit 1

export PYTHONPATH=$SITE:$ROOT
cd "$ROOT"
TESTS_LOG=$OUT_DIR/tests.log
stage cuda-tests 120 "$TESTS_LOG" "$PY" -m pytest tests -q -rs -p no:cacheprovider -m cuda
stage cuda-named-tests 60 "$TESTS_LOG" "$PY" -m pytest tests -q -rs -p no:cacheprovider \
    -k cuda -m 'not cuda'

BENCH_LOG=$OUT_DIR/bench.log
RESULTS=$OUT_DIR/RESULTS-gpu.md
bench() { "$PY" "bench/$1" --device cuda --results "$RESULTS" "${@:2}"; }
export RESULTS
export -f bench
# The figures the goals are about first (R50-FPN training, fp32 and AMP, with a profile of
# one step per contender), then the digits models, inference, the tools on CUDA, NMS.
stage train-r50 180 "$BENCH_LOG" bench train_speed.py --models r50 --precision fp32 amp --nchw \
    --repeats 5 --warmup 2 --profile
stage train-digits 90 "$BENCH_LOG" bench train_speed.py --models r18-digits vgg16-digits \
    --precision fp32 amp --repeats 5 --warmup 2
stage infer-fp32 70 "$BENCH_LOG" bench infer_speed.py --repeats 10 --warmup 3 --nchw --profile
stage infer-amp 60 "$BENCH_LOG" bench infer_speed.py --repeats 10 --warmup 3 --nchw --amp

# What a user runs, on CUDA, shortened to fit the budget: digits2coco (a 400 + 100 image set in
# its own folder, data/digits is left alone), tools/train.py on the digits R18-FPN config for
# DEMO_ITERS iterations (default 150) with validation at the end, then tools/test.py.
demo_on_cuda() {
    local data=/tmp/classicdet-digits work=/tmp/classicdet-demo iters=${DEMO_ITERS:-150}
    local config=configs/digits/faster-rcnn_r18_fpn_digits.py
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
stage digits-demo 120 "$OUT_DIR/demo.log" demo_on_cuda
# NMS last: its CUDA figures change least between runs, and a stage the budget cuts short
# says so in summary.txt.
stage nms-fp32 30 "$BENCH_LOG" bench nms_speed.py --repeats 10
stage nms-fp16 30 "$BENCH_LOG" bench nms_speed.py --repeats 10 --dtype float16

echo "total: $((SECONDS - START)) s" | tee -a "$SUMMARY"
grep -q -e FAILED -e 'TIMED OUT' -e skipped "$SUMMARY" && exit 1
exit 0
