"""Box-delta coding whose normalising constants stay on the device.

Shape shorthand: N = box pairs, C = classes with their own deltas (1 if class-agnostic).
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import BaseBoxes, HorizontalBoxes, get_box_tensor
from torch import Tensor


@TASK_UTILS.register_module()
class SyncFreeDeltaXYWHBBoxCoder(DeltaXYWHBBoxCoder):
    """mmdet's ``DeltaXYWHBBoxCoder`` whose ``encode`` and ``decode`` do not wait for the GPU.

    mmdet's ``bbox2delta`` and ``delta2bbox`` make their means and stds tensors from Python
    lists at every call (``new_tensor``): on CUDA that is a copy from pageable host memory,
    which PyTorch ends with a stream synchronisation, so the host waits for all queued GPU
    work, in training twice per image and stage (the targets of the RPN and of the RoI head)
    and in inference at every decoding. Here the constants are made once per device and
    dtype and reused; the arithmetic is mmdet's, operation for operation, so deltas and
    boxes are bit-identical (tested). Batched (3-D) decoding takes mmdet's path.

    :meth:`decode_boxes` is the decoding itself, with no Python branch on the data and the
    clip size as a list or a tensor, so that it also traces into an ONNX graph: the detector's
    own decoding (``decode``, through the heads) and the exported graph
    (``custom.deploy.FasterRCNNGraph``) both call it. mmdet's coder, during an export, calls
    an ONNX helper that mmdet 3.3 no longer ships.

    Same arguments as ``DeltaXYWHBBoxCoder``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._constants: Dict[Tuple[torch.device, torch.dtype], Tuple[Tensor, Tensor]] = {}

    def encode(self, bboxes: Union[Tensor, BaseBoxes],
               gt_bboxes: Union[Tensor, BaseBoxes]) -> Tensor:
        """Deltas that turn ``bboxes`` into ``gt_bboxes``, normalised by the means and stds.

        Args:
            bboxes (Tensor | BaseBoxes): (N, 4) source boxes, e.g. anchors.
            gt_bboxes (Tensor | BaseBoxes): (N, 4) target boxes.

        Returns:
            Tensor: (N, 4) float deltas (dx, dy, dw, dh).
        """
        bboxes, gt_bboxes = get_box_tensor(bboxes), get_box_tensor(gt_bboxes)
        assert bboxes.size(0) == gt_bboxes.size(0)
        assert bboxes.size(-1) == gt_bboxes.size(-1) == 4
        proposals, gt = bboxes.float(), gt_bboxes.float()
        pxy = (proposals[..., :2] + proposals[..., 2:]) * 0.5
        pwh = proposals[..., 2:] - proposals[..., :2]
        gxy = (gt[..., :2] + gt[..., 2:]) * 0.5
        gwh = gt[..., 2:] - gt[..., :2]
        deltas = torch.cat([(gxy - pxy) / pwh, torch.log(gwh / pwh)], dim=-1)
        means, stds = self._means_stds(deltas)
        return deltas.sub_(means).div_(stds)

    def decode(self,
               bboxes: Union[Tensor, BaseBoxes],
               pred_bboxes: Tensor,
               max_shape: Optional[Sequence[int]] = None,
               wh_ratio_clip: Optional[float] = 16 / 1000) -> Union[Tensor, BaseBoxes]:
        """Boxes from ``bboxes`` moved by the normalised deltas ``pred_bboxes``.

        Args:
            bboxes (Tensor | BaseBoxes): (N, 4) source boxes.
            pred_bboxes (Tensor): (N, 4 * C) deltas.
            max_shape (Sequence[int], optional): (H, W) to clip the boxes to.
            wh_ratio_clip (float): Largest log-scale change allowed, as mmdet's.

        Returns:
            Tensor | BaseBoxes: (N, 4 * C) boxes.
        """
        if pred_bboxes.ndim != 2:
            return super().decode(bboxes, pred_bboxes, max_shape, wh_ratio_clip)
        rois = get_box_tensor(bboxes)
        assert pred_bboxes.size(0) == rois.size(0)
        decoded = self.decode_boxes(rois, pred_bboxes, max_shape, wh_ratio_clip)
        if self.use_box_type:
            assert decoded.size(-1) == 4, \
                'Cannot warp decoded boxes with box type when decoded boxes have shape of ' \
                '(N, num_classes * 4)'
            return HorizontalBoxes(decoded)
        return decoded

    def decode_boxes(self, rois: Tensor, deltas: Tensor,
                     max_shape: Optional[Union[Sequence[int], Tensor]] = None,
                     wh_ratio_clip: float = 16 / 1000) -> Tensor:
        """mmdet's ``delta2bbox``, step for step, with this coder's settings and cached
        constants, and traceable (no branch on the data; ``max_shape`` may be a tensor).

        Args:
            rois (Tensor): (N, 4) boxes the deltas move.
            deltas (Tensor): (N, 4 * C) normalised deltas.
            max_shape (Sequence[int] | Tensor, optional): (H, W) to clip the boxes to.
            wh_ratio_clip (float): Largest log-scale change allowed, as mmdet's.

        Returns:
            Tensor: (N, 4 * C) boxes.
        """
        num_bboxes, width = deltas.size(0), deltas.size(1)
        num_classes = width // 4
        deltas = deltas.reshape(-1, 4)
        means, stds = self._means_stds(deltas)
        denorm_deltas = deltas * stds + means
        dxy, dwh = denorm_deltas[:, :2], denorm_deltas[:, 2:]
        rois_ = rois.repeat(1, num_classes).reshape(-1, 4)
        pxy = ((rois_[:, :2] + rois_[:, 2:]) * 0.5)
        pwh = (rois_[:, 2:] - rois_[:, :2])
        dxy_wh = pwh * dxy
        max_ratio = float(np.abs(np.log(wh_ratio_clip)))
        if self.add_ctr_clamp:
            dxy_wh = torch.clamp(dxy_wh, max=self.ctr_clamp, min=-self.ctr_clamp)
            dwh = torch.clamp(dwh, max=max_ratio)
        else:
            dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
        gxy = pxy + dxy_wh
        gwh = pwh * dwh.exp()
        bboxes = torch.cat([gxy - (gwh * 0.5), gxy + (gwh * 0.5)], dim=-1)
        if self.clip_border and max_shape is not None:
            if isinstance(max_shape, Tensor):  # (h, w) -> (w, h, w, h) for x1, y1, x2, y2
                bound = max_shape[:2].flip(0).repeat(2).to(bboxes)
                bboxes = torch.min(bboxes.clamp(min=0), bound)
            else:
                bboxes[..., 0::2].clamp_(min=0, max=max_shape[1])
                bboxes[..., 1::2].clamp_(min=0, max=max_shape[0])
        return bboxes.reshape(num_bboxes, width)

    def _means_stds(self, like: Tensor) -> Tuple[Tensor, Tensor]:
        """(1, 4) means and stds on ``like``'s device and dtype, made on first use."""
        key = (like.device, like.dtype)
        if key not in self._constants:
            self._constants[key] = (like.new_tensor(self.means).unsqueeze(0),
                                    like.new_tensor(self.stds).unsqueeze(0))
        return self._constants[key]
