"""COCO evaluation through faster-coco-eval's C++ ``COCOeval_faster``: mmdet's CocoMetric, faster.

faster-coco-eval re-implements pycocotools' per-image matching and accumulation in C++ and
keeps its API (``COCO``, ``loadRes``, ``params``, ``stats``, ``eval['precision']``), so the
numbers are pycocotools' (bench/eval_speed.py and tests/test_bench.py check it to 1e-4).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

from mmdet.evaluation.metrics import CocoMetric
from mmdet.evaluation.metrics import coco_metric as coco_metric_module
from mmdet.registry import METRICS
from mmengine.fileio import dump as mmengine_dump

FASTER_COCO_EVAL_PIN = 'faster-coco-eval==1.8.0'
# Serialises the swap below when two metrics evaluate at once in one process.
_SWAP_LOCK = threading.RLock()


def _faster_coco_eval():
    """The faster_coco_eval module, or an error that says how to install it."""
    try:
        import faster_coco_eval
    except ImportError as err:
        raise ImportError(f'FastCocoMetric needs faster-coco-eval: pip install '
                          f'{FASTER_COCO_EVAL_PIN} (or use type=CocoMetric)') from err
    return faster_coco_eval


def dump_json_at_once(obj, file=None, file_format=None, **kwargs):
    """mmengine's ``dump``, but a local ``.json`` file is encoded in one ``json.dumps`` call.

    mmengine streams files through ``json.dump``, whose encoder is pure Python; ``json.dumps``
    (mmengine's ``dump`` to a string) uses the C encoder and writes the same text. For COCO-sized
    results (hundreds of thousands of boxes) the streamed dump took longer than the evaluation.
    """
    is_local_json = (isinstance(file, (str, os.PathLike)) and str(file).endswith('.json')
                     and file_format in (None, 'json') and not kwargs.get('backend_args'))
    if not is_local_json:
        return mmengine_dump(obj, file, file_format, **kwargs)
    text = mmengine_dump(obj, file_format='json', **kwargs)
    with open(file, 'w') as f:
        f.write(text)


@contextmanager
def faster_coco_api() -> Iterator[None]:
    """Make mmdet's CocoMetric code use faster-coco-eval and a one-shot JSON dump.

    CocoMetric takes its ground-truth/results class, its evaluator and its file writer from
    the module globals ``COCO``, ``COCOeval`` and ``dump`` and offers no other hook; swapping
    them only for the length of one call keeps every other CocoMetric as it is.
    """
    fce = _faster_coco_eval()
    names = ('COCO', 'COCOeval', 'dump')
    with _SWAP_LOCK:
        saved = [getattr(coco_metric_module, name) for name in names]
        for name, value in zip(names, (fce.COCO, fce.COCOeval_faster, dump_json_at_once)):
            setattr(coco_metric_module, name, value)
        try:
            yield
        finally:
            for name, value in zip(names, saved):
                setattr(coco_metric_module, name, value)


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
