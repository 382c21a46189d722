"""Box-delta encoding whose normalising constants stay on the device.

Shape shorthand: N = box pairs.
"""
from typing import Dict, Tuple, Union

import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import BaseBoxes, get_box_tensor
from torch import Tensor


@TASK_UTILS.register_module()
class SyncFreeDeltaXYWHBBoxCoder(DeltaXYWHBBoxCoder):
    """mmdet's ``DeltaXYWHBBoxCoder`` whose ``encode`` does not wait for the GPU.

    mmdet's ``bbox2delta`` makes its means and stds tensors from Python lists at every call
    (``new_tensor``): on CUDA that is a copy from pageable host memory, which PyTorch ends
    with a stream synchronisation, so the host waits for all queued GPU work, twice per image
    and stage of a training step (the targets of the RPN and of the RoI head). Here the
    constants are made once per device and dtype and reused; the arithmetic is
    ``bbox2delta``'s, operation for operation, so the deltas are bit-identical (tested).
    ``decode`` is mmdet's.

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

    def _means_stds(self, like: Tensor) -> Tuple[Tensor, Tensor]:
        """(1, 4) means and stds on ``like``'s device and dtype, made on first use."""
        key = (like.device, like.dtype)
        if key not in self._constants:
            self._constants[key] = (like.new_tensor(self.means).unsqueeze(0),
                                    like.new_tensor(self.stds).unsqueeze(0))
        return self._constants[key]
