"""Grad-CAM (Selvaraju et al., ICCV 2017) of a detection's class score on the last backbone
features: which parts of the image the features that decided the class come from."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox2roi
from torch import nn

from .records import Saliency

__all__ = ['grad_cam']


def grad_cam(model: nn.Module, inputs: torch.Tensor, boxes: np.ndarray, labels: np.ndarray,
             image_size: tuple[int, int]) -> list[Saliency]:
    """One Grad-CAM map per detection.

    The RoI head scores each detection's own box again (the model's ``_bbox_forward``); the
    gradient of that box's softmax score for its class with respect to the last backbone map
    A (C, Hf, Wf) weighs A's channels (their spatial mean), and ReLU(sum_c w_c A_c), upsampled
    to the image and scaled to [0, 1], is the map.

    Args:
        model (nn.Module): The detector (eval mode).
        inputs (Tensor): (1, 3, Hp, Wp) preprocessed batch.
        boxes (np.ndarray): (D, 4) detections in network-input pixels.
        labels (np.ndarray): (D,) their classes.
        image_size (tuple[int, int]): (H, W) of the unpadded input; the maps are cropped to it.

    Returns:
        list[Saliency]: one per detection, same order.
    """
    if len(boxes) == 0:
        return []
    with torch.enable_grad():
        feats = list(model.backbone(inputs))
        # A leaf of its own, so the gradient exists even where the backbone is frozen.
        last = feats[-1].detach().requires_grad_(True)
        feats[-1] = last
        feats = model.neck(tuple(feats)) if model.with_neck else tuple(feats)
        rois = bbox2roi([torch.as_tensor(boxes, dtype=torch.float32)])
        logits = model.roi_head._bbox_forward(feats, rois)['cls_score']
        probs = logits.softmax(dim=-1)
        maps = []
        for index, label in enumerate(labels):
            grad, = torch.autograd.grad(probs[index, int(label)], last, retain_graph=True)
            weights = grad[0].mean(dim=(1, 2))
            cam = F.relu((weights[:, None, None] * last[0].detach()).sum(0))
            maps.append(cam)
    height, width = image_size
    out = []
    for index, cam in enumerate(maps):
        full = F.interpolate(cam[None, None], size=inputs.shape[-2:], mode='bilinear',
                             align_corners=False)[0, 0, :height, :width]
        peak = float(full.max())
        heat = (full / peak if peak > 0 else full).numpy().astype(np.float32)
        out.append(Saliency(index=index, heat=heat))
    return out
