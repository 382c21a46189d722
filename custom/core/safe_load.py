"""Safe checkpoint loading on torch >= 2.6.

torch.load defaults to ``weights_only=True``: its unpickler rebuilds tensors and plain Python
data and refuses every other global. mmengine 0.10.7 calls ``torch.load`` without arguments, so
its checkpoints load as long as they hold nothing else. Two things in them are not plain data:

* ``collections.Counter``, the milestones of ``MultiStepLR``: a dict subclass with no code of
  its own, so it is allow-listed.
* ``HistoryBuffer`` objects of the message hub. Pickled the default way they carry bound
  methods through ``builtins.getattr``; allow-listing ``getattr`` would let a crafted file reach
  any attribute of an allow-listed object. Instead a buffer pickles as
  ``HistoryBuffer(log_history, count_history, max_length)`` with plain lists
  (:mod:`custom.core.library_patches`), and only the class itself is allow-listed.
* numpy scalars and arrays in the message hub's runtime info (the ETA is a ``numpy.float64``):
  the hub's ``state_dict`` hands them over as Python numbers and lists instead (the same
  module's second patch).

Nothing here turns on full pickle loading: a checkpoint whose pickle names any other global
(``os.system`` say) is refused by torch before any of it runs.
"""
from __future__ import annotations

import collections
import os
import re
from typing import Any

import torch
from mmengine.logging import HistoryBuffer

from . import library_patches

_INSTALLED = False


def safe_globals() -> list:
    """The globals, beyond torch's defaults, that classicdet's checkpoints may name."""
    return [collections.Counter, HistoryBuffer]


def install_safe_loading() -> None:
    """Allow-list the globals mmengine checkpoints need; idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    library_patches.install()
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
    named = re.search(r'GLOBAL (\S+)', text)
    if named or 'Unsupported operand' in text:
        what = named.group(1) if named else 'an unsupported operation'
        return (f'refused: its pickle names {what}, which is not allow-listed '
                '(classicdet never runs code from a checkpoint)')
    # torch's text (a zip reader's or the unpickler's) names neither file nor cure
    return 'not a checkpoint (not a torch save file, or truncated)'
