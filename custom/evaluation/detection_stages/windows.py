"""The course's windows on one image: equal windows (等大窗口), sliding windows (滑动窗口) with
their stride, multi-scale windows (多尺度滑窗) and the image pyramid (图像金字塔), made by the
window proposers of ``custom.models.proposals``."""
from __future__ import annotations

from mmengine.config import Config

from custom.models.proposals import (
    ImagePyramidProposals,
    MultiScaleWindowProposals,
    SlidingWindowProposals,
)

from .records import CourseWindows

__all__ = ['COURSE_STEPS', 'course_windows', 'default_generators']

COURSE_STEPS = ('equal', 'sliding', 'multi_scale', 'pyramid')


def default_generators(img_h: int, img_w: int) -> dict:
    """Windows sized to the image, for configs without ``proposal_generators``: a window a
    sixth of the shorter side, equal windows tiling the image, sliding ones a quarter
    window apart, five sizes and three shapes, and a five-level pyramid."""
    side = max(4, min(img_h, img_w) // 6)
    step = max(1, side // 4)
    return dict(
        equal=dict(type='SlidingWindowProposals', window_size=side, stride=side),
        sliding=dict(type='SlidingWindowProposals', window_size=side, stride=step),
        multi_scale=dict(type='MultiScaleWindowProposals',
                         sizes=[side / 2, side / 1.41, side, side * 1.41, side * 2],
                         ratios=[0.5, 1.0, 2.0], relative_stride=0.25),
        pyramid=dict(type='ImagePyramidProposals', window_size=side, stride=step,
                     scales=[2.0, 1.41, 1.0, 0.71, 0.5]))


def course_windows(cfg: Config, img_h: int, img_w: int) -> list[CourseWindows]:
    """The windows of each course step that ``cfg.proposal_generators`` defines (all four
    from :func:`default_generators` when it has none).

    Args:
        cfg (Config): a config, e.g. the sliding-window digits config.
        img_h (int): network-input height.
        img_w (int): network-input width.

    Returns:
        list[CourseWindows]: in the course's order.
    """
    from mmdet.registry import MODELS
    generators = cfg.get('proposal_generators') or default_generators(img_h, img_w)
    out = []
    for key in COURSE_STEPS:
        if key not in generators:
            continue
        generator = MODELS.build(dict(generators[key]))
        groups = [(float(scale), boxes.numpy())
                  for scale, boxes in generator.windows_per_scale(img_h, img_w)]
        out.append(CourseWindows(key=key, groups=groups, strides=_strides(generator)))
    return out


def _strides(generator) -> list[tuple[float, float]]:
    """(stride_x, stride_y) of each window shape, in pixels of the image it slides on."""
    if isinstance(generator, MultiScaleWindowProposals):
        return [(sx, sy) for _, _, sx, sy in generator.window_shapes()]
    if isinstance(generator, (SlidingWindowProposals, ImagePyramidProposals)):
        return [tuple(generator.stride)]
    return []
