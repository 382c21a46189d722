"""mmdet's anchor generator with torchvision's rounded base anchors."""
from __future__ import annotations

import torch
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import TASK_UTILS
from torch import Tensor


@TASK_UTILS.register_module()
class TorchvisionAnchorGenerator(AnchorGenerator):
    """mmdet's ``AnchorGenerator`` with torchvision's two differences.

    - Base anchors are rounded to whole pixels, as torchvision's ``AnchorGenerator`` rounds
      them (``base_anchors.round()``).
    - A level's stride is the padded input size divided by the level's size, rounded down,
      as torchvision computes it, not the nominal stride: the extra P6 level of a 1333 x 800
      input padded to 1344 x 800 is 13 rows high, and torchvision's anchors there are 61
      pixels apart (800 // 13), not 64. The padded size is the first level's size times its
      stride (a multiple of the padding divisor).

    The anchors of a 0.5 ratio at stride 4 and scale 8 are then (-23, -11, 23, 11) instead of
    (-22.63, -11.31, 22.63, 11.31): a model trained with torchvision's anchors (its COCO
    Faster R-CNN, converted by ``tools/model_converters/torchvision_detector2mmdet.py``)
    regresses from these. Same arguments as ``AnchorGenerator``; use ``center_offset=0``
    (torchvision centres anchors on the feature map's grid points).
    """

    def gen_single_level_base_anchors(self, base_size, scales: Tensor, ratios: Tensor,
                                      center=None) -> Tensor:
        """(A, 4) base anchors of one level, rounded half to even as ``torch.round``."""
        return super().gen_single_level_base_anchors(base_size, scales, ratios,
                                                     center).round()

    def grid_priors(self, featmap_sizes, dtype=torch.float32, device='cuda') -> list:
        """Per level, (H_i * W_i * A, 4) anchors, torchvision's strides."""
        stride_w, stride_h = self.strides[0]
        image_h, image_w = featmap_sizes[0][0] * stride_h, featmap_sizes[0][1] * stride_w
        anchors = []
        for level, (height, width) in enumerate(featmap_sizes):
            base = self.base_anchors[level].to(device).to(dtype)
            shift_x = torch.arange(width, device=device).to(dtype) * (image_w // width)
            shift_y = torch.arange(height, device=device).to(dtype) * (image_h // height)
            ys, xs = torch.meshgrid(shift_y, shift_x, indexing='ij')
            xs, ys = xs.reshape(-1), ys.reshape(-1)
            shifts = torch.stack([xs, ys, xs, ys], dim=-1)
            anchors.append((shifts[:, None, :] + base[None, :, :]).view(-1, 4))
        return anchors
