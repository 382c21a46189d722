"""Safe checkpoint loading on torch >= 2.6.

torch.load defaults to ``weights_only=True``: its unpickler rebuilds tensors and plain Python
data and refuses every other global. mmengine 0.10.7 calls ``torch.load`` without arguments, so
its checkpoints load as long as they hold nothing else. Two things in them are not plain data:

* ``collections.Counter``, the milestones of ``MultiStepLR``: a dict subclass with no code of
  its own, so it is allow-listed.
* ``HistoryBuffer`` objects of the message hub. Pickled the default way they carry bound
  methods through ``builtins.getattr``; allow-listing ``getattr`` would let a crafted file reach
  any attribute of an allow-listed object. Instead a buffer pickles as
  ``HistoryBuffer(log_history, count_history, max_length)`` with plain lists, and only the class
  itself is allow-listed as a constructor.

Nothing here turns on full pickle loading: a checkpoint whose pickle names any other global
(``os.system`` say) is refused by torch before any of it runs.
"""
from __future__ import annotations

import collections
import os
from typing import Any

import torch
from mmengine.logging import HistoryBuffer

_INSTALLED = False


def _reduce_history_buffer(buffer: HistoryBuffer) -> tuple:
    """Pickle a HistoryBuffer as its constructor and plain lists (no bound methods)."""
    log_history, count_history = buffer.data
    return HistoryBuffer, (log_history.tolist(), count_history.tolist(), buffer.max_length)


def safe_globals() -> list:
    """The globals, beyond torch's defaults, that classicdet's checkpoints may name."""
    return [collections.Counter, HistoryBuffer]


def install_safe_loading() -> None:
    """Allow-list the globals mmengine checkpoints need; idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    HistoryBuffer.__reduce__ = _reduce_history_buffer
    torch.serialization.add_safe_globals(safe_globals())
    _INSTALLED = True


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint file names globals outside the allow-list, or is not a checkpoint."""


def load_checkpoint_safely(path: str | os.PathLike, map_location: Any = 'cpu') -> Any:
    """Load ``path`` with the weights-only unpickler and a clear error on refusal.

    Args:
        path (str | PathLike): checkpoint file.
        map_location (Any): as for :func:`torch.load`. Defaults to 'cpu'.

    Returns:
        Any: the loaded object (a dict for every mmengine checkpoint).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file is not a torch checkpoint, or its pickle names a global
            that is not allow-listed (code that would run on load).
    """
    install_safe_loading()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError or EOFError here
        raise UnsafeCheckpointError(f'{path}: {describe_load_error(err)}') from err


def describe_load_error(err: BaseException) -> str:
    """One line saying why torch refused a checkpoint."""
    text = str(err)
    for line in text.splitlines():
        if 'Unsupported global' in line or 'Unsupported operand' in line:
            return ('refused: its pickle names code outside the allow-list '
                    f'({line.strip()}); classicdet never loads such files')
    if 'invalid load key' in text or 'failed finding central directory' in text \
            or 'PytorchStreamReader' in text or isinstance(err, EOFError):
        return 'not a checkpoint (not a torch save file, or truncated)'
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f'cannot be loaded: {first}'
