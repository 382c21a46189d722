"""The phases of a step (preprocess, backbone + neck, RPN, RoI head, backward + optimizer):
labels that the profiler tables and the synchronisation counter both report by."""
from __future__ import annotations

import functools
from typing import Callable

import torch

PHASE_PREFIX = 'phase: '
RUNNING_PHASES: list[str] = []  # labelled phases now running, innermost last (SyncCounter)


def labelled(function: Callable, phase: str) -> Callable:
    """``function`` run inside a profiler range ``phase: <phase>`` (shown by profile_table
    and counted per phase by :class:`SyncCounter`)."""
    @functools.wraps(function)
    def run_labelled(*args, **kwargs):
        RUNNING_PHASES.append(phase)
        try:
            with torch.profiler.record_function(PHASE_PREFIX + phase):
                return function(*args, **kwargs)
        finally:
            RUNNING_PHASES.pop()
    return run_labelled


def label_phase(owner: object, method: str, phase: str) -> None:
    """Replace ``owner.method`` with :func:`labelled` of it."""
    setattr(owner, method, labelled(getattr(owner, method), phase))
