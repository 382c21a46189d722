#!/usr/bin/env bash
# Set up classicdet's environment: .venv with the pinned stack, plus mmcv 2.1.0 built from source
# with its CPU ops. Idempotent: a second run checks and returns in seconds.
#
# Environment:
#   PYTHON            interpreter for the venv (default: python3.11)
#   VENV              venv folder (default: .venv in the repo)
#   CLASSICDET_CACHE  wheel cache outside the repo (default: ~/.cache/classicdet)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-$ROOT/.venv}
CACHE=${CLASSICDET_CACHE:-$HOME/.cache/classicdet}
MMCV_VERSION=2.1.0
PY=$VENV/bin/python
STAMP=$VENV/.classicdet-setup

step() { printf '\n==> %s\n' "$*"; }

# The stamp records the inputs of the last complete set-up; unchanged inputs mean nothing to do.
fingerprint() { cat "$ROOT/requirements.txt" "$0" | sha256sum | cut -d' ' -f1; }

if [[ -f $STAMP && $(cat "$STAMP") == "$(fingerprint)" ]] && "$PY" -c 'import mmcv.ops' 2>/dev/null; then
    echo "classicdet: environment up to date ($VENV)"
    exit 0
fi

if [[ ! -x $PY ]]; then
    step "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

step "installing pinned packages (requirements.txt)"
"$PY" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements.txt"

TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
# pip's own wheel cache ignores the torch a wheel was compiled against; ours is keyed by both.
WHEEL_DIR=$CACHE/wheels/torch-$TORCH_VERSION/mmcv-$MMCV_VERSION
WHEEL=$(ls "$WHEEL_DIR"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -n1 || true)

if [[ -z $WHEEL ]]; then
    step "building mmcv $MMCV_VERSION with CPU ops against torch $TORCH_VERSION (first time only: about 10-15 minutes on 2 cores)"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    # mmcv 2.1.0's setup.py imports pkg_resources, which setuptools >= 70 no longer ships, while
    # torch 2.14 requires setuptools >= 77. The old setuptools lives only on the build's path.
    "$PY" -m pip install --disable-pip-version-check -q --target "$BUILD/buildtools" 'setuptools<70' wheel
    export PYTHONPATH=$BUILD/buildtools
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-build-isolation \
        --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
    SRC=$BUILD/mmcv-$MMCV_VERSION
    # torch >= 2.14's headers need C++20; mmcv 2.1.0 hard-codes -std=c++17 for its CPU extension.
    if "$PY" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(v < (2, 14))'; then
        sed -i "s/extra_compile_args\['cxx'\] = \['-std=c++17'\]/extra_compile_args['cxx'] = ['-std=c++20']/" "$SRC/setup.py"
        grep -q "'-std=c++20'" "$SRC/setup.py" || { echo "classicdet: could not patch mmcv's C++ standard" >&2; exit 1; }
        echo "patched mmcv setup.py: -std=c++17 -> -std=c++20 (needed by torch $TORCH_VERSION)"
    fi
    # CPU ops only, even on a GPU machine: CUDA work goes through torchvision's ops.
    (cd "$SRC" && CUDA_VISIBLE_DEVICES='' FORCE_CUDA=0 MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
        "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation --no-cache-dir \
        -w "$BUILD/dist" .)
    unset PYTHONPATH
    mkdir -p "$WHEEL_DIR"
    built=$(ls "$BUILD"/dist/mmcv-*.whl)
    # Copy then rename, so an interrupted copy never leaves a truncated wheel in the cache.
    cp "$built" "$WHEEL_DIR/.partial.whl"
    mv "$WHEEL_DIR/.partial.whl" "$WHEEL_DIR/$(basename "$built")"
    WHEEL=$WHEEL_DIR/$(basename "$built")
fi

step "installing $(basename "$WHEEL") from $WHEEL_DIR"
"$PY" -m pip install --disable-pip-version-check -q --no-deps --force-reinstall "$WHEEL"

step "checking that mmcv.ops.nms runs"
"$PY" - <<'PY'
import torch
from mmcv.ops import nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
import mmdet, mmengine, mmcv
print(f'ok: torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}')
PY

fingerprint > "$STAMP"
echo "classicdet: environment ready ($VENV)"
