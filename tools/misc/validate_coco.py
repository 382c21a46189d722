"""Check a COCO detection file and its images; print every problem with its location.

    python tools/misc/validate_coco.py ANN_JSON [--img-dir DIR] [--fast]

Exit status 0 if the file is valid (info lines allowed), 1 if any error was found.
"""
import argparse
import sys

from custom.apis.cli import exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_json', help='COCO annotation file')
    parser.add_argument('--img-dir', default=None,
                        help="folder the images' file_name are relative to (default: JSON only)")
    parser.add_argument('--fast', action='store_true',
                        help='read image headers only, as training does (no full decode)')
    parser.add_argument('--allow-no-annotations', action='store_true',
                        help="accept an image-info file without 'annotations' (test-dev)")
    parser.add_argument('--max-info', type=int, default=50,
                        help='info lines to print; -1: all (errors are always all printed)')
    parser.add_argument('--progress', action='store_true', help='progress bar over the images')
    parser.add_argument('--debug', action='store_true', help='tracebacks on unexpected errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.coco_validation import errors_only, report_lines, validate_coco_with_counts

    problems, counts = validate_coco_with_counts(
        args.ann_json, args.img_dir, image_check='header' if args.fast else 'full',
        require_annotations=not args.allow_no_annotations, progress=args.progress)
    print('\n'.join(report_lines(problems, counts, args.ann_json, args.max_info)))
    return 1 if errors_only(problems) else 0


if __name__ == '__main__':
    sys.exit(main())
