"""torch.profiler tables of one step: time per model phase and the ops with the most self time."""
from __future__ import annotations

import time
from typing import Callable

from custom.profiling.speed import synchronize

from .phases import PHASE_PREFIX
from .report import markdown_table


def profile_table(unit: Callable[[], object], device: str, rows: int = 15) -> str:
    """torch.profiler of one call of ``unit`` as Markdown (see :func:`_profile_table`).

    A profile is an addition to the timings: if it fails, its text says why and the
    benchmark's table is still written.
    """
    try:
        return _profile_table(unit, device, rows)
    except Exception as err:  # noqa: BLE001
        return f'Profile failed: {type(err).__name__}: {err}'


def _profile_table(unit: Callable[[], object], device: str, rows: int) -> str:
    """torch.profiler of one call of ``unit``: the ops with the most self time, as Markdown.

    On CUDA there are two tables, the GPU time of the kernels each op launched and CPU self
    time, after one line that compares the call's wall time with the time the GPU kernels
    were busy: a step whose kernels fill a small part of its wall time is held back by the
    CPU (launches, synchronisations), and the CPU table then says where. Ranges labelled by
    :func:`label_phase` come first, as a table of their own (CPU time includes the waits).
    """
    from torch.profiler import ProfilerActivity, profile
    on_cuda = device.startswith('cuda')
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    synchronize(device)
    began = time.perf_counter()
    with profile(activities=activities) as prof:
        unit()
        synchronize(device)
    wall_ms = (time.perf_counter() - began) * 1e3
    events = prof.key_averages()
    phases = _phase_table(events, on_cuda)
    if not on_cuda:
        return phases + _self_time_table(events, 'self_cpu_time_total', rows)
    from torch.autograd import DeviceType
    # Kernels are events of their own and also count in the self time of the op that
    # launched them: busy time sums the kernels, the GPU table lists the launching ops.
    # Labelled ranges also appear as GPU-side annotations: neither kernels nor ops.
    kernels = [e for e in events
               if e.device_type == DeviceType.CUDA and not e.key.startswith(PHASE_PREFIX)]
    ops = [e for e in events if e.device_type != DeviceType.CUDA]
    gpu_ms = sum(e.self_device_time_total for e in kernels) / 1e3
    return phases + (f'Wall time {wall_ms:.1f} ms (profiler on); GPU kernels busy {gpu_ms:.1f} ms '
            f'({100 * gpu_ms / wall_ms:.0f}%); {sum(e.count for e in kernels)} kernels.\n\n'
            'GPU time of the kernels each op launched:\n\n'
            + _self_time_table(ops, 'self_device_time_total', rows)
            + '\n\nCPU self time:\n\n' + _self_time_table(events, 'self_cpu_time_total', rows))


def _phase_table(events, on_cuda: bool) -> str:
    """Markdown table of the ``phase: ...`` ranges on the CPU side, or '' if none.

    CPU time is inclusive and counts the waits for the GPU (a range that synchronises waits
    for the kernels queued before it). GPU time is that of the kernels launched from the
    range's own thread: autograd runs backward on a thread of its own, so backward kernels
    are not in it.
    """
    from torch.autograd import DeviceType
    phases = [e for e in events
              if e.key.startswith(PHASE_PREFIX) and e.device_type == DeviceType.CPU]
    if not phases:
        return ''
    header = ['phase', 'calls', 'CPU ms (incl. waits)'] + (
        ['GPU ms of kernels it launched'] if on_cuda else [])
    table = [[e.key[len(PHASE_PREFIX):], e.count, e.cpu_time_total / 1e3]
             + ([e.device_time_total / 1e3] if on_cuda else []) for e in phases]
    return 'Phases:\n\n' + markdown_table(header, table) + '\n\n'


def _self_time_table(events, attr: str, rows: int) -> str:
    """Markdown table of the ``rows`` profiler events with the most ``attr`` (microseconds)."""
    events = sorted(events, key=lambda e: getattr(e, attr), reverse=True)
    total = sum(getattr(e, attr) for e in events) or 1.0
    table = [[event.key[:60], event.count, getattr(event, attr) / 1e3,
              100.0 * getattr(event, attr) / total] for event in events[:rows]]
    return markdown_table(['op', 'calls', 'self ms', '% of self time'], table)
