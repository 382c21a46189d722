"""Split one COCO file into train and val, seeded and stratified by class where it can be.

    python tools/misc/split_coco.py ANN_JSON --out-dir DIR [--val-fraction 0.2] [--seed 0]

Writes DIR/train.json and DIR/val.json (never over existing files); images without boxes are
kept and split in proportion. Prints the images, images without boxes and boxes per split,
and the boxes of each class.
"""
import argparse
import os.path as osp
import sys

from custom.apis.cli import CLIError, exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_json', help='COCO annotation file to split')
    parser.add_argument('--out-dir', required=True, help='folder for train.json and val.json')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='share of the images for val, in (0, 1) (default 0.2)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the shuffle (default 0)')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.coco_split import split_coco, split_counts
    from custom.datasets.converters import write_coco_json
    from custom.evaluation.coco_files import read_json
    outputs = [osp.join(args.out_dir, f'{split}.json') for split in ('train', 'val')]
    for path in outputs:
        if osp.exists(path):
            raise CLIError(f'{path}: exists; choose another --out-dir')
    data = read_json(args.ann_json)
    train, val = split_coco(data, args.val_fraction, args.seed, args.ann_json)
    counts = [split_counts(part) for part in (train, val)]
    for path, part in zip(outputs, (train, val)):
        write_coco_json(part, path)
    print(f'{args.ann_json} split with seed {args.seed}:')
    for path, count in zip(outputs, counts):
        print(f'  {path}: {count["images"]} images ({count["empty"]} without boxes), '
              f'{count["boxes"]} boxes')
    print('  boxes per class (train / val): ' + ', '.join(
        f'{name} {counts[0]["per_class"][name]}/{counts[1]["per_class"][name]}'
        for name in counts[0]['per_class']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
