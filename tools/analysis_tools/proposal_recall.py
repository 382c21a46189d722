"""Average recall (COCO's AR@100/300/1000) and speed of proposal generators on a val set.

The road to detection, measured: equal and sliding windows, multi-scale windows, an image
pyramid and the trained RPN propose boxes for the same images; the table gives AR@n
(IoU 0.5:0.95, COCO's proposal metric), proposals per image, generator time per image and
proposals per second, and a PNG plots AR against the number of proposals.

Example (from the repository root)::

    python tools/analysis_tools/proposal_recall.py \
        configs/digits/faster-rcnn_r18_fpn_540it_digits.py work_dirs/demo/iter_540.pth \
        --generator-config configs/digits/fast-rcnn_r18_fpn_sliding-window_540it_digits.py \
        --generators equal sliding multi_scale pyramid rpn --out road_to_detection.png

CONFIG gives the val dataloader, the backbone and neck whose features the generators score, and
the RPN; CHECKPOINT (optional) its trained weights. The window generators are the entries of
``proposal_generators`` in the generator config (CONFIG itself by default).
"""
import argparse
import os.path as osp
import sys

from custom.apis.cli import CLIError, exit_on_error
from custom.apis.config import DictAction, load_config, resolve_device
from custom.core.build_detector import build_detector
from custom.evaluation.proposal_recall import (
    DEFAULT_PROPOSAL_NUMS,
    build_generators,
    format_recall_table,
    ground_truth_by_img_id,
    plot_recall_curves,
    run_proposal_generators,
)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='detector config: val dataloader, backbone, neck, RPN')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='trained weights of the detector (needed for a meaningful rpn row)')
    parser.add_argument('--generators', nargs='+',
                        default=['equal', 'sliding', 'multi_scale', 'pyramid'],
                        help="keys of proposal_generators in the generator config, and 'rpn'")
    parser.add_argument('--generator-config', default=None,
                        help='config holding proposal_generators (default: CONFIG)')
    parser.add_argument('--proposal-nums', nargs='+', type=int,
                        default=list(DEFAULT_PROPOSAL_NUMS), help='AR budgets per image')
    parser.add_argument('--max-images', type=int, default=None, help='stop after N val images')
    parser.add_argument('--out', default=None, help='PNG of AR against number of proposals')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'auto'")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the initial weights when no CHECKPOINT is given')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override CONFIG keys, e.g. val_dataloader.dataset.data_root=...')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    if min(args.proposal_nums) <= 0:
        raise CLIError(f'--proposal-nums: budgets must be positive, got {args.proposal_nums}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise CLIError(f'{args.checkpoint}: checkpoint file not found')
    cfg = load_config(args.config, args.cfg_options)
    generator_cfg = load_config(args.generator_config) if args.generator_config else cfg

    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope(cfg.get('default_scope', 'mmdet'))

    model = build_detector(cfg, args.checkpoint, resolve_device(args.device),
                           init_weights=args.checkpoint is None, seed=args.seed)
    generators = build_generators(args.generators, model, generator_cfg, max(args.proposal_nums))
    dataloader = Runner.build_dataloader(cfg.val_dataloader)
    gts_by_img_id = ground_truth_by_img_id(dataloader.dataset)

    if args.checkpoint is None:
        print('no CHECKPOINT: the backbone is untrained, so feature-scored windows and the RPN '
              'rank boxes from random features')
    bench = run_proposal_generators(model, generators, dataloader, gts_by_img_id,
                                    args.max_images)
    num_images = len(bench.gts)
    print(f'{num_images} images, {sum(len(g) for g in bench.gts)} ground-truth boxes; '
          f'backbone + neck {1000 * bench.feature_seconds / max(num_images, 1):.1f} ms/img '
          f'(not included in the generators\' times)')
    print(format_recall_table(bench, args.proposal_nums))
    if args.out:
        plot_recall_curves(bench, args.out, max(args.proposal_nums))
        print(f'saved {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
