"""RoI max pooling (Fast R-CNN's RoIPool) with mmcv's extension signatures, via torchvision.

Shape shorthand: N = images, C = channels, H, W = feature map size, R = RoIs,
PH, PW = output (pooled) size. ``rois`` are (R, 5): (image index, x1, y1, x2, y2).

Each RoI is rounded to whole feature-map pixels and split into PH x PW bins; a bin's output
is the maximum of its pixels, and its gradient goes to that one pixel. torchvision's kernel
follows the same rounding as mmcv's, so ``argmax`` (the pixel's index ``y * W + x``, -1 for
an empty bin) means the same to both.
"""
import torch
from torch import Tensor


def roi_pool_forward(input: Tensor, rois: Tensor, output: Tensor, argmax: Tensor,
                     pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
    """mmcv's ``roi_pool_forward``: max-pool ``rois`` into ``output`` and ``argmax``, in place.

    Args:
        input (Tensor): (N, C, H, W) features.
        rois (Tensor): (R, 5) RoIs.
        output (Tensor): (R, C, PH, PW), written.
        argmax (Tensor): (R, C, PH, PW) int32, written with each maximum's position.
        pooled_height (int): PH.
        pooled_width (int): PW.
        spatial_scale (float): Feature map size / image size.
    """
    with torch.no_grad():
        pooled, positions = torch.ops.torchvision.roi_pool(
            input, rois.to(input.dtype), float(spatial_scale), int(pooled_height),
            int(pooled_width))
    output.copy_(pooled)
    argmax.copy_(positions)


def roi_pool_backward(grad_output: Tensor, rois: Tensor, argmax: Tensor, grad_input: Tensor,
                      pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
    """mmcv's ``roi_pool_backward``: add each bin's gradient to its maximum's pixel.

    Args:
        grad_output (Tensor): (R, C, PH, PW).
        rois (Tensor): (R, 5) RoIs of the forward pass.
        argmax (Tensor): (R, C, PH, PW) int32 from :func:`roi_pool_forward`.
        grad_input (Tensor): (N, C, H, W), accumulated into in place.
        pooled_height, pooled_width, spatial_scale: as in :func:`roi_pool_forward`.
    """
    batch, channels, height, width = grad_input.shape
    grad = torch.ops.torchvision._roi_pool_backward(
        grad_output.contiguous(), rois.to(grad_output.dtype), argmax.int().contiguous(),
        float(spatial_scale), int(pooled_height), int(pooled_width), batch, channels, height,
        width)
    grad_input.add_(grad)
