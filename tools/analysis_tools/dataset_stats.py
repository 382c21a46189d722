"""Print and plot the statistics of a COCO detection file.

    python tools/analysis_tools/dataset_stats.py ANN_JSON [--out stats.png]

Images, instances per class, boxes per image, box-size distribution and COCO size buckets.
A file with structural errors is refused with the validator's messages.
"""
import argparse
import sys
from pathlib import Path

from custom.apis.cli import CLIError, exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_json', help='COCO annotation file')
    parser.add_argument('--out', default=None, help='PNG with the plots')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.coco_stats import coco_stats, format_stats, plot_stats
    from custom.datasets.coco_validation import check_coco_dict, errors_only, read_coco_json

    data, problems = read_coco_json(args.ann_json)
    if data is not None:
        problems = check_coco_dict(data, args.ann_json, require_annotations=False)
    errors = errors_only(problems)
    if errors:
        more = f' (+{len(errors) - 1} more; tools/misc/validate_coco.py lists them)' if len(
            errors) > 1 else ''
        raise CLIError(f'{errors[0]}{more}')
    stats = coco_stats(data)
    print(format_stats(stats, title=args.ann_json))
    if args.out:
        print(f'plots: {plot_stats(stats, args.out, title=Path(args.ann_json).name)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
