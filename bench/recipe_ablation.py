"""Train the digits detector with one augmentation recipe and score it on val and every shift set.

    python bench/recipe_ablation.py VARIANT --work-dir DIR [--config CONFIG] [--data data/digits]

VARIANT is one of: none (the config's own pipeline), photometric (mmdet's
PhotoMetricDistortion), multiscale (mmcv's RandomResize, 0.4-1.2 of the 256 px scale),
capture (CaptureDegradation: blur, noise, JPEG), all (the three together). The variant's config
is written to DIR/config.py and trained by tools/train.py; then bench/shift_sets.py scores the
last checkpoint. DIR/ablation.json gets the training time and the table.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESIZE = dict(type='Resize', scale=(256, 256), keep_ratio=True)
PHOTOMETRIC = dict(type='PhotoMetricDistortion', brightness_delta=32,
                   contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18)
MULTISCALE = dict(type='RandomResize', scale=(256, 256), ratio_range=(0.4, 1.2), keep_ratio=True)
CAPTURE = dict(type='CaptureDegradation')
VARIANTS = {
    'none': [RESIZE],
    'photometric': [RESIZE, PHOTOMETRIC],
    'multiscale': [MULTISCALE],
    'capture': [RESIZE, CAPTURE],
    'all': [MULTISCALE, PHOTOMETRIC, CAPTURE],
}


def variant_config(config: str, variant: str, data: str):
    """The config with its train pipeline's resize step replaced by the variant's steps."""
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    pipeline = cfg.train_dataloader.dataset.pipeline
    at = next(i for i, step in enumerate(pipeline) if step['type'] == 'Resize')
    cfg.train_dataloader.dataset.pipeline = pipeline[:at] + VARIANTS[variant] + pipeline[at + 1:]
    root = str(Path(data).resolve()) + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = root + 'annotations/instances_val.json'
    return cfg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('variant', choices=list(VARIANTS))
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--config', default='configs/digits/faster-rcnn_r18_fpn_540it_digits.py')
    parser.add_argument('--data', default='data/digits')
    parser.add_argument('--shifts-dir', default='data/digits_shifts')
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = variant_config(args.config, args.variant, args.data)
    cfg.dump(str(work / 'config.py'))
    checkpoint = work / f'iter_{cfg.train_cfg.max_iters}.pth'
    train_s = None
    if not checkpoint.is_file():
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / 'tools/train.py'), str(work / 'config.py'),
                        '--work-dir', str(work)], check=True, cwd=ROOT)
        train_s = time.perf_counter() - start
    table = work / 'shift_sets.json'
    subprocess.run([sys.executable, str(ROOT / 'bench/shift_sets.py'), str(work / 'config.py'),
                    str(checkpoint), '--data', args.data, '--shifts-dir', args.shifts_dir,
                    '--out', str(table)], check=True, cwd=ROOT)
    result = dict(variant=args.variant, train_seconds=train_s,
                  pipeline=[step['type'] for step in cfg.train_dataloader.dataset.pipeline],
                  table=json.loads(table.read_text()))
    (work / 'ablation.json').write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
