"""Detect objects in an image, a folder or a glob.

``python tools/infer.py INPUTS CONFIG CKPT|MODEL.onnx --out-dir DIR [--score-thr 0.3]
[--device cpu|cuda] [--slice-size S | H W] [--slice-overlap R] [--no-full-pass]``
writes DIR/vis/NAME.png and DIR/preds/NAME.json; unreadable images are named and skipped, and
the exit code is non-zero if any failed.
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.apis.slicing_options import add_slicing_args, slicing_from_args


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Run a detector on images')
    parser.add_argument('inputs', help='image file, folder or glob pattern (quote it)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx '
                        '(run by onnxruntime)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--score-thr', type=float, default=0.3, help='minimum score to keep')
    parser.add_argument('--device', default=None, help='cpu, cuda or cuda:N (default: auto)')
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
    paths = collect_images(args.inputs)
    ensure_writable_dir(args.out_dir)
    detector = Detector(args.config, args.checkpoint, device=args.device,
                        **(dict(slice_size=slicing.size, slice_overlap=slicing.overlap,
                                full_pass=slicing.full_pass, slice_merge=slicing.merge,
                                max_tiles=slicing.max_tiles)
                           if slicing else {}))
    report = infer_images(detector, paths, args.out_dir, args.score_thr)
    for path, problem in report.failed:
        print(f'failed: {problem}', file=sys.stderr)
    print(f'{len(report.written)} image(s) written to {args.out_dir}/vis and '
          f'{args.out_dir}/preds; {len(report.failed)} failed'
          + (': ' + ', '.join(path for path, _ in report.failed) if report.failed else ''))
    return 1 if report.failed else 0


if __name__ == '__main__':
    sys.exit(main())
