"""IterativeBBoxRoIHead computes what mmdet's CascadeRoIHead computes with one shared box head."""
import pytest
import torch
from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
from mmdet.structures.bbox import bbox_overlaps
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from custom.models.roi_heads import IterativeBBoxRoIHead

IMAGE = 96  # px; feature maps 24, 12, 6, 3
STRIDES = [4, 8, 16, 32]
NUM_CLASSES = 4
EXTRACTOR = dict(type='SingleRoIExtractor',
                 roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
                 out_channels=8, featmap_strides=STRIDES)
IMG_METAS = [dict(img_shape=(IMAGE, IMAGE), scale_factor=(1.0, 1.0)),
             dict(img_shape=(IMAGE - 16, IMAGE), scale_factor=(0.5, 0.5))]


def bbox_head_cfg(class_agnostic: bool) -> dict:
    return dict(type='Shared2FCBBoxHead', in_channels=8, fc_out_channels=32, roi_feat_size=7,
                num_classes=NUM_CLASSES, reg_class_agnostic=class_agnostic,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                                target_stds=[0.1, 0.1, 0.2, 0.2]))


def rcnn_cfg(refine_steps=None) -> ConfigDict:
    cfg = dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=50)
    if refine_steps is not None:
        cfg['refine_steps'] = refine_steps
    return ConfigDict(cfg)


def inputs(seed: int):
    """Random FPN features (2 images) and 40 random proposals per image."""
    g = torch.Generator().manual_seed(seed)
    feats = tuple(torch.randn(2, 8, IMAGE // s, IMAGE // s, generator=g) for s in STRIDES)
    results = []
    for meta in IMG_METAS:
        h, w = meta['img_shape']
        xy = torch.rand(40, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
        wh = 8 + torch.rand(40, 2, generator=g) * 40
        boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w, h]))], 1)
        results.append(InstanceData(bboxes=boxes, scores=torch.rand(40, generator=g)))
    return feats, results


def spread_weights(module: torch.nn.Module, seed: int) -> None:
    """Regressions large enough that a second pass moves the boxes visibly."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.data = torch.randn(p.shape, generator=g) * 0.2


def ours_and_cascade(class_agnostic: bool, steps: int):
    ours = IterativeBBoxRoIHead(bbox_roi_extractor=EXTRACTOR,
                                bbox_head=bbox_head_cfg(class_agnostic),
                                test_cfg=rcnn_cfg(steps)).eval()
    spread_weights(ours.bbox_head, seed=steps + 10 * class_agnostic)
    cascade = CascadeRoIHead(num_stages=steps + 1, stage_loss_weights=[1.0] * (steps + 1),
                             bbox_roi_extractor=EXTRACTOR,
                             bbox_head=[bbox_head_cfg(class_agnostic)] * (steps + 1),
                             test_cfg=rcnn_cfg()).eval()
    for stage_head in cascade.bbox_head:
        stage_head.load_state_dict(ours.bbox_head.state_dict())
    return ours, cascade


@pytest.mark.parametrize('class_agnostic', [False, True])
@pytest.mark.parametrize('steps', [1, 2])
def test_equals_cascade_with_shared_head(class_agnostic, steps):
    ours, cascade = ours_and_cascade(class_agnostic, steps)
    feats, proposals = inputs(seed=steps)
    with torch.no_grad():
        got = ours.predict_bbox(feats, IMG_METAS, proposals, ours.test_cfg, rescale=True)
        want = cascade.predict_bbox(feats, IMG_METAS, proposals, cascade.test_cfg,
                                    rescale=True)
    for g, w in zip(got, want):
        assert len(w) > 5
        torch.testing.assert_close(g.bboxes, w.bboxes)
        torch.testing.assert_close(g.scores, w.scores)
        assert torch.equal(g.labels, w.labels)


def test_zero_steps_is_standard_roi_head_and_refining_moves_boxes():
    feats, proposals = inputs(seed=3)
    stock = StandardRoIHead(bbox_roi_extractor=EXTRACTOR, bbox_head=bbox_head_cfg(True),
                            test_cfg=rcnn_cfg()).eval()
    spread_weights(stock.bbox_head, seed=3)
    results = {}
    for steps in (None, 0, 1):
        ours = IterativeBBoxRoIHead(bbox_roi_extractor=EXTRACTOR,
                                    bbox_head=bbox_head_cfg(True),
                                    test_cfg=rcnn_cfg(steps)).eval()
        ours.load_state_dict(stock.state_dict())
        with torch.no_grad():
            results[steps] = ours.predict_bbox(feats, IMG_METAS, proposals, ours.test_cfg)
    with torch.no_grad():
        want = stock.predict_bbox(feats, IMG_METAS, proposals, stock.test_cfg)
    for steps in (None, 0):
        for g, w in zip(results[steps], want):
            assert torch.equal(g.bboxes, w.bboxes) and torch.equal(g.scores, w.scores)
    # One more pass really moves the boxes: few of them stay where they were.
    moved, plain = results[1][0].bboxes, want[0].bboxes
    best = bbox_overlaps(moved, plain).max(dim=1).values
    assert (best < 0.99).float().mean() > 0.5


@pytest.mark.parametrize('bad', [-1, 1.5, True, '1'])
def test_bad_refine_steps_are_refused(bad):
    head = IterativeBBoxRoIHead(bbox_roi_extractor=EXTRACTOR, bbox_head=bbox_head_cfg(True),
                                test_cfg=rcnn_cfg(bad)).eval()
    feats, proposals = inputs(seed=0)
    with pytest.raises(ValueError, match='refine_steps must be an integer >= 0'):
        head.predict_bbox(feats, IMG_METAS, proposals, head.test_cfg)


def test_empty_proposals_give_empty_detections():
    head = IterativeBBoxRoIHead(bbox_roi_extractor=EXTRACTOR, bbox_head=bbox_head_cfg(False),
                                test_cfg=rcnn_cfg(1)).eval()
    feats, _ = inputs(seed=0)
    empty = [InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0)) for _ in IMG_METAS]
    out = head.predict_bbox(feats, IMG_METAS, empty, head.test_cfg)
    assert [len(r) for r in out] == [0, 0]
