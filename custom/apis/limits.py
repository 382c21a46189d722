"""Bounds on the values a user gives the tools: each refused with one line naming it."""
from __future__ import annotations

import math

from custom.core.errors import InputError

__all__ = ['check_score_thr', 'check_positive_schedule', 'check_input_size',
           'MIN_INPUT_SIDE', 'MAX_INPUT_SIDE']

MIN_INPUT_SIDE = 32
MAX_INPUT_SIDE = 4096


def check_score_thr(value: float, name: str = '--score-thr') -> float:
    """A score threshold must be a number in [0, 1] (NaN is not: every comparison with it
    is false, so it would silently drop every detection)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f'{name}: must be a number in [0, 1], got {value!r}') from None
    if math.isnan(number) or not 0 <= number <= 1:
        raise InputError(f'{name}: must be in [0, 1], got {value!r}')
    return number


def check_positive_schedule(train_cfg) -> None:
    """``train_cfg.max_iters``, ``max_epochs`` and ``val_interval`` must be whole numbers
    >= 1 (a negative count trains nothing and would still exit 0)."""
    if not train_cfg:
        return
    for key in ('max_iters', 'max_epochs', 'val_interval', 'val_begin'):
        if key not in train_cfg:
            continue
        value = train_cfg[key]
        low = 0 if key == 'val_begin' else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f'train_cfg.{key}: must be a whole number >= {low}, got {value!r}')


def check_input_size(size, name: str = '--input-size') -> tuple[int, ...]:
    """Each side of a model's input size in [MIN_INPUT_SIDE, MAX_INPUT_SIDE] pixels."""
    sides = tuple(size)
    for side in sides:
        if isinstance(side, bool) or not isinstance(side, int) or not (
                MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE):
            raise InputError(f'{name}: each side must be a whole number in '
                             f'[{MIN_INPUT_SIDE}, {MAX_INPUT_SIDE}] pixels, got '
                             f'{" ".join(map(str, sides))}')
    return sides
