"""RoIAlign forward and backward with mmcv's extension signatures, on CPU and CUDA tensors.

Shape shorthand: N = images, C = channels, H, W = feature map size, R = RoIs,
PH, PW = output (pooled) size, S = sampling ratio (sample points per bin and axis),
B = R * PH * PW output bins. ``rois`` are (R, 5): (image index, x1, y1, x2, y2) in image
coordinates; ``spatial_scale`` maps them onto the feature map.

RoIAlign (He et al., Mask R-CNN, 2017) averages, in each of the PH x PW bins of a RoI, the
bilinear samples of the feature map at S x S regularly spaced points. With ``aligned=True``
a pixel's value sits at its centre (coordinates shift by -0.5), as in detectron2.

CUDA tensors go through torchvision's kernels. On the CPU the bins are a weighted row gather
(:func:`roi_align_gather`), which runs on all cores: torchvision's and mmcv's CPU kernels
are scalar loops on one thread, 3-5x slower forward + backward (``bench/roi_align_speed.py``).
Only average pooling is provided; ``pool_mode`` 0 (max) needs a compiled mmcv.
"""
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

from .errors import needs_compiled_mmcv

AVG_POOL = 1  # mmcv's pool_mode code for 'avg'; 0 is 'max'
GRAPH = '_mmcv_lite_ext_gather_graph'  # attribute carrying the forward's graph to backward


