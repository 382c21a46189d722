"""Per-class precision-recall curves of a COCO results file.

``python tools/analysis_tools/pr_curves.py ANN_JSON RESULTS_JSON [--out pr.png] [--iou 0.5 0.75]``
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.evaluation.pr_curves import compute_pr_curves, plot_pr_curves


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Per-class precision-recall curves')
    parser.add_argument('ann_file', help='COCO annotation JSON (ground truth)')
    parser.add_argument('results', help='COCO results JSON, e.g. from tools/test.py --out')
    parser.add_argument('--out', default='pr_curves.png', help='PNG to write')
    parser.add_argument('--iou', type=float, nargs='+', default=[0.5],
                        help='IoU threshold(s) among 0.50:0.05:0.95; one panel each')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    curves_per_iou = compute_pr_curves(args.ann_file, args.results, tuple(args.iou))
    plot_pr_curves(curves_per_iou, args.out)
    for curves in curves_per_iou:
        print(f'AP@{curves.iou:.2f} per class:')
        for name, ap in zip(curves.class_names, curves.ap):
            print(f'  {name:<20} {"no ground truth" if ap < 0 else f"{ap:.4f}"}')
    print(f'-> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
