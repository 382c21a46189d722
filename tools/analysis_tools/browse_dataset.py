"""Draw ground-truth boxes and class names after a config's train pipeline, as PNGs.

    python tools/analysis_tools/browse_dataset.py CONFIG --out-dir DIR [--n 20] [--scale 2]

Boxes are drawn on the pixels just outside each box, so a tight box shows the object's edge
touching the line from inside.
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.apis.config import DictAction, ensure_writable_dir, load_config


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--out-dir', required=True, help='folder for the PNGs')
    parser.add_argument('--n', type=int, default=20, help='images to draw')
    parser.add_argument('--scale', type=int, default=1,
                        help='nearest-neighbour upscaling, to see single pixels')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help='which dataloader (default: train, with its augmentations)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.dataset.data_root=x/')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    if args.n < 1 or args.scale < 1:
        raise ValueError(f'--n and --scale must be >= 1, got {args.n} and {args.scale}')
    from custom.datasets.browse import browse_dataset

    cfg = load_config(args.config, args.cfg_options)
    ensure_writable_dir(args.out_dir)
    written = browse_dataset(cfg, args.out_dir, args.n, args.scale, args.split)
    print(f'{len(written)} images written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
