"""torchvision's Faster R-CNN R50-FPN, set up with mmdet's counts, as an independent contender."""
from __future__ import annotations

import torch


def torchvision_faster_rcnn(num_classes: int, size: tuple[int, int], sampling_ratio: int = 0,
                            frozen_backbone: bool = True, **counts) -> torch.nn.Module:
    """torchvision's ``fasterrcnn_resnet50_fpn`` with random weights, set up like mmdet's.

    Built by the same code as ``fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)``,
    with the training set-up torchvision gives it on ImageNet weights, which is mmdet's:
    FrozenBatchNorm and the stem plus the first stage frozen (``frozen_backbone=True``;
    ``False`` is what the builder does without weights: plain BN, everything trainable).
    ``min_size``/``max_size`` equal the input's sides, so its transform keeps the size, and
    RoIAlign samples as mmdet's config (``sampling_ratio``, 0 = adaptive).

    Args:
        num_classes (int): foreground classes (torchvision adds the background).
        size (tuple[int, int]): (H, W) of the inputs.
        sampling_ratio (int): RoIAlign samples per bin and axis.
        frozen_backbone (bool): FrozenBN and 3 trainable stages, else BN and all 5.
        **counts: FasterRCNN's proposal/sampling arguments (``rpn_post_nms_top_n_train``...).
    """
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops import misc as misc_nn_ops

    norm_layer = misc_nn_ops.FrozenBatchNorm2d if frozen_backbone else torch.nn.BatchNorm2d
    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=norm_layer),
                                     3 if frozen_backbone else 5)
    roi_pool = MultiScaleRoIAlign(['0', '1', '2', '3'], output_size=7,
                                  sampling_ratio=sampling_ratio)
    model = FasterRCNN(backbone, num_classes=num_classes + 1, min_size=min(size),
                       max_size=max(size), box_roi_pool=roi_pool, **counts)
    skip_resize(model)
    return model


def skip_resize(model: torch.nn.Module) -> None:
    """Make torchvision's transform keep the input size without resampling it.

    With min/max size equal to the input sides its resize is a bilinear pass at scale 1; in
    mmdet resizing belongs to the data pipeline, outside the model, so both are timed without.
    """
    model.transform.resize = lambda image, target=None: (image, target)


# mmdet's faster-rcnn_r50_fpn counts, as torchvision's FasterRCNN arguments.
MMDET_R50_COUNTS = dict(
    rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,  # nms_pre / max_per_img
    rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000,
    rpn_nms_thresh=0.7, rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3,
    rpn_batch_size_per_image=256, rpn_positive_fraction=0.5,
    box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5,
    box_batch_size_per_image=512, box_positive_fraction=0.25,
    box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100)
