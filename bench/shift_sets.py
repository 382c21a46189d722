"""Score one checkpoint on the digits val set and on every shift set, in one table.

    python bench/shift_sets.py CONFIG CKPT [--data data/digits] [--shifts-dir data/digits_shifts]
        [--num 150] [--shift dense photo ...] [--out shift_sets.json]

The shift sets (tools/dataset_converters/digits_shifts.py) are generated when missing. Each set
is scored by tools/test.py, the same path a user runs, with the test set switched by
--cfg-options. The table gives COCO mAP, mAP@0.5 and mAP@0.75 and each set's gap to val.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRIC = re.compile(r'coco/(bbox_mAP(?:_50|_75)?)=([0-9.]+)')


def score(config: str, checkpoint: str, data_root: str, ann_file: str, img_dir: str,
          work_dir: str) -> dict[str, float]:
    """COCO mAP, mAP_50 and mAP_75 of ``checkpoint`` on one COCO set, through tools/test.py."""
    root = os.path.abspath(data_root) + '/'
    cmd = [sys.executable, str(ROOT / 'tools/test.py'), config, checkpoint, '--work-dir',
           work_dir, '--cfg-options', f'test_dataloader.dataset.data_root={root}',
           f'test_dataloader.dataset.ann_file={ann_file}',
           f'test_dataloader.dataset.data_prefix.img={img_dir}/',
           f'test_evaluator.ann_file={root}{ann_file}']
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        tail = (run.stderr.strip().splitlines() or ['no message'])[-2:]
        raise SystemExit(f'error: tools/test.py failed on {root}{ann_file}: {" ".join(tail)}')
    found = dict(METRIC.findall(run.stdout))
    return {key: float(found[key]) for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')}


def main(argv=None):
    from custom.datasets.digits_shifts import SHIFTS, generate_shift_set

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data', default='data/digits', help='the digits set (its val split)')
    parser.add_argument('--shifts-dir', default='data/digits_shifts')
    parser.add_argument('--num', type=int, default=150, help='images per shift set')
    parser.add_argument('--shift', nargs='+', choices=list(SHIFTS), default=list(SHIFTS))
    parser.add_argument('--out', help='also write the table as JSON here')
    args = parser.parse_args(argv)
    for name in args.shift:
        ann = Path(args.shifts_dir) / 'annotations' / f'instances_{name}.json'
        if not ann.is_file():
            generate_shift_set(args.shifts_dir, name, num_images=args.num, progress=False)

    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        sets = [('val', args.data, 'annotations/instances_val.json', 'val')]
        sets += [(name, args.shifts_dir, f'annotations/instances_{name}.json', name)
                 for name in args.shift]
        for name, data_root, ann_file, img_dir in sets:
            with open(Path(data_root) / ann_file) as f:
                num_images = len(json.load(f)['images'])
            metrics = score(args.config, args.checkpoint, data_root, ann_file, img_dir,
                            work_dir)
            rows.append(dict(set=name, images=num_images, **metrics))
            print(f'  scored {name}: mAP {metrics["bbox_mAP"]:.3f}', flush=True)
    val = rows[0]['bbox_mAP']
    print(f'\n{"set":<10} {"images":>6} {"mAP":>6} {"mAP@0.5":>8} {"mAP@0.75":>9} '
          f'{"gap to val":>10}')
    for row in rows:
        gap = '' if row['set'] == 'val' else f'{row["bbox_mAP"] - val:+.3f}'
        print(f'{row["set"]:<10} {row["images"]:>6} {row["bbox_mAP"]:>6.3f} '
              f'{row["bbox_mAP_50"]:>8.3f} {row["bbox_mAP_75"]:>9.3f} {gap:>10}')
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
