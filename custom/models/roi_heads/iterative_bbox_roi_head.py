"""RoI head whose box head, at test time, runs again on the boxes it has just regressed.

Shape shorthand: N = RoIs of the batch, C = foreground classes.
"""
from typing import List, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmdet.utils import ConfigType, InstanceList
from torch import Tensor


@MODELS.register_module()
class IterativeBBoxRoIHead(StandardRoIHead):
    """mmdet's ``StandardRoIHead`` with iterative box regression at test time.

    Faster R-CNN's box head regresses each proposal once, from features pooled over the
    proposal, which covers its object only roughly. Pooling again over the regressed box
    and regressing once more ("iterative bounding-box regression": Gidaris and Komodakis,
    ICCV 2015; the "Iterative BBox" baseline of Cai and Vasconcelos, Cascade R-CNN, 2018)
    lands closer to the object, which is what strict-IoU metrics reward. The model and its
    training are unchanged: the same head, with the same weights, is applied
    ``test_cfg.rcnn.refine_steps`` more times (0 = plain Faster R-CNN), and the class
    logits of all passes are averaged, as Cascade R-CNN does over its stages. It computes
    what mmdet's ``CascadeRoIHead`` computes when all its stages share one box head.

    Each extra step costs one more RoI pooling and box-head pass over the proposals (the
    backbone, neck and RPN run once). Same arguments as ``StandardRoIHead``.
    """

    def predict_bbox(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     rpn_results_list: InstanceList,
                     rcnn_test_cfg: ConfigType,
                     rescale: bool = False) -> InstanceList:
        """Detections after ``rcnn_test_cfg.refine_steps`` extra box-regression passes.

        Args:
            x (tuple[Tensor]): Feature maps of all levels, each (B, C', H, W).
            batch_img_metas (list[dict]): Meta info of each image.
            rpn_results_list (list[:obj:`InstanceData`]): Proposals of each image.
            rcnn_test_cfg (:obj:`ConfigDict`): ``test_cfg.rcnn``; ``refine_steps`` (int,
                default 0) is read from it.
            rescale (bool): Return boxes in original image space. Defaults to False.

        Returns:
            list[:obj:`InstanceData`]: ``bboxes`` (K, 4), ``scores`` (K,), ``labels`` (K,)
            per image.
        """
        steps = refine_steps(rcnn_test_cfg)
        counts = tuple(len(res) for res in rpn_results_list)
        if steps == 0 or sum(counts) == 0:
            return super().predict_bbox(x, batch_img_metas, rpn_results_list, rcnn_test_cfg,
                                        rescale)
        rois = bbox2roi([res.bboxes for res in rpn_results_list])
        results = self._bbox_forward(x, rois)
        logits = [results['cls_score']]
        for _ in range(steps):
            rois = self.regressed_rois(rois, results['cls_score'], results['bbox_pred'],
                                       batch_img_metas, counts)
            results = self._bbox_forward(x, rois)
            logits.append(results['cls_score'])
        cls_score = torch.stack(logits).mean(dim=0)
        return self.bbox_head.predict_by_feat(
            rois=rois.split(counts),
            cls_scores=cls_score.split(counts),
            bbox_preds=results['bbox_pred'].split(counts),
            batch_img_metas=batch_img_metas,
            rcnn_test_cfg=rcnn_test_cfg,
            rescale=rescale)

    def regressed_rois(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                       batch_img_metas: List[dict], counts: Tuple[int, ...]) -> Tensor:
        """Each RoI moved by its regression for its most likely foreground class.

        Args:
            rois (Tensor): (N, 5) image index, x1, y1, x2, y2, grouped by image.
            cls_score (Tensor): (N, C + 1) logits (C with a sigmoid classifier).
            bbox_pred (Tensor): (N, 4) if class agnostic, else (N, C * 4).
            batch_img_metas (list[dict]): Meta info of each image (``img_shape`` clips).
            counts (tuple[int]): RoIs of each image.

        Returns:
            Tensor: (N, 5) the regressed RoIs, same order.
        """
        head = self.bbox_head
        if head.custom_activation:
            cls_score = head.loss_cls.get_activation(cls_score)
        labels = cls_score[:, :head.num_classes].argmax(dim=1)
        moved = []
        for img_rois, img_labels, img_pred, img_meta in zip(
                rois.split(counts), labels.split(counts), bbox_pred.split(counts),
                batch_img_metas):
            boxes = head.regress_by_class(img_rois[:, 1:], img_labels, img_pred, img_meta)
            moved.append(torch.cat([img_rois[:, :1], get_box_tensor(boxes)], dim=1))
        return torch.cat(moved)


def refine_steps(rcnn_test_cfg) -> int:
    """``rcnn_test_cfg.refine_steps`` checked to be a whole number >= 0 (0 when absent)."""
    steps = 0 if rcnn_test_cfg is None else rcnn_test_cfg.get('refine_steps', 0)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f'test_cfg.rcnn.refine_steps must be an integer >= 0, got {steps!r}')
    return steps
