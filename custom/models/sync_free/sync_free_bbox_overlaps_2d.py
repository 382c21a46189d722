"""2-D IoU whose small-denominator guard stays on the device.

Shape shorthand: M, N = boxes of the two sets.
"""
import torch
from mmdet.models.task_modules.assigners import BboxOverlaps2D
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

EPS = 1e-6  # mmdet's bbox_overlaps default


@TASK_UTILS.register_module()
class SyncFreeBboxOverlaps2D(BboxOverlaps2D):
    """mmdet's ``BboxOverlaps2D`` whose IoU / IoF matrix does not wait for the GPU.

    mmdet's ``bbox_overlaps`` guards the denominator with ``union.new_tensor([eps])``, a
    tensor made from Python data at every call: on CUDA a copy from pageable host memory,
    which PyTorch ends by synchronising the stream, once per image and stage of a training
    step. Here the guard is a ``clamp`` with the same float32 ``eps`` and the rest is
    ``bbox_overlaps``' arithmetic, so the matrix is bit-identical (tested). Aligned pairs,
    GIoU and the fp16 mode take mmdet's path.

    Same arguments as ``BboxOverlaps2D``.
    """

    def __call__(self, bboxes1, bboxes2, mode: str = 'iou', is_aligned: bool = False) -> Tensor:
        """IoU (or IoF) of every box of ``bboxes1`` with every box of ``bboxes2``.

        Args:
            bboxes1 (Tensor | BaseBoxes): (M, 4) boxes, or (M, 5) with a score column.
            bboxes2 (Tensor | BaseBoxes): (N, 4) boxes, or (N, 5).
            mode (str): 'iou', 'iof' or 'giou'.
            is_aligned (bool): Pairs (M == N) instead of all combinations.

        Returns:
            Tensor: (M, N) overlaps ((M,) if aligned).
        """
        bboxes1, bboxes2 = get_box_tensor(bboxes1), get_box_tensor(bboxes2)
        if (mode not in ('iou', 'iof') or is_aligned or self.dtype == 'fp16'
                or bboxes1.dim() != 2 or bboxes2.dim() != 2
                or torch.float16 in (bboxes1.dtype, bboxes2.dtype)):
            return super().__call__(bboxes1, bboxes2, mode, is_aligned)
        assert bboxes1.size(-1) in (0, 4, 5) and bboxes2.size(-1) in (0, 4, 5)
        bboxes1, bboxes2 = bboxes1[..., :4], bboxes2[..., :4]
        area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
        area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
        lt = torch.max(bboxes1[..., :, None, :2], bboxes2[..., None, :, :2])
        rb = torch.min(bboxes1[..., :, None, 2:], bboxes2[..., None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        union = area1[..., None] + area2[..., None, :] - overlap if mode == 'iou' \
            else area1[..., None]
        return overlap / union.clamp(min=EPS)
