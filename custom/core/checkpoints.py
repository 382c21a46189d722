"""Checking a checkpoint against a model before anything is loaded into it."""
from __future__ import annotations

import torch
from torch import nn

from .errors import InputError
from .safe_load import load_checkpoint_safely


def state_dict_of(checkpoint: object, path: str) -> dict:
    """The weights inside an mmengine checkpoint (or a bare state_dict)."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        return checkpoint['state_dict']
    if isinstance(checkpoint, dict) and checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    raise InputError(f'{path}: not a checkpoint (no state_dict inside)')


def mismatched_keys(model: nn.Module, state_dict: dict) -> tuple[list, list, list]:
    """Keys the model lacks, keys the file lacks, and keys whose shapes differ."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in own)
    shapes = sorted(f'{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}' for k in own
                    if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape))
    return missing, unexpected, shapes


def check_checkpoint_matches(model: nn.Module, path: str, show: int = 5) -> dict:
    """Load ``path`` safely and raise :class:`InputError` unless it fits ``model`` exactly.

    Returns:
        dict: the loaded checkpoint.
    """
    try:
        checkpoint = load_checkpoint_safely(path)
    except Exception as err:
        raise InputError(str(err)) from err
    state_dict = state_dict_of(checkpoint, path)
    missing, unexpected, shapes = mismatched_keys(model, state_dict)
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (('missing in file', missing), ('not in model', unexpected),
                            ('shape differs', shapes)):
            if keys:
                more = f' (+{len(keys) - show} more)' if len(keys) > show else ''
                parts.append(f'{label}: {", ".join(keys[:show])}{more}')
        raise InputError(f'{path}: checkpoint of another architecture; ' + '; '.join(parts))
    return checkpoint
