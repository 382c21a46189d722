#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what bench/gpu_check.sh needs on a GPU machine that cannot
# download anything: Python 3.12 wheels of the packages classicdet needs that such a machine
# lacks, mmcv-lite among them (nothing is built there). Run it here, where the package index
# is reachable:
#
#   bash bench/prepare_gpu.sh [--full] [DEST]        (DEST defaults to .gpu in the repo)
#
# PY_VERSION=3.11 fetches for another Python (to rehearse gpu_check.sh on this machine).
#
# The GPU image this project is lent ships torch, torchvision, numpy, OpenCV (headless),
# SciPy, scikit-learn, matplotlib, pytest and hypothesis, and those are by far the largest
# (OpenCV alone is 54 MB): they are checked there, not carried. --full also fetches them, for
# a machine without them; the folder is then about 140 MB instead of about 10.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
FULL=0
DEST=$ROOT/.gpu
for arg in "$@"; do
    case $arg in
        --full) FULL=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) DEST=$arg ;;
    esac
done

# Missing from the GPU image: carried always. Versions are requirements.txt's pins.
CARRIED=(
    mmengine==0.10.7 mmdet==3.3.0 mmcv-lite==2.1.0 pycocotools==2.0.11 faster-coco-eval==1.8.0
    shapely==2.2.0 addict==2.4.0 yapf==0.43.0 platformdirs==4.14.8 termcolor==3.3.0
    terminaltables==3.1.10
    # mmengine imports pkg_resources, which setuptools 81 removed.
    setuptools==80.10.2
)
# In the GPU image already (checked by gpu_check.sh); fetched only with --full, at the
# versions of this repository's environment.
EXPECTED=(numpy opencv-python-headless scipy scikit-learn joblib threadpoolctl matplotlib
          contourpy cycler fonttools kiwisolver pyparsing python-dateutil pillow packaging
          pyyaml rich markdown-it-py mdurl pygments six tqdm pytest pluggy iniconfig
          hypothesis sortedcontainers)
LIMIT_MB=60
PY_VERSION=${PY_VERSION:-3.12}
ABI=cp${PY_VERSION/./}

fetch() {  # fetch DIR SPEC...: x86-64 wheels for PY_VERSION, no dependencies (each is listed)
    local dir=$1
    shift
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
        --python-version "$PY_VERSION" --implementation cp --abi "$ABI" --abi abi3 --abi none \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_24_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_5_x86_64 \
        --platform manylinux1_x86_64 --platform any -d "$dir" "$@"
}

rm -rf "$DEST.partial"
mkdir -p "$DEST.partial/wheels"

echo "==> run-time wheels: ${CARRIED[*]}"
fetch "$DEST.partial/wheels" "${CARRIED[@]}"

if [[ $FULL == 1 ]]; then
    pins=()
    for name in "${EXPECTED[@]}"; do
        version=$("$PY" -c "from importlib import metadata; print(metadata.version('$name'))" 2>/dev/null) \
            || version=$("$PY" -c "from importlib import metadata; print(metadata.version('opencv-python'))")
        pins+=("$name==$version")
    done
    echo "==> --full: ${pins[*]}"
    fetch "$DEST.partial/wheels" "${pins[@]}"
fi

cat > "$DEST.partial/README.txt" <<EOF
Made by bench/prepare_gpu.sh on $(date -u '+%Y-%m-%d %H:%M UTC') (full=$FULL); consumed by
bench/gpu_check.sh. wheels/: run-time packages (Python $PY_VERSION, x86-64).
EOF
(cd "$DEST.partial" && ls wheels > MANIFEST.txt)

size_mb=$(du -sm "$DEST.partial" | cut -f1)
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "==> $DEST: ${size_mb} MB, $(ls "$DEST/wheels" | wc -l) run-time wheels"
if [[ $FULL == 0 && $size_mb -ge $LIMIT_MB ]]; then
    echo "prepare_gpu: $DEST is ${size_mb} MB, over the ${LIMIT_MB} MB budget" >&2
    exit 1
fi
