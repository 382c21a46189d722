"""Box head whose test-time per-class NMS runs on any device.

Shape shorthand: R = RoIs of one image, C = foreground classes, K = detections
(<= ``max_per_img``).
"""
from typing import Optional

from mmdet.models.roi_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from custom.ops import multiclass_nms


@MODELS.register_module()
class PortableShared2FCBBoxHead(Shared2FCBBoxHead):
    """mmdet's ``Shared2FCBBoxHead`` with NMS from :func:`custom.ops.multiclass_nms`.

    mmdet's post-processing calls mmcv's ``batched_nms``, which needs mmcv's CUDA kernels for
    CUDA tensors; this head gives the same detections on CPU and also runs on CUDA with a
    CPU-only mmcv. ``rcnn`` test settings (``score_thr``, ``nms`` incl.
    ``type='soft_nms'``, ``max_per_img``) mean what they mean in mmdet. Same arguments as
    ``Shared2FCBBoxHead``.
    """

    def _predict_by_feat_single(self,
                                roi: Tensor,
                                cls_score: Tensor,
                                bbox_pred: Tensor,
                                img_meta: dict,
                                rescale: bool = False,
                                rcnn_test_cfg: Optional[ConfigDict] = None) -> InstanceData:
        """Decode one image's boxes with mmdet's code, then run the portable NMS.

        Args:
            roi (Tensor): (R, 5) RoIs (image index, x1, y1, x2, y2).
            cls_score (Tensor): (R, C + 1) class logits.
            bbox_pred (Tensor): (R, C * 4) box deltas (R, 4 if class agnostic).
            img_meta (dict): Image meta info.
            rescale (bool): Return boxes in original image space. Defaults to False.
            rcnn_test_cfg (ConfigDict, optional): ``test_cfg.rcnn``; None returns the raw
                per-class boxes and scores without NMS (mmdet's test-time-augmentation mode).

        Returns:
            InstanceData: ``bboxes`` (K, 4), ``scores`` (K,), ``labels`` (K,).
        """
        if rcnn_test_cfg is None or roi.shape[0] == 0:
            return super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                                   rescale, rcnn_test_cfg)
        # Without a test cfg mmdet returns the decoded, rescaled boxes (R, C' * D) and the
        # scores (R, C + 1) before NMS; the NMS is then ours.
        raw = super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale,
                                              rcnn_test_cfg=None)
        regressed_classes = 1 if self.reg_class_agnostic or bbox_pred is None \
            else self.num_classes
        det_bboxes, det_labels = multiclass_nms(
            raw.bboxes,
            raw.scores,
            rcnn_test_cfg.score_thr,
            rcnn_test_cfg.nms,
            rcnn_test_cfg.max_per_img,
            box_dim=raw.bboxes.size(-1) // regressed_classes)
        results = InstanceData()
        results.bboxes = det_bboxes[:, :-1]
        results.scores = det_bboxes[:, -1]
        results.labels = det_labels
        return results
