"""Convert YOLO txt labels (class cx cy w h, normalised) to a COCO detection JSON.

    python tools/dataset_converters/yolo2coco.py IMG_DIR LABEL_DIR NAMES OUT_JSON

NAMES is a text file with one class name per line (line i = class i) or a YOLO data YAML with
`names:`. Image sizes are read from the image headers; category id = class index + 1;
file_name is relative to IMG_DIR.
"""
import argparse
import sys

from custom.apis.cli import exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('img_dir', help='image folder, e.g. dataset/images/train')
    parser.add_argument('label_dir', help='label folder, e.g. dataset/labels/train')
    parser.add_argument('names', help='class names: .txt (one per line) or data .yaml')
    parser.add_argument('out_json', help='output COCO JSON')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.coco_validation import errors_only, validate_coco
    from custom.datasets.converters import load_class_names, write_coco_json, yolo_to_coco

    classes = load_class_names(args.names)
    coco = yolo_to_coco(args.img_dir, args.label_dir, classes)
    out = write_coco_json(coco, args.out_json)
    print(f'{out}: {len(coco["images"])} images, {len(coco["annotations"])} annotations, '
          f'{len(classes)} categories')
    problems = errors_only(validate_coco(out, args.img_dir, image_check='header'))
    for problem in problems:
        print(f'error: {problem}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
