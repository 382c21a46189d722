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
    check_finite_weights(state_dict, path)
    return checkpoint


def check_finite_weights(state_dict: dict, path: str) -> None:
    """Refuse weights with NaN or inf: such a model predicts nothing, without a word.

    Raises:
        InputError: ``'<path>: non-finite weights (NaN or inf) in <key> ...'``.
    """
    bad = [key for key, value in state_dict.items()
           if isinstance(value, torch.Tensor) and value.is_floating_point()
           and not bool(torch.isfinite(value).all())]
    if bad:
        more = f' (+{len(bad) - 1} more)' if len(bad) > 1 else ''
        raise InputError(f'{path}: non-finite weights (NaN or inf) in {bad[0]}{more}; '
                       'the checkpoint is unusable')


def check_class_count(classes, num_classes: int | None, source: str) -> None:
    """The class names a checkpoint or sidecar gives must be as many as the model's classes.

    Raises:
        InputError: ``'<source>: names 3 classes but the model has 10 ...'``.
    """
    if num_classes is None or not classes:  # names none: the config's names are used
        return
    if len(classes) != num_classes:
        raise InputError(f'{source}: names {len(classes)} classes but the model has '
                       f'{num_classes} (model.roi_head.bbox_head.num_classes)')


def config_num_classes(model_cfg) -> int | None:
    """``num_classes`` of a detector config's box head (the first stage's of a cascade)."""
    head = (model_cfg.get('roi_head') or {}).get('bbox_head') if model_cfg else None
    if isinstance(head, (list, tuple)):
        head = head[0] if head else None
    value = head.get('num_classes') if head else None
    return value if isinstance(value, int) else None
