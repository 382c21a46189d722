"""Rename, merge or drop the categories of a COCO detection file.

    python tools/dataset_converters/coco_remap.py SRC_JSON DST_JSON OLD=NEW [OLD=NEW ...]

Each OLD is a category name of SRC_JSON (a comma-separated list merges several into NEW);
``OLD=`` drops its annotations. Every category must be mapped. Example, the digits set as two
classes: ``0,2,4,6,8=even 1,3,5,7,9=odd``.
"""
import argparse
import json
import sys

from custom.apis.cli import CLIError, exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='COCO JSON to read')
    parser.add_argument('dst', help='COCO JSON to write')
    parser.add_argument('mapping', nargs='+', help='OLD[,OLD...]=NEW, or OLD= to drop')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


def parse_mapping(items: list[str]) -> dict:
    mapping = {}
    for item in items:
        if '=' not in item:
            raise CLIError(f'{item!r}: expected OLD=NEW (OLD= drops the category)')
        old, new = item.split('=', 1)
        for name in old.split(','):
            if name in mapping:
                raise CLIError(f'{item!r}: category {name!r} is mapped twice')
            mapping[name] = new or None
    return mapping


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.converters import remap_categories, write_coco_json
    mapping = parse_mapping(args.mapping)
    try:
        with open(args.src, encoding='utf-8') as f:
            coco = json.load(f)
    except UnicodeDecodeError as err:
        raise CLIError(f'{args.src}: not UTF-8 text (offset {err.start})') from err
    except (OSError, json.JSONDecodeError) as err:
        raise CLIError(f'{args.src}: cannot read a COCO JSON ({err})') from err
    try:
        remapped = remap_categories(coco, mapping)
    except ValueError as err:
        raise CLIError(f'{args.src}: {err}') from err
    out = write_coco_json(remapped, args.dst)
    names = ', '.join(c['name'] for c in remapped['categories'])
    print(f'{out}: {len(remapped["annotations"])} of {len(coco["annotations"])} annotations, '
          f'categories {names}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
