"""Flush denormal floats to zero on the CPU for the length of a run."""
from __future__ import annotations

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class FlushDenormalHook(Hook):
    """Treat denormal floats (|x| < 1.2e-38 in float32) as zero while the runner runs.

    x86 CPUs handle denormal operands in microcode, tens of times slower than normal ones.
    Once a few weights, gradients or Adam moments decay into that range, every convolution
    that touches them slows down: the digits detector's CPU step measured 1.07 s with
    denormals and 0.88 s without, with the same losses to four digits (bench/RESULTS.md).
    Values that small change no result a detector reports.

    The setting is the FTZ/DAZ bits of a thread's floating-point control register: torch
    sets them on the calling thread, and threads started afterwards inherit them (in a
    digits training run they were in effect on all of torch's CPU threads). They are switched
    on in ``before_run`` and off in ``after_run``. Where the CPU has no such mode, the hook
    logs that and changes nothing.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        self.active = torch.set_flush_denormal(True)
        if not self.active:
            runner.logger.warning('FlushDenormalHook: this CPU cannot flush denormals; '
                                  'running with them')

    def after_run(self, runner) -> None:
        if getattr(self, 'active', False):
            torch.set_flush_denormal(False)
            self.active = False
