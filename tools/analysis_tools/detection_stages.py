"""See the road to detection on one image: every stage of a two-stage detector, drawn.

Writes OUT_DIR/detection_stages.html (one self-contained page: the course's windows, backbone
and FPN feature maps, anchors, RPN proposals before and after NMS, the RoI head's class-wise
NMS, the detections with Grad-CAM maps, and sliders that re-run NMS in the page), the same
panels as PNGs in OUT_DIR/panels/ and every count in OUT_DIR/counts.json.

Example (from the repository root)::

    python tools/analysis_tools/detection_stages.py data/digits/val/00001.png \
        configs/digits/faster-rcnn_r18_fpn_540it_digits.py work_dirs/demo/iter_540.pth \
        work_dirs/stages \
        --windows-config configs/digits/fast-rcnn_r18_fpn_sliding-window_540it_digits.py
"""
import argparse
import os.path as osp
import sys

from custom.apis.cli import CLIError, exit_on_error
from custom.apis.config import DictAction, load_config


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image', help='the image')
    parser.add_argument('config', help='detector config')
    parser.add_argument('checkpoint', help='its trained weights')
    parser.add_argument('out_dir', help='folder for the page, the PNG panels and counts.json')
    parser.add_argument('--windows-config', default=None,
                        help="config whose proposal_generators give the course's windows "
                             '(default: CONFIG\'s, else windows sized to the image)')
    parser.add_argument('--saliency', type=int, default=6,
                        help='Grad-CAM maps for this many best detections (default 6)')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'auto'")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override CONFIG keys, e.g. model.test_cfg.rcnn.score_thr=0.3')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.apis import Detector
    from custom.apis.config import ensure_writable_dir
    from custom.apis.detector import read_image
    from custom.evaluation.detection_stages.page import write_stages

    if args.saliency < 0:
        raise CLIError(f'--saliency: must be >= 0, got {args.saliency}')
    page = osp.join(args.out_dir, 'detection_stages.html')
    if osp.exists(page):
        raise CLIError(f'{page}: already exists; choose another OUT_DIR or remove it')
    image = read_image(args.image)
    cfg = load_config(args.config, args.cfg_options)
    detector = Detector(cfg, args.checkpoint, device=args.device)
    stages = detector.stages(image, windows_config=args.windows_config,
                             saliency_top=args.saliency)
    ensure_writable_dir(args.out_dir)
    title = (f'The road to detection: {osp.basename(args.image)}, '
             f'{osp.splitext(osp.basename(args.config))[0]}')
    paths = write_stages(stages, args.out_dir, title)
    counts = stages.proposals.counts
    print(f'{stages.proposals.source}: {counts["top-k"]} candidates, {counts["after NMS"]} '
          f'after NMS, {counts["after cap"]} proposals; {len(stages.roi.det_boxes)} detections')
    print(f'saved {paths["page"]} ({len(paths) - 2} panels in '
          f'{osp.join(args.out_dir, "panels")})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
