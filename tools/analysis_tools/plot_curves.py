"""Loss and mAP curves of a training run.

``python tools/analysis_tools/plot_curves.py WORK_DIR/TIMESTAMP/vis_data/scalars.json
[--out curves.png] [--keys loss loss_cls coco/bbox_mAP]``
"""
import argparse
import os.path as osp
import sys

from custom.apis.cli import exit_on_error
from custom.evaluation.curves import plot_curves, read_scalars


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Plot loss and mAP curves from scalars.json')
    parser.add_argument('scalars', help="a run's vis_data/scalars.json (or the run folder)")
    parser.add_argument('--out', help='PNG to write (default: curves.png beside the input)')
    parser.add_argument('--keys', nargs='+',
                        help='scalars to plot (default: loss terms, acc and COCO mAPs)')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    log = read_scalars(args.scalars)
    out = args.out or osp.join(osp.dirname(osp.abspath(log.path)), 'curves.png')
    plot_curves(log, out, args.keys)
    print(f'{len(log.train)} training and {len(log.val)} validation records -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
