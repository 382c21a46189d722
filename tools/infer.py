"""Detect objects in an image, a folder or a glob.

``python tools/infer.py INPUTS CONFIG CKPT|MODEL.onnx --out-dir DIR [--score-thr 0.3]
[--device cpu|cuda] [--batch-size N] [--ann-file COCO.json] [--slice-size S | H W]
[--slice-overlap R] [--no-full-pass] [--slice-merge ios|nms|nmm]``
writes DIR/vis/NAME.png, DIR/preds/NAME.json (mmdet inferencer keys: bboxes x1y1x2y2, labels,
scores, plus names) and one COCO results file for all images, DIR/coco_results.json (bbox
x,y,w,h, category_id, image_id; the ids from --ann-file, else DIR/coco_images.json lists the
images). Unreadable images are named and skipped, and the exit code is non-zero if any failed.
A video file as INPUTS gives DIR/NAME.mp4 (the detections drawn) and DIR/NAME.jsonl (one JSON
line per detected frame), every --frame-stride-th frame detected.
"""
import argparse
import sys

from custom.apis.cli import CLIError, exit_on_error
from custom.apis.slicing_options import add_slicing_args, slicing_from_args


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Run a detector on images')
    parser.add_argument('inputs', help='image file, folder, glob pattern (quote it) or a video')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx '
                        '(run by onnxruntime)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--score-thr', type=float, default=0.3, help='minimum score to keep')
    parser.add_argument('--device', default=None, help='cpu, cuda or cuda:N (default: auto)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per forward pass, grouped by size (default 1)')
    parser.add_argument('--ann-file', help='COCO annotation file listing the inputs: the '
                        "results' image_id and category_id are its ids")
    parser.add_argument('--frame-stride', type=int, default=1,
                        help='video input: detect on every N-th frame (default 1)')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    add_slicing_args(parser)
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    slicing = slicing_from_args(args)
    from custom.apis.limits import check_score_thr
    check_score_thr(args.score_thr)
    from custom.apis import Detector, collect_images, infer_images
    from custom.apis.config import ensure_writable_dir
    from custom.apis.predict_video import is_video, open_video, predict_video
    from custom.evaluation.coco_results import CocoResults
    if args.batch_size < 1:
        raise CLIError(f'--batch-size: must be >= 1, got {args.batch_size}')
    video = is_video(args.inputs)
    if video:
        for flag, given in (('--ann-file', args.ann_file), ('--batch-size', args.batch_size > 1)):
            if given:
                raise CLIError(f'{flag}: applies to images; a video is detected frame by frame')
        open_video(args.inputs).release()  # an unreadable video fails before the model loads
    else:
        paths = collect_images(args.inputs)
    ensure_writable_dir(args.out_dir)
    detector = Detector(args.config, args.checkpoint, device=args.device, slicing=slicing)
    if video:
        done = predict_video(detector, args.inputs, args.out_dir, args.score_thr,
                             args.frame_stride)
        print(f'{done.frames_detected} of {done.frames_read} frames detected: {done.video}, '
              f'{done.jsonl}')
        return 0
    coco = CocoResults(detector.classes, args.ann_file)
    report = infer_images(detector, paths, args.out_dir, args.score_thr,
                          batch_size=args.batch_size, coco=coco)
    written = coco.write(args.out_dir)
    for path, problem in report.failed:
        print(f'failed: {problem}', file=sys.stderr)
    print(f'{len(report.written)} image(s) written to {args.out_dir}/vis and '
          f'{args.out_dir}/preds; COCO results in {" and ".join(written)}; '
          f'{len(report.failed)} failed'
          + (': ' + ', '.join(path for path, _ in report.failed) if report.failed else ''))
    return 1 if report.failed else 0


if __name__ == '__main__':
    sys.exit(main())
