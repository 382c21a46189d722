"""Fair timing: contenders interleaved round by round, medians and ratios between them."""
from __future__ import annotations

import statistics
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from custom.profiling.speed import synchronize


@dataclass
class Timing:
    """Seconds of each timed round of one contender, or the error that stopped it."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float('nan')


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                device: str = 'cpu', verbose: bool = False) -> dict[str, Timing]:
    """Time each contender once per round, in turn, for ``warmup + repeats`` rounds.

    A contender that raises is recorded with its error (last line of the traceback) and skipped
    from then on; the others go on. Warm-up rounds are run but not kept.

    Args:
        contenders (dict[str, callable]): name -> one unit of work (a step, a call).
        repeats (int): timed rounds (>= 1).
        warmup (int): untimed rounds first (>= 0).
        device (str): 'cuda...' synchronises around each unit.
        verbose (bool): print each unit's seconds as it ends (long runs show progress).

    Returns:
        dict[str, Timing]: per contender, in the given order.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f'need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}')
    timings = {name: Timing() for name in contenders}
    for round_index in range(warmup + repeats):
        for name, unit in contenders.items():
            timing = timings[name]
            if timing.error is not None:
                continue
            synchronize(device)
            start = time.perf_counter()
            try:
                unit()
                synchronize(device)
            except Exception as err:  # noqa: BLE001 - a failing contender is a result too
                timing.error = f'{type(err).__name__}: {err}'.splitlines()[0][:200]
                timing.samples.clear()
                traceback.print_exc()
                continue
            seconds = time.perf_counter() - start
            if round_index >= warmup:
                timing.samples.append(seconds)
            if verbose:
                kind = 'warm-up' if round_index < warmup else 'timed'
                print(f'  round {round_index + 1}/{warmup + repeats} ({kind}) {name}: '
                      f'{seconds:.3f} s', flush=True)
    return timings


def ratio(ours: float, theirs: float) -> float:
    """``ours / theirs``; NaN when either is missing or ``theirs`` is 0."""
    if not (np.isfinite(ours) and np.isfinite(theirs)) or theirs == 0:
        return float('nan')
    return ours / theirs
