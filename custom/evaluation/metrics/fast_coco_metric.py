"""COCO evaluation through faster-coco-eval's C++ ``COCOeval_faster``: mmdet's CocoMetric, faster.

faster-coco-eval re-implements pycocotools' per-image matching and accumulation in C++ and
keeps its API (``COCO``, ``loadRes``, ``params``, ``stats``, ``eval['precision']``), so the
numbers are pycocotools' (bench/eval_speed.py and tests/bench/test_bench.py check it to 1e-4).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS

from custom.core import library_patches
from custom.core.library_patches import dump_json_at_once  # noqa: F401  (its old home)

FASTER_COCO_EVAL_PIN = 'faster-coco-eval==1.8.0'


def _faster_coco_eval():
    """The faster_coco_eval module, or an error that says how to install it."""
    try:
        import faster_coco_eval
    except ImportError as err:
        raise ImportError(f'FastCocoMetric needs faster-coco-eval: pip install '
                          f'{FASTER_COCO_EVAL_PIN} (or use type=CocoMetric)') from err
    return faster_coco_eval


@contextmanager
def faster_coco_api() -> Iterator[None]:
    """Make mmdet's CocoMetric code use faster-coco-eval and a one-shot JSON dump, for the
    length of one call (:func:`custom.core.library_patches.faster_coco_api` says why)."""
    fce = _faster_coco_eval()
    with library_patches.faster_coco_api(fce.COCO, fce.COCOeval_faster):
        yield


@METRICS.register_module()
class FastCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric`` (same arguments, same result keys) on faster-coco-eval.

    In a config: ``val_evaluator = dict(type='FastCocoMetric', ann_file=..., metric='bbox')``,
    or ``--cfg-options val_evaluator.type=FastCocoMetric test_evaluator.type=FastCocoMetric``.
    ``use_mp_eval`` (mmdet's multi-process pycocotools) is refused: the C++ evaluator is
    faster on its own.
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get('use_mp_eval'):
            raise ValueError('FastCocoMetric: use_mp_eval=True is for pycocotools; drop it '
                             '(faster-coco-eval evaluates in C++) or use type=CocoMetric')
        with faster_coco_api():
            super().__init__(*args, **kwargs)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """CocoMetric's ``compute_metrics`` with faster-coco-eval's COCO and COCOeval."""
        with faster_coco_api():
            return super().compute_metrics(results)
