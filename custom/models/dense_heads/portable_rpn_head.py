"""RPN head whose proposal NMS runs on any device.

Shape shorthand: P = candidate proposals of one image (``nms_pre`` per level, all levels),
K = kept proposals (<= ``max_per_img``).
"""
from typing import Optional

import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import empty_box_as, get_box_tensor, get_box_wh, scale_boxes
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from custom.ops import batched_nms


@MODELS.register_module()
class PortableRPNHead(RPNHead):
    """mmdet's ``RPNHead`` with proposal NMS from :func:`custom.ops.batched_nms`.

    mmdet's head calls mmcv's ``batched_nms``, which needs mmcv's CUDA kernels for CUDA
    tensors; this one gives the same proposals on CPU and also runs on CUDA with a CPU-only
    mmcv. Everything else (anchors, losses, ``test_cfg`` keys ``nms_pre``, ``min_bbox_size``,
    ``nms``, ``max_per_img``) is mmdet's. Same arguments as ``RPNHead``.
    """

    def _bbox_post_process(self,
                           results: InstanceData,
                           cfg: ConfigDict,
                           rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        """Rescale, drop tiny boxes and run per-level NMS, exactly as ``RPNHead`` does.

        Args:
            results (InstanceData): One image's P candidates: ``bboxes`` (P, 4), ``scores``
                (P,), ``level_ids`` (P,).
            cfg (ConfigDict): Test / proposal config.
            rescale (bool): Return boxes in original image space. Defaults to False.
            with_nms (bool): Must be True for an RPN. Defaults to True.
            img_meta (dict, optional): Image meta info. Defaults to None.

        Returns:
            InstanceData: K proposals with ``bboxes`` (K, 4), ``scores`` (K,), ``labels``
            (K,) all 0.
        """
        if not with_nms:
            raise ValueError('PortableRPNHead: with_nms must be True for an RPN')
        if rescale:
            assert img_meta.get('scale_factor') is not None
            scale_factor = [1 / s for s in img_meta['scale_factor']]
            results.bboxes = scale_boxes(results.bboxes, scale_factor)

        if cfg.get('min_bbox_size', -1) >= 0:
            w, h = get_box_wh(results.bboxes)
            valid_mask = (w > cfg.min_bbox_size) & (h > cfg.min_bbox_size)
            if not valid_mask.all():
                results = results[valid_mask]

        if results.bboxes.numel() == 0:
            empty = InstanceData()
            empty.bboxes = empty_box_as(results.bboxes)
            empty.scores = results.scores.new_zeros(0)
            empty.labels = results.scores.new_zeros(0)
            return empty

        bboxes = get_box_tensor(results.bboxes)
        det_bboxes, keep_idxs = batched_nms(bboxes, results.scores, results.level_ids,
                                            cfg.nms)
        results = results[keep_idxs]
        # Soft-NMS rescores: keep the scores NMS returns.
        results.scores = det_bboxes[:, -1]
        results = results[:cfg.max_per_img]
        results.labels = results.scores.new_zeros(len(results), dtype=torch.long)
        del results.level_ids
        return results
