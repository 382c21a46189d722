"""The batch-wide heads give mmdet's stock heads' results, on the CPU and on CUDA."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch.testing import assert_close

STRIDES = [4, 8, 16, 32]
IMAGE = 128  # px; feature maps 32, 16, 8, 4
NUM_CLASSES = 5

RPN_CFG = dict(
    in_channels=16,
    feat_channels=16,
    anchor_generator=dict(type='AnchorGenerator', scales=[4], ratios=[0.5, 1.0, 2.0],
                          strides=STRIDES),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0))
RPN_TEST_CFGS = [
    dict(nms_pre=200, max_per_img=100, nms=dict(type='nms', iou_threshold=0.7),
         min_bbox_size=0),
    # all candidates kept, so the proposals include Soft-NMS-rescored ones
    dict(nms_pre=100, max_per_img=1000, nms=dict(type='soft_nms', iou_threshold=0.5),
         min_bbox_size=4),
]
BBOX_CFG = dict(
    in_channels=16,
    fc_out_channels=32,
    roi_feat_size=7,
    num_classes=NUM_CLASSES,
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                    target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0))
RCNN_TEST_CFGS = [
    dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100),
    dict(score_thr=0.1, nms=dict(type='nms', iou_threshold=0.3), max_per_img=7),
    dict(score_thr=0.05, nms=dict(type='soft_nms', iou_threshold=0.5, min_score=0.05),
         max_per_img=100),
]
IMG_METAS = [dict(img_shape=(IMAGE, IMAGE), scale_factor=(1.0, 1.0)),
             dict(img_shape=(IMAGE - 20, IMAGE), scale_factor=(0.5, 0.8))]


def randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Spread the weights so that scores and boxes vary (the init makes them all alike)."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.data = torch.randn(p.shape, generator=g) * 0.3
    return module


def twin_heads(stock_type: str, ours_type: str, cfg: dict, seed: int = 0):
    stock = randomise(MODELS.build(dict(type=stock_type, **copy.deepcopy(cfg))), seed)
    ours = MODELS.build(dict(type=ours_type, **copy.deepcopy(cfg)))
    ours.load_state_dict(stock.state_dict())
    return stock.eval(), ours.eval()


def features(channels: int = 16, device: str = 'cpu', seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, channels, IMAGE // s, IMAGE // s, generator=g).to(device)
                 for s in STRIDES)


def rcnn_inputs(device: str = 'cpu', num_rois: int = 60, seed: int = 1):
    """Per image: RoIs (R, 5), class logits (R, C + 1), box deltas (R, C * 4)."""
    g = torch.Generator().manual_seed(seed)
    rois, logits, deltas = [], [], []
    for img in range(2):
        xy = torch.rand(num_rois, 2, generator=g) * IMAGE * 0.8
        wh = 4 + torch.rand(num_rois, 2, generator=g) * IMAGE * 0.4
        rois.append(torch.cat([torch.full((num_rois, 1), float(img)), xy, xy + wh], 1))
        logits.append(torch.randn(num_rois, NUM_CLASSES + 1, generator=g) * 2)
        deltas.append(torch.randn(num_rois, NUM_CLASSES * 4, generator=g) * 0.5)
    return [tuple(t.to(device) for t in ts) for ts in (rois, logits, deltas)]


def assert_same_detections(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert len(e) > 0
        assert_close(g.bboxes, e.bboxes, rtol=0, atol=0)
        assert_close(g.scores, e.scores, rtol=0, atol=0)
        assert torch.equal(g.labels, e.labels)


# ----------------------------------------------------------------------------- CPU parity


@pytest.mark.parametrize('use_sigmoid', [True, False])
@pytest.mark.parametrize('rescale', [False, True])
@pytest.mark.parametrize('test_cfg', RPN_TEST_CFGS)
def test_sync_free_rpn_head_gives_rpn_head_proposals(test_cfg, rescale, use_sigmoid):
    """Same proposals as mmdet's head, which selects them image by image (ours: the batch
    at once); the second config's size filter drops boxes of some images only."""
    cfg = dict(RPN_CFG, loss_cls=dict(RPN_CFG['loss_cls'], use_sigmoid=use_sigmoid))
    stock, ours = twin_heads('RPNHead', 'SyncFreeRPNHead', cfg)
    feats = features()
    with torch.no_grad():
        cls_scores, bbox_preds = stock(feats)
        kwargs = dict(batch_img_metas=IMG_METAS, cfg=ConfigDict(test_cfg), rescale=rescale)
        expected = stock.predict_by_feat(cls_scores, bbox_preds, **kwargs)
        got = ours.predict_by_feat(cls_scores, bbox_preds, **kwargs)
    assert_same_detections(got, expected)
    if test_cfg['nms']['type'] == 'nms':
        assert all(len(r) == test_cfg['max_per_img'] for r in got)
    else:
        assert all(torch.any(r.scores < r.scores.max() * 0.5) for r in got)  # rescored