def _axis_samples(start: Tensor, bin_size: Tensor, num_bins: int, points_per_bin: int,
                  size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Bilinear taps along one axis for every sample point of every bin.

    Follows mmcv's / torchvision's kernels: a point outside [-1, size] contributes 0; inside,
    it is clamped to [0, size - 1] (a point past the last pixel centre reads that pixel).

    Args:
        start (Tensor): (R,) RoI start on the feature map.
        bin_size (Tensor): (R,) bin length.
        num_bins (int): PH or PW.
        points_per_bin (int): Sample points per bin along this axis (S if fixed).
        size (int): H or W.

    Returns:
        tuple: low and high pixel index (R, num_bins, points_per_bin) long, and their
        weights (same shape), zero for points outside the map.
    """
    bins = torch.arange(num_bins, dtype=start.dtype, device=start.device)
    steps = torch.arange(points_per_bin, dtype=start.dtype, device=start.device) + 0.5
    bin_size = bin_size[:, None, None]
    # The kernels' order of operations, so that rounding agrees too.
    coords = (start[:, None, None] + bins[None, :, None] * bin_size) + \
        steps[None, None, :] * bin_size / points_per_bin
    inside = ((coords >= -1) & (coords <= size)).to(start.dtype)
    coords = coords.clamp(min=0, max=size - 1)
    low = coords.floor()
    frac = coords - low
    low = low.long()
    high = (low + 1).clamp(max=size - 1)
    return low, high, (1 - frac) * inside, frac * inside


def _roi_geometry(rois: Tensor, spatial_scale: float,
                  aligned: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(R,) left, top, width and height of the RoIs on the feature map, as the kernels do."""
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # the legacy mode: RoIs are at least 1 pixel
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    return x1, y1, roi_w, roi_h


def _bin_taps(rois: Tensor, height: int, width: int, output_size: tuple[int, int],
              spatial_scale: float, grid: tuple[int, int],
              aligned: bool) -> tuple[Tensor, Tensor]:
    """Rows of the (N * H * W, C) feature table each bin averages over, and their weights.

    Args:
        grid (tuple[int, int]): Sample points per bin along y and x (S, S for a fixed ratio).

    Returns:
        tuple: indices (B, 4 * grid[0] * grid[1]) int32 and weights of the same shape; a bin's
        weights sum to the fraction of its sample points inside the map.
    """
    pooled_h, pooled_w = output_size
    grid_h, grid_w = grid
    x1, y1, roi_w, roi_h = _roi_geometry(rois, spatial_scale, aligned)
    y_low, y_high, wy_low, wy_high = _axis_samples(y1, roi_h / pooled_h, pooled_h, grid_h,
                                                   height)
    x_low, x_high, wx_low, wx_high = _axis_samples(x1, roi_w / pooled_w, pooled_w, grid_w,
                                                   width)
    rows = torch.stack((y_low, y_high), -1) * width  # (R, PH, grid_h, 2)
    cols = torch.stack((x_low, x_high), -1)  # (R, PW, grid_w, 2)
    wy = torch.stack((wy_low, wy_high), -1)
    wx = torch.stack((wx_low, wx_high), -1)
    image_base = rois[:, 0].long() * (height * width)
    # Broadcast to (R, PH, PW, grid_h, 2, grid_w, 2): every (y tap, x tap) pair of every bin.
    index = (image_base[:, None, None, None, None, None, None]
             + rows[:, :, None, :, :, None, None] + cols[:, None, :, None, None, :, :])
    weight = (wy[:, :, None, :, :, None, None] * wx[:, None, :, None, None, :, :]
              / (grid_h * grid_w))
    shape = (rois.size(0) * pooled_h * pooled_w, 4 * grid_h * grid_w)
    # int32 halves the cost of the sort in the gather's backward; feature maps have far fewer
    # than 2**31 pixels.
    return index.reshape(shape).int(), weight.reshape(shape)


def _adaptive_grids(rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                    aligned: bool) -> Tensor:
    """(R, 2) sample points per bin along y and x when sampling_ratio is 0: ceil(bin size)."""
    _, _, roi_w, roi_h = _roi_geometry(rois, spatial_scale, aligned)
    return torch.stack((torch.ceil(roi_h / output_size[0]),
                        torch.ceil(roi_w / output_size[1])), 1).long()


def _adaptive_bins(table: Tensor, rois: Tensor, height: int, width: int,
                   output_size: tuple[int, int], spatial_scale: float,
                   aligned: bool) -> Tensor:
    """(B, C) bins for sampling_ratio 0, where each RoI has its own grid of sample points.

    RoIs are grouped by grid so that each group's bins have equally many taps, and all groups
    go through one gather with variable-size bags.
    """
    grids = _adaptive_grids(rois, output_size, spatial_scale, aligned)
    groups, group_of_roi = torch.unique(grids, dim=0, return_inverse=True)
    members, indices, weights, bag_sizes = [], [], [], []
    for group, grid in enumerate(groups.tolist()):
        group_rois = (group_of_roi == group).nonzero().squeeze(1)
        index, weight = _bin_taps(rois[group_rois], height, width, output_size, spatial_scale,
                                  (max(grid[0], 1), max(grid[1], 1)), aligned)
        if min(grid) <= 0:  # a RoI of no (or negative) size has no sample points: 0
            weight = torch.zeros_like(weight)
        members.append(group_rois)
        indices.append(index.flatten())
        weights.append(weight.flatten())
        bag_sizes.append(torch.full((index.size(0),), index.size(1), device=rois.device))
    bag_sizes = torch.cat(bag_sizes)
    offsets = (torch.cumsum(bag_sizes, 0) - bag_sizes).int()  # the indices' dtype
    bins = F.embedding_bag(torch.cat(indices), table, offsets,
                           per_sample_weights=torch.cat(weights), mode='sum')
    bins = bins.view(-1, output_size[0] * output_size[1], table.size(1))
    # From group order back to RoI order by writing each RoI's rows to its place: the
    # backward is a row gather. Reading with the inverse permutation instead would make the
    # backward an accumulating scatter, which is 5x slower on a CPU.
    return bins.new_empty(bins.shape).index_copy(0, torch.cat(members),
                                                 bins).view(-1, table.size(1))


def roi_align_gather(input: Tensor, rois: Tensor, output_size: int | tuple[int, int],
                     spatial_scale: float = 1.0, sampling_ratio: int = 0,
                     aligned: bool = True) -> Tensor:
    """RoIAlign with average pooling as a weighted row gather, differentiable in ``input``.

    Each output bin is a weighted sum of the 4 bilinear taps of each of its sample points,
    i.e. of rows of the feature map seen as an (N * H * W, C) table, which ``F.embedding_bag``
    computes with all cores on contiguous channel vectors; its backward is a sorted
    scatter-add.

    Args:
        input (Tensor): (N, C, H, W) features, any memory format.
        rois (Tensor): (R, 5) RoIs; no gradient flows to them (as with mmcv's kernel).
        output_size (int | tuple): PH, PW.
        spatial_scale (float): Feature map size / image size. Defaults to 1.0.
        sampling_ratio (int): S, or 0 for ``ceil(RoI size / output size)`` per RoI.
            Defaults to 0.
        aligned (bool): Pixel-centre alignment, see the module docstring. Defaults to True.

    Returns:
        Tensor: (R, C, PH, PW) in the memory format of ``input``.
    """
    output_size = _pair(output_size)
    num_images, channels, height, width = input.shape
    rois = rois.detach().to(input.dtype)
    table = input.permute(0, 2, 3, 1).reshape(num_images * height * width, channels)
    if rois.size(0) == 0:
        bins = table[:0]
    elif sampling_ratio > 0:
        index, weight = _bin_taps(rois, height, width, output_size, spatial_scale,
                                  (sampling_ratio, sampling_ratio), aligned)
        bins = F.embedding_bag(index, table, per_sample_weights=weight, mode='sum')
    else:
        bins = _adaptive_bins(table, rois, height, width, output_size, spatial_scale, aligned)
    out = bins.view(rois.size(0), *output_size, channels).permute(0, 3, 1, 2)
    return out.contiguous(memory_format=_memory_format_of(input))


def _memory_format_of(tensor: Tensor) -> torch.memory_format:
    channels_last = (tensor.is_contiguous(memory_format=torch.channels_last)
                     and not tensor.is_contiguous())
    return torch.channels_last if channels_last else torch.contiguous_format


def _check_pool_mode(pool_mode: int, op: str) -> None:
    if pool_mode != AVG_POOL:
        raise needs_compiled_mmcv(op, "pool_mode='max'; pool_mode='avg' runs without it")


def _exact(tensor: Tensor) -> Tensor:
    """float32 for half inputs: RoI coordinates in half precision lose whole pixels."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def roi_align_forward(input: Tensor, rois: Tensor, output: Tensor, argmax_y: Tensor,
                      argmax_x: Tensor, aligned_height: int, aligned_width: int,
                      spatial_scale: float, sampling_ratio: int, pool_mode: int,
                      aligned: bool) -> None:
    """mmcv's ``roi_align_forward``: pool ``rois`` from ``input`` into ``output``, in place.

    Args:
        input (Tensor): (N, C, H, W) features, any memory format.
        rois (Tensor): (R, 5) RoIs.
        output (Tensor): (R, C, PH, PW), written.
        argmax_y (Tensor): Used by max pooling only (unused here).
        argmax_x (Tensor): Used by max pooling only (unused here).
        aligned_height (int): PH.
        aligned_width (int): PW.
        spatial_scale (float): Feature map size / image size.
        sampling_ratio (int): S, or 0 for ``ceil(RoI size / output size)`` per RoI.
        pool_mode (int): 1 (average); 0 (max) raises.
        aligned (bool): Pixel-centre alignment.
    """
    _check_pool_mode(pool_mode, 'roi_align_forward')
    size = (aligned_height, aligned_width)
    if input.device.type == 'cpu' and input.requires_grad:
        # Keep the gather's autograd graph for roi_align_backward, which then need not run
        # the gather again (half the backward's time). It hangs on ``argmax_y``, a tensor
        # mmcv makes for this call alone and saves for its backward, so it lives exactly as
        # long as mmcv's own graph.
        with torch.enable_grad():
            features = input.detach().requires_grad_()
            pooled = roi_align_gather(features, rois, size, spatial_scale, sampling_ratio,
                                      aligned)
        setattr(argmax_y, GRAPH, (features, pooled))
        output.copy_(pooled.detach())
        return
    with torch.no_grad():
        if input.device.type == 'cpu':
            pooled = roi_align_gather(input, rois, size, spatial_scale, sampling_ratio, aligned)
        else:
            features = _exact(input)
            pooled = torch.ops.torchvision.roi_align(
                features, rois.to(features.dtype), float(spatial_scale), int(aligned_height),
                int(aligned_width), int(sampling_ratio), bool(aligned))
    output.copy_(pooled)


def roi_align_backward(grad_output: Tensor, rois: Tensor, argmax_y: Tensor, argmax_x: Tensor,
                       grad_input: Tensor, aligned_height: int, aligned_width: int,
                       spatial_scale: float, sampling_ratio: int, pool_mode: int,
                       aligned: bool) -> None:
    """mmcv's ``roi_align_backward``: add the gradient of the features to ``grad_input``.

    Args:
        grad_output (Tensor): (R, C, PH, PW) gradient of the pooled output.
        rois (Tensor): (R, 5) RoIs of the forward pass.
        argmax_y (Tensor): Used by max pooling only (unused here).
        argmax_x (Tensor): Used by max pooling only (unused here).
        grad_input (Tensor): (N, C, H, W), accumulated into in place.
        aligned_height, aligned_width, spatial_scale, sampling_ratio, pool_mode, aligned:
            as in :func:`roi_align_forward`.
    """
    _check_pool_mode(pool_mode, 'roi_align_backward')
    batch, channels, height, width = grad_input.shape
    graph = getattr(argmax_y, GRAPH, None)
    if graph is not None:
        delattr(argmax_y, GRAPH)
        features, pooled = graph
        grad, = torch.autograd.grad(pooled, features, grad_output)
    elif grad_input.device.type == 'cpu':
        # RoIAlign is linear in the features, so the gradient is the gather's transpose,
        # whatever the features' values: run the gather on a stand-in and differentiate it.
        with torch.enable_grad():
            stand_in = grad_input.new_empty(grad_input.shape).requires_grad_()
            pooled = roi_align_gather(stand_in, rois, (aligned_height, aligned_width),
                                      spatial_scale, sampling_ratio, aligned)
            grad, = torch.autograd.grad(pooled, stand_in, grad_output)
    else:
        grads = _exact(grad_output)
        grad = torch.ops.torchvision._roi_align_backward(
            grads, rois.to(grads.dtype), float(spatial_scale), int(aligned_height),
            int(aligned_width), batch, channels, height, width, int(sampling_ratio),
            bool(aligned))
    grad_input.add_(grad)
