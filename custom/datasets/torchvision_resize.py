"""Resize an image as torchvision's detection models resize it."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TorchvisionResize(BaseTransform):
    """torchvision's ``GeneralizedRCNNTransform`` resize: the scale that brings the shorter
    side to ``min_size`` unless the longer side would pass ``max_size``, then bilinear
    interpolation of the float image (``F.interpolate`` with ``recompute_scale_factor``,
    ``align_corners=False``), the output size rounded down.

    mmdet's ``Resize`` rounds the size to nearest and interpolates the uint8 image with
    OpenCV, so the same image reaches a model a pixel larger or with other values: what a
    model trained by torchvision (its COCO Faster R-CNN) must see is this.

    Required keys: ``img``. Modified: ``img`` (float32), ``img_shape``. Added:
    ``scale_factor`` (w scale, h scale), ``keep_ratio``.

    Args:
        min_size (int): Target of the shorter side. Defaults to 800.
        max_size (int): Limit of the longer side. Defaults to 1333.
    """

    def __init__(self, min_size: int = 800, max_size: int = 1333) -> None:
        self.min_size, self.max_size = int(min_size), int(max_size)

    def transform(self, results: dict) -> dict:
        image = results['img']
        height, width = image.shape[:2]
        scale = min(self.min_size / min(height, width), self.max_size / max(height, width))
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        tensor = tensor.permute(2, 0, 1)[None]  # (1, C, H, W)
        resized = F.interpolate(tensor, scale_factor=scale, mode='bilinear',
                                recompute_scale_factor=True, align_corners=False)[0]
        new_height, new_width = resized.shape[-2:]
        results['img'] = resized.permute(1, 2, 0).contiguous().numpy()
        results['img_shape'] = (new_height, new_width)
        results['scale_factor'] = (new_width / width, new_height / height)
        results['keep_ratio'] = True
        if results.get('gt_bboxes') is not None:
            results['gt_bboxes'].rescale_(results['scale_factor'])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(min_size={self.min_size}, max_size={self.max_size})'
