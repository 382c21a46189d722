"""Device-portable detection ops: hard, batched and Soft-NMS, and RoIAlign.

They keep the signatures and return values of their ``mmcv.ops`` namesakes, so a detector part
can swap one for the other, but they also run on CUDA tensors with an mmcv built without CUDA
kernels. Which implementation runs an op on a device is decided in one place, ``OP_BACKENDS``
below; the op modules hold the implementations and ask :func:`backend_for`.
"""
import torch

# op variant -> device type -> implementation. Every implementation of an op returns equal
# results (tests/test_ops.py); the choice is about speed and availability.
# - CUDA: this project's mmcv has no CUDA kernels, so torchvision's or the pure-torch ones.
# - CPU, median seconds forward + backward, one thread (bench/roi_align_speed.py):
#   RoIAlign 1 map 64x64x256, 1024 RoIs, S=2: mmcv 3.15, torchvision 2.86, gather 0.65;
#   the same with S=0: mmcv 5.37, torchvision 4.77, gather 0.98; digits-sized FPN (8 x 128
#   RoIs, 64 ch, S=1): mmcv 0.40, torchvision 0.41, gather 0.15. mmcv's and torchvision's
#   kernels are scalar loops; 'torch' is the gather in roi_align.py.
#   NMS: mmcv's and torchvision's kernels are the same loop and equally fast (4,000 boxes:
#   109 ms each); mmcv's breaks score ties as mmdet's stock heads do, so it runs.
#   Soft-NMS: mmcv's sequential kernel (1,000 boxes: 13 ms) beats the per-iteration
#   vectorised torch loop (410 ms).
# Device types not listed (mps, xpu, ...) use the 'cuda' column: it needs no mmcv kernel.
OP_BACKENDS: dict[str, dict[str, str]] = {
    'nms': {'cpu': 'mmcv', 'cuda': 'torchvision'},
    'soft_nms': {'cpu': 'mmcv', 'cuda': 'torch'},
    'roi_align': {'cpu': 'torch', 'cuda': 'torchvision'},  # avg pooling, sampling_ratio > 0
    'roi_align_adaptive': {'cpu': 'torch', 'cuda': 'torchvision'},  # sampling_ratio 0
    'roi_align_max': {'cpu': 'mmcv', 'cuda': 'mmcv'},  # only mmcv pools by max
}


def backend_for(op: str, device: torch.device | str) -> str:
    """Name of the implementation that runs ``op`` on ``device``.

    Args:
        op (str): A key of ``OP_BACKENDS``, e.g. ``'nms'`` or ``'roi_align'``.
        device (torch.device | str): Device of the op's input tensors.

    Returns:
        str: ``'mmcv'``, ``'torchvision'`` or ``'torch'``.
    """
    if op not in OP_BACKENDS:
        raise KeyError(f'custom.ops: unknown op {op!r}; known: {sorted(OP_BACKENDS)}')
    per_device = OP_BACKENDS[op]
    return per_device.get(torch.device(device).type, per_device['cuda'])


# The op modules import backend_for from here, so they load after it is defined.
from .multiclass_nms import multiclass_nms  # noqa: E402
from .nms import batched_nms, nms, soft_nms  # noqa: E402
from .roi_align import PortableRoIAlign, roi_align  # noqa: E402

__all__ = [
    'OP_BACKENDS', 'backend_for', 'nms', 'soft_nms', 'batched_nms', 'multiclass_nms',
    'roi_align', 'PortableRoIAlign'
]
