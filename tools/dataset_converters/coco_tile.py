"""Tile a COCO training set for small objects in large images (as SAHI's ``coco slice``).

    python tools/dataset_converters/coco_tile.py ANN_JSON IMG_DIR OUT_DIR --tile-size S | H W
        [--overlap 0.2] [--min-visible 0.3] [--empty-rate 1.0] [--seed 0]

Cuts every image on the grid sliced inference uses (``--slice-size``/``--slice-overlap`` of
tools/test.py and tools/infer.py), clips the boxes to each tile, drops pieces that keep less
than --min-visible of their box's area, and keeps the tiles without boxes (or a seeded
sample of them at --empty-rate). Writes OUT_DIR/images/ and OUT_DIR/annotations.json; OUT_DIR
must not exist yet.
"""
import argparse
import os
import os.path as osp
import sys

from custom.apis.cli import CLIError, exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_json', help='COCO annotation file')
    parser.add_argument('img_dir', help="folder the images' file_name are relative to")
    parser.add_argument('out_dir', help='new folder for images/ and annotations.json')
    parser.add_argument('--tile-size', nargs='+', type=int, required=True, metavar='PX',
                        help='tile side S, or H W, in pixels')
    parser.add_argument('--overlap', type=float, default=0.2,
                        help='fraction of a tile shared with its neighbour (default 0.2)')
    parser.add_argument('--min-visible', type=float, default=0.3,
                        help="drop a box's piece with less of its area in the tile "
                             '(default 0.3)')
    parser.add_argument('--empty-rate', type=float, default=1.0,
                        help='share of the tiles without boxes to keep (default 1: all)')
    parser.add_argument('--seed', type=int, default=0, help='seed of that sampling')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.coco_tiling import tile_coco
    from custom.datasets.converters import write_coco_json
    from custom.evaluation.coco_files import load_ground_truth
    if len(args.tile_size) not in (1, 2):
        raise CLIError(f'--tile-size: one or two pixel counts (S or H W), got {args.tile_size}')
    if osp.exists(args.out_dir) and os.listdir(args.out_dir):
        raise CLIError(f'{args.out_dir}: exists and is not empty; choose a new folder')
    data = load_ground_truth(args.ann_json).dataset
    size = tuple((args.tile_size * 2)[:2])
    tiled, report = tile_coco(data, args.img_dir, osp.join(args.out_dir, 'images'), size,
                              args.overlap, args.min_visible, args.empty_rate, args.seed,
                              args.ann_json)
    out = write_coco_json(tiled, osp.join(args.out_dir, 'annotations.json'))
    print(f'{report.images} images -> {report.tiles} tiles of {size[0]}x{size[1]} in '
          f'{args.out_dir}/images ({report.empty_tiles_kept} without boxes kept, '
          f'{report.empty_tiles_dropped} dropped); {report.boxes} boxes -> {report.pieces} '
          f'pieces ({report.pieces_dropped} below --min-visible {args.min_visible} dropped); '
          f'{out}')
    for problem in report.failed:
        print(f'failed: {problem}', file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == '__main__':
    sys.exit(main())
