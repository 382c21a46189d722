"""The sliced-inference options ``tools/test.py`` and ``tools/infer.py`` share."""
from __future__ import annotations

import argparse

from mmengine.config import Config

from custom.core.errors import InputError
from custom.core.hook_lists import ensure_hook
from custom.inference.slicing import MERGES, SliceSettings


def add_slicing_args(parser: argparse.ArgumentParser) -> None:
    """``--slice-size S | H W``, ``--slice-overlap R``, ``--no-full-pass``, ``--slice-merge``."""
    group = parser.add_argument_group('sliced inference (small objects in large images)')
    group.add_argument('--slice-size', nargs='+', metavar='PX',
                       help='detect on tiles of this size (S, or H W pixels) and merge')
    group.add_argument('--slice-overlap', type=float, default=0.2,
                       help='fraction of a tile shared with its neighbour, in [0, 1) '
                            '(default 0.2)')
    group.add_argument('--no-full-pass', action='store_true',
                       help='leave out the pass over the whole image')
    group.add_argument('--slice-merge', choices=MERGES, default='ios',
                       help="merge by intersection over the smaller box ('ios', default), "
                            "IoU ('nms'), or fuse same-class boxes whose intersection over "
                            "the smaller passes 0.5 into their union ('nmm', as SAHI)")
    group.add_argument('--max-tiles', type=int, default=10_000, metavar='N',
                       help='most tiles one image may be cut into (default 10000)')


# The option that sets each of the settings' fields.
FLAGS = dict(size='--slice-size', overlap='--slice-overlap', full_pass='--no-full-pass',
             merge='--slice-merge', max_tiles='--max-tiles')


def slicing_from_args(args: argparse.Namespace) -> SliceSettings | None:
    """The checked settings the options ask for; None without ``--slice-size``.

    Raises:
        InputError: A bad value, named by its option (``--slice-overlap: must be in ...``).
    """
    if args.slice_size is None:
        return None
    try:
        return SliceSettings(args.slice_size, args.slice_overlap, not args.no_full_pass,
                             args.slice_merge, max_tiles=getattr(args, 'max_tiles', 10_000))
    except InputError as err:
        raise err.renamed(FLAGS.get(err.key, f'--slice-{err.key}')) from None


def set_slicing(cfg: Config, settings: SliceSettings) -> None:
    """Make ``cfg``'s test run slice: ``model.test_cfg.slicing``, and the hook that reads it
    (configs based on this project's runtime list it already)."""
    cfg.model.test_cfg.slicing = settings.as_config()
    ensure_hook(cfg, 'SlicedInferenceHook')