def test_sync_free_rpn_head_without_candidates():
    _, ours = twin_heads('RPNHead', 'SyncFreeRPNHead', RPN_CFG)
    with torch.no_grad():
        cls_scores, bbox_preds = ours(features())
        cfg = ConfigDict(RPN_TEST_CFGS[0], min_bbox_size=10 * IMAGE)  # filters every box
        results = ours.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=IMG_METAS,
                                           cfg=cfg)
    assert results[0].bboxes.shape == (0, 4) and results[0].scores.shape == (0,)


def rpn_train_cfg(stock: bool, allowed_border: int) -> dict:
    """RPN training settings of mmdet's Faster R-CNN; classicdet's assigner and sampler
    unless ``stock``."""
    return dict(
        assigner=dict(type='MaxIoUAssigner' if stock else 'SyncFreeMaxIoUAssigner',
                      pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                      match_low_quality=True, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler' if stock else 'SyncFreeRandomSampler', num=64,
                     pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
        allowed_border=allowed_border, pos_weight=-1, debug=False)


def rpn_training_twins(allowed_border: int, reg_decoded: bool):
    cfg = dict(RPN_CFG)
    if reg_decoded:
        cfg.update(reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss', loss_weight=2.0))
    stock = randomise(MODELS.build(dict(type='RPNHead', **copy.deepcopy(cfg),
                                        train_cfg=rpn_train_cfg(True, allowed_border))), 0)
    ours = MODELS.build(dict(type='SyncFreeRPNHead', **copy.deepcopy(cfg),
                                 train_cfg=rpn_train_cfg(False, allowed_border)))
    ours.load_state_dict(stock.state_dict())
    return stock, ours


def rpn_training_batch(second_image_boxes: int):
    """Two images; the second is shorter than the batch (its anchors over the padding are
    invalid) and has ``second_image_boxes`` ground truths."""
    from mmengine.structures import InstanceData
    boxes = torch.tensor([[10., 12, 50, 60], [60, 20, 120, 70], [30, 70, 62, 100],
                          [5, 5, 40, 30]])
    gts = [InstanceData(bboxes=boxes[:3], labels=torch.zeros(3, dtype=torch.long)),
           InstanceData(bboxes=boxes[3:3 + second_image_boxes],
                        labels=torch.zeros(second_image_boxes, dtype=torch.long))]
    metas = [dict(img_shape=(IMAGE, IMAGE), pad_shape=(IMAGE, IMAGE)),
             dict(img_shape=(IMAGE - 28, IMAGE - 8), pad_shape=(IMAGE - 28, IMAGE))]
    return gts, metas


def rpn_losses(head, feats, gts, metas, seed: int = 0):
    """Loss sums of ``head`` (mmdet's per-level lists added up) and the gradient of the
    features' first level."""
    feats = [f.clone().requires_grad_() for f in feats]
    cls_scores, bbox_preds = head(feats)
    torch.manual_seed(seed)  # the samplers draw from the global generator
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    total = {k: sum(v) if isinstance(v, list) else v for k, v in losses.items()}
    sum(total.values()).backward()
    return total, feats[0].grad


@pytest.mark.parametrize('reg_decoded', [False, True])
@pytest.mark.parametrize('second_image_boxes', [1, 0])
@pytest.mark.parametrize('allowed_border', [-1, 0])
def test_sync_free_rpn_head_gives_rpn_head_losses(allowed_border, second_image_boxes,
                                                 reg_decoded):
    stock, ours = rpn_training_twins(allowed_border, reg_decoded)
    feats = features()
    gts, metas = rpn_training_batch(second_image_boxes)
    expected, expected_grad = rpn_losses(stock, feats, gts, metas)
    got, got_grad = rpn_losses(ours, feats, gts, metas)
    assert set(got) == {'loss_rpn_cls', 'loss_rpn_bbox'} == set(expected)
    for key in expected:
        assert got[key].dim() == 0
        assert_close(got[key], expected[key], rtol=1e-5, atol=1e-7)  # one sum vs per level
    assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-7)
    assert expected['loss_rpn_bbox'] > 0


@pytest.mark.parametrize('allowed_border', [-1, 0])
def test_sync_free_rpn_targets_equal_mmdet(allowed_border):
    """Same sampled anchors and targets, on all anchors, as mmdet's select-and-unmap."""
    stock, ours = rpn_training_twins(allowed_border, reg_decoded=False)
    gts, metas = rpn_training_batch(1)
    sizes = [torch.Size((IMAGE // s, IMAGE // s)) for s in STRIDES]
    anchors, valid = stock.get_anchors(sizes, metas, device='cpu')
    targets = []
    for head in (stock, ours):
        torch.manual_seed(3)
        targets.append(head.get_targets(anchors, valid, gts, metas,
                                        return_sampling_results=True))
    for level_expected, level_got in zip(targets[0][:4], targets[1][:4]):
        for expected, got in zip(level_expected, level_got):
            assert torch.equal(got, expected)
    assert targets[1][4] == targets[0][4] > 0  # avg_factor
    inside = [anchor_flags.sum() for anchor_flags in
              (torch.cat(v) for v in valid)] if allowed_border < 0 else None
    if inside is not None:
        assert inside[1] < inside[0]  # the second image had invalid anchors


def test_sync_free_rpn_loss_over_all_levels_waits_less_for_the_device():
    """On the per-image sampling path (the CPU default) the targets are mmdet's; the loss,
    taken once over all levels, skips the per-level loss checks."""
    from bench.common import SyncCounter
    stock, ours = rpn_training_twins(-1, reg_decoded=False)
    feats = features()
    gts, metas = rpn_training_batch(1)
    counters = []
    for head in (stock, ours):
        cls_scores, bbox_preds = head(feats)
        torch.manual_seed(0)
        with SyncCounter() as counter:
            head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
        counters.append(counter)
    stock_syncs, our_syncs = counters[0].syncs, counters[1].syncs
    # the two losses' own checks once instead of once per level, and no item() in the
    # assigner's low-quality matching
    assert (stock_syncs['_local_scalar_dense'] - our_syncs['_local_scalar_dense']
            >= 2 * (len(STRIDES) - 1)), (stock_syncs, our_syncs)
    assert sum(stock_syncs.values()) > sum(our_syncs.values()) + 2 * (len(STRIDES) - 1)


def batch_sampling_twins(allowed_border: int, reg_decoded: bool, num: int):
    stock, ours = rpn_training_twins(allowed_border, reg_decoded)
    ours.batch_sampling = 'always'  # the CUDA default path, here on the CPU
    stock.sampler.num = ours.sampler.num = num
    return stock, ours


@pytest.mark.parametrize('reg_decoded', [False, True])
@pytest.mark.parametrize('second_image_boxes', [1, 0])
@pytest.mark.parametrize('allowed_border', [-1, 0])
def test_batch_sampling_taking_every_candidate_gives_mmdet_targets(
        allowed_border, second_image_boxes, reg_decoded):
    """With a sampler that takes every candidate nothing is random: the batch path's
    targets are mmdet's, anchor for anchor."""
    stock, ours = batch_sampling_twins(allowed_border, reg_decoded, num=10 ** 6)
    gts, metas = rpn_training_batch(second_image_boxes)
    sizes = [torch.Size((IMAGE // s, IMAGE // s)) for s in STRIDES]
    anchors, valid = stock.get_anchors(sizes, metas, device='cpu')
    expected = stock.get_targets(anchors, valid, gts, metas)
    got = ours.get_targets(anchors, valid, gts, metas)
    for level_expected, level_got in zip(expected[:4], got[:4]):
        for want, have in zip(level_expected, level_got):
            assert have.dtype == want.dtype
            assert_close(have, want, rtol=0, atol=0)
    assert float(got[4]) == expected[4]  # avg_factor


def test_batch_sampling_draws_mmdet_sample_sizes():
    _, ours = batch_sampling_twins(-1, reg_decoded=False, num=48)
    gts, metas = rpn_training_batch(1)
    sizes = [torch.Size((IMAGE // s, IMAGE // s)) for s in STRIDES]
    anchors, valid = ours.get_anchors(sizes, metas, device='cpu')
    torch.manual_seed(0)
    labels, label_weights, bbox_targets, bbox_weights, avg_factor = (
        torch.cat(t, 1) if isinstance(t, list) else t
        for t in ours.get_targets(anchors, valid, gts, metas))
    all_anchors = torch.cat(anchors[0])
    total = 0
    for img, (gt, meta) in enumerate(zip(gts, metas)):
        inside = torch.cat(valid[img])
        assign = ours.assigner.assign(
            InstanceData(priors=all_anchors, valid_flags=inside), gt)
        num_pos_cands = int((assign.gt_inds > 0).sum())
        num_neg_cands = int((assign.gt_inds == 0).sum())
        sampled_pos = bbox_weights[img, :, 0] > 0
        sampled = label_weights[img] > 0
        num_pos = min(num_pos_cands, 24)
        assert int(sampled_pos.sum()) == num_pos > 0
        assert int(sampled.sum()) == num_pos + min(num_neg_cands, 48 - num_pos)
        assert bool((assign.gt_inds[sampled_pos] > 0).all())  # positives are positives
        assert bool((assign.gt_inds[sampled & ~sampled_pos] == 0).all())
        assert bool((labels[img][sampled_pos] == 0).all())
        assert bool((labels[img][~sampled_pos] == 1).all())
        expected = ours.bbox_coder.encode(
            all_anchors[sampled_pos], gt.bboxes[assign.gt_inds[sampled_pos] - 1])
        assert_close(bbox_targets[img][sampled_pos], expected, rtol=0, atol=0)
        assert bool((bbox_targets[img][~sampled_pos] == 0).all())
        total += int(sampled.sum())
    assert float(avg_factor) == total


def test_batch_sampling_waits_for_nothing():
    from bench.common import SyncCounter
    from custom.models.sync_free import SyncFreeDeltaXYWHBBoxCoder
    _, ours = batch_sampling_twins(-1, reg_decoded=False, num=64)
    ours.bbox_coder = SyncFreeDeltaXYWHBBoxCoder(**{
        key: value for key, value in RPN_CFG['bbox_coder'].items() if key != 'type'})
    gts, metas = rpn_training_batch(1)
    cls_scores, bbox_preds = ours(features())
    ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)  # the coder makes its constants
    with SyncCounter() as counter:
        ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    # The sampling and targets: none; the losses' own checks (one each) remain.
    assert counter.syncs == {'nonzero': 1, '_local_scalar_dense': 1}, counter.syncs


def test_uniform_subset_is_uniform_and_sized_like_mmdet():
    from custom.models.sync_free.batch_sampling import uniform_subset
    candidates = torch.zeros(2, 12, dtype=torch.bool)
    candidates[0, [1, 4, 5, 9, 11]] = True  # 5 candidates, 3 drawn
    candidates[1, [2, 3]] = True  # fewer than wanted: both, then padding
    torch.manual_seed(0)
    counts = torch.zeros(12)
    for _ in range(3000):
        indices, drawn = uniform_subset(candidates, 3)
        assert drawn.sum(1).tolist() == [3, 2]
        assert bool(candidates[0, indices[0]].all())
        assert sorted(indices[1][drawn[1]].tolist()) == [2, 3]
        counts[indices[0]] += 1
    # each of the 5 candidates is drawn 3/5 of the time: 1800 +- about 4 standard deviations
    assert counts[[1, 4, 5, 9, 11]].sub(1800).abs().max() < 110, counts
    assert counts.sum() == 9000


def test_batch_sampling_mode_is_checked():
    with pytest.raises(ValueError, match="batch_sampling must be one of"):
        MODELS.build(dict(type='SyncFreeRPNHead', **RPN_CFG, batch_sampling='gpu'))


def test_sync_free_rpn_head_refuses_images_without_anchors_inside():
    _, ours = rpn_training_twins(0, reg_decoded=False)
    gts, metas = rpn_training_batch(1)
    metas[1] = dict(img_shape=(0, 0), pad_shape=(IMAGE, IMAGE))
    cls_scores, bbox_preds = ours(features())
    with pytest.raises(ValueError, match='no valid anchor inside the image boundary'):
        ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)


def rcnn_sampling_results(num_gts=(3, 0, 2), seed: int = 0):
    """Per image: proposals sampled against ground truths as mmdet's RoI head samples them
    (the second image has no ground truth, so no positives)."""
    from mmdet.models.task_modules.assigners import MaxIoUAssigner
    from mmdet.models.task_modules.samplers import RandomSampler
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                              match_low_quality=False)
    sampler = RandomSampler(num=64, pos_fraction=0.25, add_gt_as_proposals=True)
    results = []
    for count in num_gts:
        xy = torch.rand(count + 40, 2, generator=g) * IMAGE * 0.7
        boxes = torch.cat([xy, xy + 8 + torch.rand(count + 40, 2, generator=g) * 30], 1)
        gts = InstanceData(bboxes=boxes[:count],
                           labels=torch.randint(0, NUM_CLASSES, (count, ), generator=g))
        proposals = InstanceData(priors=boxes[count:] + torch.randn(40, 4, generator=g))
        assign_result = assigner.assign(proposals, gts)
        results.append(sampler.sample(assign_result, proposals, gts))
    assert len(results[0].pos_priors) > 0 and len(results[1].pos_priors) == 0
    return results


@pytest.mark.parametrize('concat', [True, False])
@pytest.mark.parametrize('pos_weight, reg_decoded', [(-1, False), (2.0, False), (-1, True)])
def test_sync_free_bbox_head_targets_equal_mmdet(pos_weight, reg_decoded, concat):
    cfg = dict(BBOX_CFG, reg_decoded_bbox=reg_decoded)
    stock, ours = twin_heads('Shared2FCBBoxHead', 'SyncFreeShared2FCBBoxHead', cfg)
    sampling_results = rcnn_sampling_results()
    train_cfg = ConfigDict(pos_weight=pos_weight)
    expected = stock.get_targets(sampling_results, train_cfg, concat=concat)
    got = ours.get_targets(sampling_results, train_cfg, concat=concat)
    assert len(got) == len(expected) == 4
    for got_target, expected_target in zip(got, expected):
        if not concat:
            assert len(got_target) == len(expected_target) == len(sampling_results)
            got_target, expected_target = torch.cat(got_target), torch.cat(expected_target)
        assert got_target.dtype == expected_target.dtype
        assert torch.equal(got_target, expected_target)


@pytest.mark.parametrize('loss_bbox', ['L1Loss', 'SmoothL1Loss', 'GIoULoss'])
@pytest.mark.parametrize('reg_class_agnostic', [False, True])
@pytest.mark.parametrize('num_gts', [(3, 0, 2), (0, 0, 0)])
def test_sync_free_bbox_head_losses_equal_mmdet(num_gts, reg_class_agnostic, loss_bbox):
    """Same losses and gradients; with no positive at all the box loss is 0 in both."""
    cfg = dict(BBOX_CFG, reg_class_agnostic=reg_class_agnostic,
               loss_bbox=dict(type=loss_bbox, loss_weight=1.0),
               reg_decoded_bbox=loss_bbox == 'GIoULoss')
    stock, ours = twin_heads('Shared2FCBBoxHead', 'SyncFreeShared2FCBBoxHead', cfg)
    if num_gts == (0, 0, 0):
        sampling_results = rcnn_sampling_results(num_gts=(3, 0, 2))
        for res in sampling_results:  # every positive becomes a negative
            res.pos_inds = res.pos_inds[:0]
            res.neg_inds = torch.cat([res.neg_inds, torch.arange(3)])
            res.pos_priors, res.neg_priors = res.priors[:0], res.priors[res.neg_inds]
            res.pos_gt_labels, res.pos_gt_bboxes = res.pos_gt_labels[:0], res.pos_gt_bboxes[:0]
    else:
        sampling_results = rcnn_sampling_results(num_gts=num_gts)
    rois = torch.cat([torch.cat([torch.full((len(res.priors), 1), float(i)), res.priors], 1)
                      for i, res in enumerate(sampling_results)])
    feats = torch.randn(len(rois), 16, 7, 7, generator=torch.Generator().manual_seed(2))
    results = []
    for head in (stock, ours):
        head.train()
        x = feats.clone().requires_grad_()
        cls_score, bbox_pred = head(x)
        targets = head.get_targets(sampling_results, ConfigDict(pos_weight=-1))
        losses = head.loss(cls_score, bbox_pred, rois, *targets)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        results.append((losses, x.grad))
    (expected, expected_grad), (got, got_grad) = results
    assert set(got) == set(expected) == {'loss_cls', 'acc', 'loss_bbox'}
    for key in expected:
        assert_close(got[key], expected[key], rtol=1e-5, atol=1e-7)
    assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-8)
    assert (float(expected['loss_bbox']) > 0) == (num_gts != (0, 0, 0))


def test_sync_free_bbox_head_loss_waits_less_for_the_device():
    from bench.common import SyncCounter
    stock, ours = twin_heads('Shared2FCBBoxHead', 'SyncFreeShared2FCBBoxHead', BBOX_CFG)
    sampling_results = rcnn_sampling_results()
    counts = []
    for head in (stock, ours):
        targets = head.get_targets(sampling_results, ConfigDict(pos_weight=-1))
        num_rows = len(targets[0])
        cls_score, bbox_pred = torch.randn(num_rows, NUM_CLASSES + 1), torch.randn(
            num_rows, NUM_CLASSES * 4)
        with SyncCounter() as counter:
            head.loss(cls_score, bbox_pred, None, *targets)
        counts.append(counter.syncs)
    assert sum(counts[0].values()) >= 7, counts[0]
    assert counts[1] == {'_local_scalar_dense': 1}, counts[1]  # only L1Loss's own check


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
class TestOnCuda:
    """The heads on a CUDA device (mmcv's ops run there through mmcv_lite_ext)."""

    def test_training_losses_on_cuda_match_cpu(self):
        """RPN and box-head losses on CUDA equal the CPU's, with samplers large enough to
        take every candidate (so no random draw differs between the devices)."""
        from mmengine.structures import InstanceData
        _, rpn = rpn_training_twins(-1, reg_decoded=False)
        rpn.sampler.num = 10 ** 6
        _, bbox_head = twin_heads('Shared2FCBBoxHead', 'SyncFreeShared2FCBBoxHead', BBOX_CFG)
        gts, metas = rpn_training_batch(1)
        sampling_results = rcnn_sampling_results()
        feats = features()
        roi_feats = torch.randn(sum(len(r.priors) for r in sampling_results), 16, 7, 7)
        losses = {}
        for device in ('cpu', 'cuda'):
            rpn.to(device), bbox_head.to(device)
            device_gts = [InstanceData(bboxes=g.bboxes.to(device), labels=g.labels.to(device))
                          for g in gts]
            cls_scores, bbox_preds = rpn([f.to(device) for f in feats])
            out = dict(rpn.loss_by_feat(cls_scores, bbox_preds, device_gts, metas))
            targets = bbox_head.get_targets([r.to(device) for r in sampling_results],
                                            ConfigDict(pos_weight=-1))
            cls_score, bbox_pred = bbox_head(roi_feats.to(device))
            out.update(bbox_head.loss(cls_score, bbox_pred, None, *targets))
            losses[device] = out
        assert losses['cuda']['loss_rpn_cls'].is_cuda
        for key, expected in losses['cpu'].items():
            assert_close(losses['cuda'][key].cpu(), expected, rtol=1e-4, atol=1e-5)

    def test_batch_sampled_roi_head_on_cuda_matches_mmdet_on_cpu(self, monkeypatch):
        """On CUDA the RoI head takes its batch path by default; with a sampler that takes
        every candidate its losses are mmdet's on the CPU."""
        monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
        monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
        stock, batched = roi_head_twins(num=10 ** 6)
        batched.batch_sampling = 'cuda'
        proposals, samples = roi_training_batch()
        expected = stock.loss(features(), copy.deepcopy(proposals), samples)
        batched.cuda()
        cuda_proposals = [InstanceData(bboxes=p.bboxes.cuda(), scores=p.scores.cuda())
                          for p in proposals]
        cuda_samples = [s.to('cuda') for s in samples]
        got = batched.loss([f.cuda() for f in features()], cuda_proposals, cuda_samples)
        assert batched._samples_batch(torch.device('cuda'))
        for key in expected:
            assert_close(got[key].cpu(), expected[key], rtol=1e-4, atol=1e-5)

    def test_heads_forward_on_cuda_match_cpu(self, monkeypatch):
        # TF32 convolutions (on by default; matmuls are not) would move outputs by ~1e-3.
        monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
        _, rpn = twin_heads('RPNHead', 'SyncFreeRPNHead', RPN_CFG)
        extractor = MODELS.build(dict(
            type='SingleRoIExtractor', out_channels=16, featmap_strides=STRIDES,
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2)))
        _, bbox_head = twin_heads('Shared2FCBBoxHead', 'SyncFreeShared2FCBBoxHead', BBOX_CFG)
        rpn_cfg = ConfigDict(RPN_TEST_CFGS[0])
        rcnn_cfg = ConfigDict(RCNN_TEST_CFGS[2])
        feats = features()

        def to(device, tensors):
            return [t.to(device) for t in tensors]

        def stage_outputs(device, cpu_raw=None):
            """Each stage on ``device``; post-processing from the CPU run's raw outputs, so
            that float rounding in the convolutions cannot flip an NMS decision."""
            rpn.to(device), extractor.to(device), bbox_head.to(device)
            with torch.no_grad():
                rpn_raw = rpn(tuple(to(device, feats)))
                raw = cpu_raw or dict(rpn=rpn_raw)
                proposals = rpn.predict_by_feat(*[to(device, r) for r in raw['rpn']],
                                                batch_img_metas=IMG_METAS, cfg=rpn_cfg)
                rois = torch.cat([torch.cat([p.bboxes.new_full((len(p), 1), i), p.bboxes], 1)
                                  for i, p in enumerate(proposals)])
                roi_feats = extractor(tuple(to(device, feats)), rois)
                bbox_raw = bbox_head(roi_feats if cpu_raw is None
                                     else cpu_raw['roi_feats'].to(device))
                raw = dict(raw, roi_feats=roi_feats, bbox=bbox_raw)
                per_image = [len(p) for p in proposals]
                cls_score, bbox_pred = (cpu_raw or raw)['bbox']
                dets = bbox_head.predict_by_feat(
                    rois.split(per_image), cls_score.to(device).split(per_image),
                    bbox_pred.to(device).split(per_image), IMG_METAS, rcnn_cfg)
            return dict(raw, rpn_raw=rpn_raw, proposals=proposals, dets=dets)

        cpu = stage_outputs('cpu')
        cuda = stage_outputs('cuda', cpu_raw=dict(rpn=cpu['rpn'], roi_feats=cpu['roi_feats'],
                                                  bbox=cpu['bbox']))
        assert cuda['dets'][0].bboxes.is_cuda and cuda['rpn_raw'][0][0].is_cuda
        for got, expected in zip(cuda['rpn_raw'][0] + cuda['rpn_raw'][1],
                                 cpu['rpn_raw'][0] + cpu['rpn_raw'][1]):
            assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
        assert_close(cuda['roi_feats'].cpu(), cpu['roi_feats'], rtol=0, atol=1e-4)
        for got, expected in zip(cuda['proposals'] + cuda['dets'],
                                 cpu['proposals'] + cpu['dets']):
            assert len(expected) > 0 and len(got) == len(expected)
            assert_close(got.bboxes.cpu(), expected.bboxes, rtol=1e-5, atol=1e-4)
            assert_close(got.scores.cpu(), expected.scores, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- RoI head


def roi_head_twins(num: int):
    """mmdet's StandardRoIHead and SyncFreeStandardRoIHead (its batch path forced, as on CUDA)
    with the same box head weights and sampler size."""
    def build(head_type: str, assigner: str):
        return MODELS.build(dict(
            type=head_type,
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor', out_channels=16, featmap_strides=STRIDES,
                roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2)),
            bbox_head=dict(type='SyncFreeShared2FCBBoxHead', **BBOX_CFG),
            train_cfg=ConfigDict(
                assigner=dict(type=assigner, pos_iou_thr=0.5, neg_iou_thr=0.5,
                              min_pos_iou=0.5, match_low_quality=False, ignore_iof_thr=-1),
                sampler=dict(type='RandomSampler', num=num, pos_fraction=0.25,
                             neg_pos_ub=-1, add_gt_as_proposals=True),
                pos_weight=-1, debug=False)))
    stock = randomise(build('StandardRoIHead', 'MaxIoUAssigner'), 0)
    batched = build('SyncFreeStandardRoIHead', 'SyncFreeMaxIoUAssigner')
    batched.load_state_dict(stock.state_dict())
    batched.batch_sampling = 'always'
    return stock.train(), batched.train()


def roi_training_batch(num_gts=(3, 3), num_proposals=(40, 40), seed: int = 0):
    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(seed)
    proposals, samples = [], []
    for count, num_props in zip(num_gts, num_proposals):
        xy = torch.rand(count, 2, generator=g) * IMAGE * 0.6
        gt_boxes = torch.cat([xy, xy + 12 + torch.rand(count, 2, generator=g) * 30], 1)
        # proposals: jittered copies of the ground truths (positives) and random boxes
        near = gt_boxes.repeat(4, 1)[:num_props // 2] + torch.randn(
            min(num_props // 2, 4 * count), 4, generator=g) * 2
        xy = torch.rand(num_props - len(near), 2, generator=g) * IMAGE * 0.7
        far = torch.cat([xy, xy + 6 + torch.rand(len(xy), 2, generator=g) * 30], 1)
        proposals.append(InstanceData(bboxes=torch.cat([near, far]),
                                      scores=torch.rand(num_props, generator=g)))
        sample = DetDataSample(metainfo=dict(img_shape=(IMAGE, IMAGE)))
        sample.gt_instances = InstanceData(
            bboxes=gt_boxes, labels=torch.randint(0, NUM_CLASSES, (count, ), generator=g))
        samples.append(sample)
    return proposals, samples


def roi_losses(head, proposals, samples, seed: int = 0):
    feats = [f.clone().requires_grad_() for f in features()]
    torch.manual_seed(seed)
    losses = head.loss(feats, copy.deepcopy(proposals), samples)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return losses, feats[0].grad


@pytest.mark.parametrize('num_gts, num_proposals', [((3, 3), (40, 40)), ((3, 1), (60, 20))])
def test_batch_sampled_roi_head_taking_every_candidate_gives_mmdet_losses(
        num_gts, num_proposals):
    """With a sampler that takes every candidate nothing is random: the batch path's losses
    and gradients are mmdet's, also when an image leaves slots unfilled (the second
    case: 21 candidates against 63 slots)."""
    stock, batched = roi_head_twins(num=10 ** 6)
    proposals, samples = roi_training_batch(num_gts, num_proposals)
    expected, expected_grad = roi_losses(stock, proposals, samples)
    got, got_grad = roi_losses(batched, proposals, samples)
    assert set(got) == set(expected) == {'loss_cls', 'acc', 'loss_bbox'}
    for key in expected:
        assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-7)
    assert float(expected['loss_bbox']) > 0


def test_batch_sampled_roi_head_draws_mmdet_sample_sizes(monkeypatch):
    _, batched = roi_head_twins(num=32)
    proposals, samples = roi_training_batch(num_gts=(3, 1), num_proposals=(60, 20))
    seen = {}
    bbox_loss = batched.bbox_head.loss

    def spy(cls_score, bbox_pred, rois, labels, label_weights, bbox_targets, bbox_weights):
        seen.update(rois=rois, labels=labels, label_weights=label_weights)
        return bbox_loss(cls_score, bbox_pred, rois, labels, label_weights, bbox_targets,
                         bbox_weights)
    monkeypatch.setattr(batched.bbox_head, 'loss', spy)
    torch.manual_seed(0)
    batched.loss(features(), copy.deepcopy(proposals), samples)
    labels = seen['labels'].view(2, -1)
    weights = seen['label_weights'].view(2, -1)
    assert labels.shape == (2, 32)
    for img, (props, sample) in enumerate(zip(proposals, samples)):
        gts = sample.gt_instances
        candidates = torch.cat([gts.bboxes, props.bboxes])
        assign = batched.bbox_assigner.assign(InstanceData(priors=candidates), gts)
        assign.gt_inds[:len(gts)] = torch.arange(1, len(gts) + 1)  # gts assigned to themselves
        num_pos = min(int((assign.gt_inds > 0).sum()), 8)
        num_neg = min(int((assign.gt_inds == 0).sum()), 32 - num_pos)
        assert int((labels[img] < NUM_CLASSES).sum()) == num_pos > 0
        assert int((weights[img] > 0).sum()) == num_pos + num_neg
        assert bool((labels[img][:num_pos] < NUM_CLASSES).all())  # positives first
        assert bool((seen['rois'].view(2, 32, 5)[img, :, 0] == img).all())
    assert int((weights[1] > 0).sum()) < 32  # 21 candidates: unfilled slots weigh nothing


def test_batch_sampled_roi_head_waits_less_for_the_device():
    from bench.common import SyncCounter
    from custom.models.sync_free import SyncFreeDeltaXYWHBBoxCoder
    stock, batched = roi_head_twins(num=32)
    batched.bbox_head.bbox_coder = SyncFreeDeltaXYWHBBoxCoder(**{
        key: value for key, value in BBOX_CFG['bbox_coder'].items() if key != 'type'})
    proposals, samples = roi_training_batch()
    counters = []
    for head in (stock, batched):
        head.loss(features(), copy.deepcopy(proposals), samples)  # constants made once
        with SyncCounter() as counter:
            head.loss(features(), copy.deepcopy(proposals), samples)
        counters.append(counter.syncs)
    # left: the RoI extractor's split by level (one nonzero each) and the L1 loss's check
    assert counters[1] == {'nonzero': len(STRIDES), '_local_scalar_dense': 1}, counters[1]
    assert sum(counters[0].values()) > sum(counters[1].values()) + 2 * 2


def test_batch_sampled_roi_head_keeps_mmdet_path_on_cpu():
    stock, batched = roi_head_twins(num=32)
    batched.batch_sampling = 'cuda'
    proposals, samples = roi_training_batch()
    expected, _ = roi_losses(stock, proposals, samples, seed=5)
    got, _ = roi_losses(batched, proposals, samples, seed=5)
    for key in expected:  # same draw: the per-image path with the same assigner results
        assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='batch_sampling must be one of'):
        MODELS.build(dict(type='SyncFreeStandardRoIHead', batch_sampling='gpu'))
