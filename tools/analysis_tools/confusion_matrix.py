"""Confusion matrix of detections against ground truth (background row and column included).

``python tools/analysis_tools/confusion_matrix.py ANN_JSON RESULTS_JSON [--out cm.png]
[--score-thr 0.3] [--iou-thr 0.5]``
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.evaluation.confusion_matrix import (
    compute_confusion_matrix,
    format_confusion_table,
    plot_confusion_matrix,
)


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Detection confusion matrix')
    parser.add_argument('ann_file', help='COCO annotation JSON (ground truth)')
    parser.add_argument('results', help='COCO results JSON, e.g. from tools/test.py --out')
    parser.add_argument('--out', default='confusion_matrix.png', help='PNG to write')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='ignore detections scoring below this')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='IoU at which a detection matches a ground-truth box')
    parser.add_argument('--cmap', default='plasma', help='matplotlib colour map')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    cm = compute_confusion_matrix(args.ann_file, args.results, args.score_thr, args.iou_thr)
    print(format_confusion_table(cm))
    plot_confusion_matrix(cm, args.out, cmap=args.cmap)
    print(f'-> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
