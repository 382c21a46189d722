"""Counting the host synchronisations and dispatched ops of a step (what a GPU step waits on)."""
from __future__ import annotations

import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .phases import RUNNING_PHASES

# Ops after which the host must wait for a CUDA device: they read a value back (item, bool),
# or their output size depends on the data (nonzero, unique, boolean-mask indexing,
# torchvision's NMS; mmcv's NMS is not an aten op and goes uncounted).
SYNCING_OPS = ('_local_scalar_dense', 'is_nonzero', 'nonzero', 'masked_select', '_unique2',
               'unique_dim', 'unique_consecutive', 'nms')


class SyncCounter(TorchDispatchMode):
    """Counts the aten ops run inside it, and those that would make the host wait for a GPU.

    Works on any device, so a CPU run can count the waits a CUDA run of the same code has:
    each is a point where the GPU's queue drains before Python goes on. Device-to-host copies
    are not seen on a CPU run.

    Attributes:
        ops (int): aten ops dispatched (about the number of kernels a GPU would launch).
        syncs (Counter): syncing op name -> calls; boolean-mask indexing counts as
            ``index[bool]`` / ``index_put[bool]``, tensors made of Python data with at least
            one dimension as ``lift_fresh``.
        phase_ops, phase_syncs (Counter): the same totals per phase labelled by
            :func:`labelled` (the innermost one running), ``'unlabelled'`` outside them.
    """

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.syncs = collections.Counter()
        self.phase_ops = collections.Counter()
        self.phase_syncs = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        phase = RUNNING_PHASES[-1] if RUNNING_PHASES else 'unlabelled'
        self.ops += 1
        self.phase_ops[phase] += 1
        name = func.__name__.split('.')[0]
        kind = None
        if name in SYNCING_OPS:
            kind = name
        elif name == 'lift_fresh' and args[0].dim() > 0:
            # A tensor of Python data (``torch.tensor``, ``new_tensor``): on CUDA it is copied
            # over with a blocking copy, which waits for the stream. (0-d ones are mostly the
            # value of ``x[i] = 1.0``, which CUDA fills on the device.)
            kind = name
        elif name.startswith('index') and _has_bool_index(args):
            kind = 'index_put[bool]' if 'put' in name else 'index[bool]'
        if kind:
            self.syncs[kind] += 1
            self.phase_syncs[phase] += 1
        return func(*args, **(kwargs or {}))


def _has_bool_index(args: tuple) -> bool:
    indices = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)
