#!/usr/bin/env bash
# Set up classicdet's environment: a venv with the pinned stack from wheels only, mmcv as the
# pure-Python mmcv-lite wheel, and this checkout installed in editable mode, whose
# mmcv_lite_ext provides the ops mmcv-lite leaves out (on torch and torchvision). Nothing is
# compiled. Idempotent: a second run checks and returns in seconds, and repairs what it finds
# missing or stale.
#
# Environment:
#   PYTHON   interpreter for the venv (default: python3.11)
#   VENV     venv folder (default: .venv in the checkout; a relative path is taken from the
#            folder this script is started in)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-$ROOT/.venv}
# Every path below is absolute, so no step depends on the folder it runs in.
[[ $VENV == /* ]] || VENV=$PWD/$VENV
PY=$VENV/bin/python
STAMP=$VENV/.classicdet-setup
# --only-binary: a package without a wheel for this machine is an error, never a compile.
PIP=("$PY" -m pip install --disable-pip-version-check -q --only-binary=:all:)

step() { printf '\n==> %s\n' "$*"; }

# The inputs of a set-up: unchanged inputs and an intact mmcv/_ext.py mean nothing to do.
fingerprint() {
    cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" "$ROOT/mmcv_lite_ext/install.py" "$0" \
        | sha256sum | cut -d' ' -f1
}

# Checked from / so that a module found only through the current folder does not count.
ext_in_place() { (cd / && "$PY" -m mmcv_lite_ext.install --check); }

if [[ -f $STAMP && $(cat "$STAMP") == "$(fingerprint)" ]]; then
    if ext_in_place; then
        echo "classicdet: environment up to date ($VENV)"
        exit 0
    fi
    echo "classicdet: repairing mmcv's extension module"
fi

if [[ ! -x $PY ]]; then
    step "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

step "installing pinned packages (requirements.txt), wheels only"
"${PIP[@]}" -r "$ROOT/requirements.txt"

step "installing this checkout in editable mode (custom, mmcv_lite_ext)"
# No build isolation: the venv's pinned setuptools builds the (pure-Python) project offline.
"$PY" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e "$ROOT"

step "writing mmcv/_ext.py (mmcv's ops on torch and torchvision)"
(cd / && "$PY" -m mmcv_lite_ext.install)

step "checking that mmdet imports and mmcv's NMS and RoIAlign run"
(cd / && "$PY" - <<'PY'
import torch

import mmdet.models  # noqa: F401  (imports mmcv.ops, which needs mmcv._ext)
from mmcv.ops import nms, roi_align
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
pooled = roi_align(torch.ones(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]), 2, 1.0, 2)
assert torch.allclose(pooled, torch.ones(1, 1, 2, 2)), pooled
import mmcv, mmdet, mmengine
print(f'ok: torch {torch.__version__}, mmcv {mmcv.__version__} (lite), '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}')
PY
)

fingerprint > "$STAMP"
echo "classicdet: environment ready ($VENV)"
