"""An RPN's proposal candidates for the whole batch at once, as mmdet picks them image by image.

Shape shorthand: B = images, C = ``cls_out_channels``, P = candidates of one image
(``nms_pre`` per level, all levels).
"""
from typing import List, Tuple

import torch
from torch import Tensor


def batch_candidates(cls_scores: List[Tensor], bbox_preds: List[Tensor],
                     mlvl_priors: List[Tensor], nms_pre: int, cls_out_channels: int,
                     use_sigmoid: bool, reg_dim: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each level's ``nms_pre`` best-scoring anchors of every image: one sort per level for
    the batch, where mmdet's ``RPNHead`` sorts per image and level.

    Args:
        cls_scores (list[Tensor]): Per level, (B, num_base_priors * C, H, W) logits.
        bbox_preds (list[Tensor]): Per level, (B, num_base_priors * reg_dim, H, W) deltas.
        mlvl_priors (list[Tensor]): Per level, (A_level, 4) anchors, the same for every image.
        nms_pre (int): Candidates kept per level; <= 0 keeps all.
        cls_out_channels (int): C.
        use_sigmoid (bool): Scores by sigmoid (else softmax without the background column).
        reg_dim (int): Box delta size.

    Returns:
        tuple: scores (B, P), box deltas (B, P, reg_dim), their anchors (B, P, 4) and the
        level of each candidate (P,), levels in order.
    """
    num_imgs = cls_scores[0].size(0)
    mlvl_scores, mlvl_deltas, mlvl_anchors, level_ids = [], [], [], []
    for level, (cls_score, bbox_pred, priors) in enumerate(
            zip(cls_scores, bbox_preds, mlvl_priors)):
        cls_score = cls_score.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1,
                                                                    cls_out_channels)
        deltas = bbox_pred.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1, reg_dim)
        scores = (cls_score.sigmoid() if use_sigmoid
                  else cls_score.softmax(-1)[..., :-1]).reshape(num_imgs, -1)
        anchors = priors.expand(num_imgs, -1, -1)
        if 0 < nms_pre < scores.size(1):
            scores, rank_inds = scores.sort(dim=1, descending=True)
            scores, top = scores[:, :nms_pre], rank_inds[:, :nms_pre, None]
            deltas = deltas.gather(1, top.expand(-1, -1, reg_dim))
            anchors = anchors.gather(1, top.expand(-1, -1, anchors.size(-1)))
        mlvl_scores.append(scores)
        mlvl_deltas.append(deltas)
        mlvl_anchors.append(anchors)
        level_ids.append(scores.new_full((scores.size(1), ), level, dtype=torch.long))
    return (torch.cat(mlvl_scores, 1), torch.cat(mlvl_deltas, 1),
            torch.cat(mlvl_anchors, 1), torch.cat(level_ids))


def decode_clipped(bbox_coder, anchors: Tensor, deltas: Tensor,
                   batch_img_metas: List[dict]) -> Tensor:
    """Boxes (B, P, 4) from anchors and deltas (B, P, 4), clipped to each image as mmdet's
    decoding with ``max_shape=img_shape`` clips them, in one decoding for the batch.

    Args:
        bbox_coder: A ``DeltaXYWHBBoxCoder``.
        anchors (Tensor): (B, P, 4).
        deltas (Tensor): (B, P, 4).
        batch_img_metas (list[dict]): Per image, ``img_shape``.
    """
    num_imgs, num_boxes = deltas.shape[:2]
    bboxes = bbox_coder.decode(anchors.reshape(-1, 4), deltas.reshape(-1, 4))
    bboxes = bboxes.reshape(num_imgs, num_boxes, 4)
    if not bbox_coder.clip_border:
        return bboxes
    heights_widths = bboxes.new_tensor([meta['img_shape'][:2] for meta in batch_img_metas])
    zero = bboxes.new_zeros(())
    x = bboxes[..., 0::2].clamp(min=zero, max=heights_widths[:, None, 1:2])
    y = bboxes[..., 1::2].clamp(min=zero, max=heights_widths[:, None, 0:1])
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)
