"""Every change classicdet makes to mmengine's and mmdet's own code, in one place.

Each patch says why it is needed; ``tests/core/test_library_patches.py`` holds, for each, a
test that fails when the library under it changes (the patched function's code or the module
globals it swaps), so an upgrade of mmengine or mmdet shows where to look.

- :func:`patch_history_buffer_pickling` and :func:`patch_message_hub_state_dict`: mmengine
  checkpoints load with torch's weights-only unpickler (``custom.core.safe_load``). Installed
  by :func:`install`, which ``import custom`` runs.
- :func:`faster_coco_api`: mmdet's ``CocoMetric`` with faster-coco-eval's evaluator, for the
  length of one call (``FastCocoMetric``); nothing changes while it is not running.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from mmengine.logging import HistoryBuffer, MessageHub

__all__ = ['install', 'patch_history_buffer_pickling', 'patch_message_hub_state_dict',
           'to_plain', 'faster_coco_api', 'dump_json_at_once', 'COCO_METRIC_GLOBALS']

_INSTALLED = False


def _reduce_history_buffer(buffer: HistoryBuffer) -> tuple:
    """Pickle a HistoryBuffer as its constructor and plain lists (no bound methods)."""
    log_history, count_history = buffer.data
    return HistoryBuffer, (log_history.tolist(), count_history.tolist(), buffer.max_length)


def patch_history_buffer_pickling() -> None:
    """``HistoryBuffer`` pickles as ``HistoryBuffer(log_history, count_history, max_length)``.

    Why: pickled the default way, a buffer of the message hub carries bound methods through
    ``builtins.getattr``; allow-listing ``getattr`` for the weights-only unpickler would let a
    crafted file reach any attribute of an allow-listed object. With plain lists only the class
    itself needs allow-listing, as a constructor.
    """
    HistoryBuffer.__reduce__ = _reduce_history_buffer


def to_plain(value: Any) -> Any:
    """numpy scalars and arrays inside dicts, lists and tuples → Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return type(value)((k, to_plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    return value


def _plain_message_hub_state(state_dict_fn):

    def state_dict(self) -> dict:
        state = state_dict_fn(self)
        state['runtime_info'] = to_plain(state.get('runtime_info', {}))
        return state

    state_dict.__wrapped__ = state_dict_fn
    return state_dict


def patch_message_hub_state_dict() -> None:
    """``MessageHub.state_dict`` hands numpy values of the runtime info over as Python ones.

    Why: the runner's ETA (and whatever a hook stores) is a ``numpy.float64``; the weights-only
    unpickler refuses numpy's reconstructors, and allow-listing them would open more than
    numbers.
    """
    if not hasattr(MessageHub.state_dict, '__wrapped__'):
        MessageHub.state_dict = _plain_message_hub_state(MessageHub.state_dict)


def install() -> None:
    """Apply the patches checkpoint saving needs; idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    patch_history_buffer_pickling()
    patch_message_hub_state_dict()
    _INSTALLED = True


# --- mmdet's CocoMetric on faster-coco-eval -------------------------------------------------

# The module globals of ``mmdet.evaluation.metrics.coco_metric`` that CocoMetric's code reads.
COCO_METRIC_GLOBALS = ('COCO', 'COCOeval', 'dump')
# Serialises the swap below when two metrics evaluate at once in one process.
_SWAP_LOCK = threading.RLock()


def dump_json_at_once(obj, file=None, file_format=None, **kwargs):
    """mmengine's ``dump``, but a local ``.json`` file is encoded in one ``json.dumps`` call.

    mmengine streams files through ``json.dump``, whose encoder is pure Python; ``json.dumps``
    (mmengine's ``dump`` to a string) uses the C encoder and writes the same text. For COCO-sized
    results (hundreds of thousands of boxes) the streamed dump took longer than the evaluation.
    """
    from mmengine.fileio import dump as mmengine_dump
    is_local_json = (isinstance(file, (str, os.PathLike)) and str(file).endswith('.json')
                     and file_format in (None, 'json') and not kwargs.get('backend_args'))
    if not is_local_json:
        return mmengine_dump(obj, file, file_format, **kwargs)
    text = mmengine_dump(obj, file_format='json', **kwargs)
    with open(file, 'w') as f:
        f.write(text)


@contextmanager
def faster_coco_api(coco, cocoeval) -> Iterator[None]:
    """Make mmdet's CocoMetric code use ``coco`` / ``cocoeval`` and a one-shot JSON dump.

    Why: CocoMetric takes its ground-truth/results class, its evaluator and its file writer
    from the module globals ``COCO``, ``COCOeval`` and ``dump`` of its module and offers no
    other hook; swapping them only for the length of one call keeps every other CocoMetric as
    it is.

    Args:
        coco (type): The ``COCO`` class to use (faster-coco-eval's).
        cocoeval (type): The ``COCOeval`` class to use (faster-coco-eval's
            ``COCOeval_faster``).
    """
    from mmdet.evaluation.metrics import coco_metric as coco_metric_module
    with _SWAP_LOCK:
        saved = [getattr(coco_metric_module, name) for name in COCO_METRIC_GLOBALS]
        for name, value in zip(COCO_METRIC_GLOBALS, (coco, cocoeval, dump_json_at_once)):
            setattr(coco_metric_module, name, value)
        try:
            yield
        finally:
            for name, value in zip(COCO_METRIC_GLOBALS, saved):
                setattr(coco_metric_module, name, value)
