"""Judge a detector at a deployment threshold: per-class TP/FP/FN, precision, recall, F1 and
best-F1 threshold with COCO AP, TIDE's error breakdown, and the worst images drawn.

``python tools/analysis_tools/detection_report.py ANN_FILE RESULTS.json [--img-dir DIR]
[--out-dir DIR] [--score-thr 0.3] [--iou-thr 0.5]`` with the results of
``tools/test.py CONFIG CKPT --out RESULTS.json``, or
``python tools/analysis_tools/detection_report.py --config CONFIG --checkpoint CKPT`` to run
the model over the config's test set first. Writes report.md, report.json, report.png and
worst/*.png in --out-dir.
"""
import argparse
import os.path as osp
import sys

from custom.apis.cli import CLIError, exit_on_error
from custom.apis.config import DictAction


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Per-class report at a threshold, TIDE '
                                     'errors and worst images')
    parser.add_argument('ann_file', nargs='?', help='COCO annotation file')
    parser.add_argument('results', nargs='?', help='COCO results JSON (tools/test.py --out)')
    parser.add_argument('--config', help='run this config ... ')
    parser.add_argument('--checkpoint', help='... with this checkpoint over its test set')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='with --config: override config keys (e.g. the test set)')
    parser.add_argument('--img-dir', help='folder of the images (to draw the worst ones)')
    parser.add_argument('--out-dir', default='work_dirs/report', help='where the report goes')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='keep detections scoring at least this (default 0.3)')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='IoU of a match for the per-class counts (default 0.5)')
    parser.add_argument('--worst', type=int, default=6, help='worst images to draw')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    if bool(args.config) != bool(args.checkpoint):
        parser.error('--config and --checkpoint go together')
    if args.config and (args.ann_file or args.results):
        parser.error('give ANN_FILE RESULTS or --config/--checkpoint, not both')
    if not args.config and not (args.ann_file and args.results):
        parser.error('give ANN_FILE RESULTS, or --config CONFIG --checkpoint CKPT')
    for name in ('score_thr', 'iou_thr'):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise CLIError(f"--{name.replace('_', '-')} {getattr(args, name)}: must be in [0, 1]")
    return args


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.evaluation.detection_report import build_report, read_inputs, write_report
    ann_file, results, img_dir = args.ann_file, args.results, args.img_dir
    if args.config:
        from custom.apis.runs import detect_dataset
        results = osp.join(args.out_dir, 'detections.json')
        ann_file, found_dir = detect_dataset(args.config, args.checkpoint, results, args.out_dir,
                                                args.cfg_options)
        img_dir = img_dir or found_dir
    gt, dets = read_inputs(ann_file, results)
    report = build_report(gt, dets, args.score_thr, args.iou_thr, worst=args.worst)
    paths = write_report(report, gt, dets, args.out_dir, img_dir)
    t, tide = report['totals'], report['tide']
    print(f"at score >= {args.score_thr}: precision {t['precision'] or 0:.3f}, recall "
          f"{t['recall'] or 0:.3f}, F1 {t['f1'] or 0:.3f}; AP50 {tide['ap50']:.3f}, "
          'TIDE dAP ' + ', '.join(f'{k} {v:.3f}' for k, v in tide['dap'].items()))
    if paths['note']:
        print(paths['note'])
    print(f"report -> {paths['markdown']}, {paths['json']}, {paths['figure']}"
          + (f", {len(paths['drawn'])} drawings in {osp.join(args.out_dir, 'worst')}"
             if paths['drawn'] else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
