"""Convert Pascal VOC XML annotations to a COCO detection JSON.

    python tools/dataset_converters/voc2coco.py VOCdevkit/VOC2007 OUT_JSON [--split trainval]
        [--classes names.txt]

Coordinates follow mmdet's own converter: COCO bbox = [xmin - 1, ymin - 1, xmax - xmin,
ymax - ymin]; <difficult>1 objects get iscrowd=1 (ignored in training and evaluation).
file_name is relative to VOC_ROOT/JPEGImages, so a config uses data_prefix=dict(img='JPEGImages/').
"""
import argparse
import sys
from pathlib import Path

from custom.apis.cli import exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('voc_root', help='a VOC folder with Annotations/, e.g. VOCdevkit/VOC2007')
    parser.add_argument('out_json', help='output COCO JSON')
    parser.add_argument('--split', default=None,
                        help='ImageSets/Main/<split>.txt to convert (default: every XML)')
    parser.add_argument('--classes', default=None,
                        help="class-names file, one per line (default: VOC's 20 classes)")
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.coco_validation import errors_only, validate_coco
    from custom.datasets.converters import (
        VOC_CLASSES,
        load_class_names,
        voc_to_coco,
        voc_xml_paths,
        write_coco_json,
    )

    classes = load_class_names(args.classes) if args.classes else VOC_CLASSES
    coco = voc_to_coco(voc_xml_paths(args.voc_root, args.split), classes)
    out = write_coco_json(coco, args.out_json)
    print(f'{out}: {len(coco["images"])} images, {len(coco["annotations"])} annotations, '
          f'{len(classes)} categories')
    img_dir = Path(args.voc_root) / 'JPEGImages'
    problems = validate_coco(out, img_dir if img_dir.is_dir() else None, image_check='header')
    for problem in errors_only(problems):
        print(f'error: {problem}')
    return 1 if errors_only(problems) else 0


if __name__ == '__main__':
    sys.exit(main())
