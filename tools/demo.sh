#!/usr/bin/env bash
# The demo behind `make demo`: digits data -> train Faster R-CNN R18-FPN (CPU, or CUDA when
# present) -> test -> infer.
# Re-running continues where it stopped: data and a finished training are reused.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
[[ $PY == /* ]] || PY=$PWD/$PY  # taken from the caller's folder, before the cd below
cd "$ROOT"
CONFIG=${CONFIG:-configs/digits/faster-rcnn_r18_fpn_540it_digits.py}
WORK=${WORK:-work_dirs/demo}
DATA=data/digits

step() { printf '\n==> %s\n' "$*"; }

if [[ ! -f $DATA/annotations/instances_val.json ]]; then
    step "generating the digits detection set in $DATA"
    "$PY" tools/dataset_converters/digits2coco.py "$DATA"
fi
step "checking the data"
"$PY" tools/misc/validate_coco.py $DATA/annotations/instances_train.json --img-dir $DATA/train
"$PY" tools/misc/validate_coco.py $DATA/annotations/instances_val.json --img-dir $DATA/val

FINAL=$("$PY" - "$CONFIG" <<'PY'
import sys
from mmengine.config import Config
cfg = Config.fromfile(sys.argv[1])
print(f"iter_{cfg.train_cfg.max_iters}.pth")
PY
)
if [[ ! -f $WORK/$FINAL ]]; then
    if "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
        step "training $CONFIG on CUDA (about a minute)"
    else
        step "training $CONFIG on CPU (about 10 minutes on 2 cores)"
    fi
    RESUME=()
    [[ -f $WORK/last_checkpoint ]] && RESUME=(--resume)
    "$PY" tools/train.py "$CONFIG" --work-dir "$WORK" --tensorboard "${RESUME[@]}"
fi

step "testing $WORK/$FINAL on the val set"
"$PY" tools/test.py "$CONFIG" "$WORK/$FINAL" --work-dir "$WORK" --out "$WORK/val_preds.json" \
    --show-dir "$WORK/show"

step "inference on a few val images"
mkdir -p "$WORK/samples"
val_images=("$DATA"/val/*.png)
cp "${val_images[@]:0:6}" "$WORK/samples/"
"$PY" tools/infer.py "$WORK/samples" "$CONFIG" "$WORK/$FINAL" --out-dir "$WORK/infer"
"$PY" - "$WORK/infer/preds" <<'PY'
import json, os, sys
folder = sys.argv[1]
name = sorted(os.listdir(folder))[0]
pred = json.load(open(os.path.join(folder, name)))
print(f"prediction for {pred['image']}:")
for name, score, box in zip(pred['names'], pred['scores'], pred['bboxes']):
    print(f"  {name}  score {score:.3f}  box {box}")
PY

step "training curves"
SCALARS=$(ls -t "$WORK"/*/vis_data/scalars.json | sed -n 1p)
"$PY" tools/analysis_tools/plot_curves.py "$SCALARS" --out "$WORK/curves.png"

step "report at score 0.3: per-class precision/recall/F1, TIDE errors, worst images"
"$PY" tools/analysis_tools/detection_report.py $DATA/annotations/instances_val.json \
    "$WORK/val_preds.json" --img-dir $DATA/val --out-dir "$WORK/report"

step "val and the shift sets (pages training never saw) in one table"
"$PY" bench/shift_sets.py "$CONFIG" "$WORK/$FINAL" --data $DATA --shifts-dir data/digits_shifts \
    --out "$WORK/shift_sets.json"

cat <<TXT

Done.
  checkpoint:      $WORK/$FINAL
  detections:      $WORK/val_preds.json (COCO results format)
  drawings:        $WORK/show (prediction beside ground truth), $WORK/infer/vis
  curves:          $WORK/curves.png (training and validation loss, mAP)
  report:          $WORK/report/report.md (per class at score 0.3, TIDE errors, worst images)
  TensorBoard:     tensorboard --logdir $WORK
  shift sets:      $WORK/shift_sets.json (mAP on val and on each shift set)
TXT
