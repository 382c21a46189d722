"""SyncFreeMaxIoUAssigner: mmdet's MaxIoUAssigner results, with no host synchronisation."""
import pytest
import torch
from mmdet.models.task_modules.assigners import MaxIoUAssigner
from mmengine.structures import InstanceData

from bench.common import SyncCounter
from custom.models.sync_free import SyncFreeMaxIoUAssigner

RPN = dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, match_low_quality=True)
RCNN = dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5, match_low_quality=False)
SETTINGS = [
    RPN, RCNN,
    dict(RPN, gt_max_assign_all=False),
    dict(RPN, neg_iou_thr=(0.1, 0.3)),
    dict(RPN, min_pos_iou=0.0),
]


def _overlaps(num_gts: int, num_priors: int, seed: int) -> torch.Tensor:
    """IoU-like values on a coarse grid, so that ties (within and across rows) are common;
    a few priors ignored (-1) as ignore_iof_thr marks them."""
    gen = torch.Generator().manual_seed(seed)
    overlaps = torch.randint(0, 21, (num_gts, num_priors), generator=gen).float() / 20
    overlaps[:, torch.rand(num_priors, generator=gen) < 0.05] = -1
    return overlaps


def _assert_same(ours, theirs):
    assert ours.num_gts == theirs.num_gts
    assert torch.equal(ours.gt_inds, theirs.gt_inds)
    assert torch.equal(ours.max_overlaps, theirs.max_overlaps)
    assert torch.equal(ours.labels, theirs.labels)


@pytest.mark.parametrize('setting', SETTINGS)
@pytest.mark.parametrize('num_gts, num_priors', [(1, 50), (4, 300), (13, 2000), (7, 3)])
def test_assignment_equals_mmdet(setting, num_gts, num_priors):
    for seed in range(3):
        overlaps = _overlaps(num_gts, num_priors, seed)
        labels = torch.randint(0, 10, (num_gts, ), generator=torch.Generator().manual_seed(seed))
        _assert_same(SyncFreeMaxIoUAssigner(**setting).assign_wrt_overlaps(overlaps, labels),
                     MaxIoUAssigner(**setting).assign_wrt_overlaps(overlaps, labels))


@pytest.mark.parametrize('num_gts, num_priors', [(0, 20), (3, 0), (0, 0)])
def test_empty_inputs_equal_mmdet(num_gts, num_priors):
    overlaps = torch.rand(num_gts, num_priors)
    labels = torch.zeros(num_gts, dtype=torch.long)
    _assert_same(SyncFreeMaxIoUAssigner(**RPN).assign_wrt_overlaps(overlaps, labels),
                 MaxIoUAssigner(**RPN).assign_wrt_overlaps(overlaps, labels))


def test_assign_on_boxes_equals_mmdet():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(500, 2, generator=gen) * 200
    priors = torch.cat((xy, xy + torch.rand(500, 2, generator=gen) * 60 + 4), dim=1)
    gts = InstanceData(bboxes=torch.tensor([[10., 10, 60, 70], [100, 40, 150, 90],
                                            [12, 14, 58, 66]]),
                       labels=torch.tensor([3, 1, 7]))
    ours = SyncFreeMaxIoUAssigner(**RPN).assign(InstanceData(priors=priors), gts)
    theirs = MaxIoUAssigner(**RPN).assign(InstanceData(priors=priors), gts)
    _assert_same(ours, theirs)
    assert bool((ours.gt_inds > 0).any()) and bool((ours.gt_inds == 0).any())


def _random_priors(num: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=gen) * 200 - 20  # some reach outside a 200 px image
    return torch.cat((xy, xy + torch.rand(num, 2, generator=gen) * 60 + 4), dim=1)


@pytest.mark.parametrize('setting', SETTINGS)
@pytest.mark.parametrize('num_gts', [0, 1, 3])
def test_valid_flags_equal_assigning_the_valid_priors_alone(setting, num_gts):
    """Priors flagged invalid are unassigned (-1); the rest get mmdet's assignment of the
    valid priors alone, where low-quality matches cannot go to an invalid prior."""
    priors = _random_priors(600, seed=num_gts)
    # The best prior of the first box is invalid: with it, mmdet would match differently.
    gts = InstanceData(bboxes=torch.tensor([[10., 10, 60, 70], [100, 40, 150, 90],
                                            [12, 14, 58, 66]])[:num_gts],
                       labels=torch.tensor([3, 1, 7])[:num_gts])
    priors[0] = torch.tensor([10., 10, 60, 70])
    valid = torch.rand(600, generator=torch.Generator().manual_seed(1)) > 0.3
    valid[0] = False
    ours = SyncFreeMaxIoUAssigner(**setting).assign(
        InstanceData(priors=priors, valid_flags=valid), gts)
    theirs = MaxIoUAssigner(**setting).assign(InstanceData(priors=priors[valid]), gts)
    assert torch.equal(ours.gt_inds[valid], theirs.gt_inds)
    assert torch.equal(ours.labels[valid], theirs.labels)
    assert bool((ours.gt_inds[~valid] == -1).all())
    if num_gts:
        unmasked = SyncFreeMaxIoUAssigner(**setting).assign(InstanceData(priors=priors), gts)
        assert int(unmasked.gt_inds[0]) > 0  # the flag is what kept prior 0 out
        assert bool((ours.gt_inds[valid] > 0).any())


def test_valid_flags_leave_no_host_synchronisation():
    priors = _random_priors(2000, seed=0)
    gts = InstanceData(bboxes=torch.tensor([[10., 10, 60, 70], [100, 40, 150, 90]]),
                       labels=torch.tensor([3, 1]))
    valid = priors[:, :2].min(dim=1).values >= 0
    assigner = SyncFreeMaxIoUAssigner(**RPN)
    with SyncCounter() as counter:
        assigner.assign(InstanceData(priors=priors, valid_flags=valid), gts)
    assert sum(counter.syncs.values()) == 0, counter.syncs
    assert assigner._ignored_priors is None  # not left behind for the next call


def test_bad_negative_range_is_refused():
    with pytest.raises(ValueError, match='neg_iou_thr must be a float or a pair'):
        SyncFreeMaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=(0.1, 0.2, 0.3)).assign_wrt_overlaps(
            torch.rand(2, 5), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize('setting', [RPN, RCNN, dict(RPN, gt_max_assign_all=False)])
def test_no_host_synchronisation(setting):
    overlaps, labels = _overlaps(5, 1000, 0), torch.arange(5)
    with SyncCounter() as theirs:
        MaxIoUAssigner(**setting).assign_wrt_overlaps(overlaps, labels)
    with SyncCounter() as ours:
        SyncFreeMaxIoUAssigner(**setting).assign_wrt_overlaps(overlaps, labels)
    assert sum(theirs.syncs.values()) >= 3  # the counter sees mmdet's waits
    assert sum(ours.syncs.values()) == 0, ours.syncs


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('setting', SETTINGS)
def test_cuda_assignment_equals_mmdet_on_cpu(setting):
    overlaps, labels = _overlaps(13, 270000, 0), torch.randint(0, 10, (13, ))
    ours = SyncFreeMaxIoUAssigner(**setting).assign_wrt_overlaps(overlaps.cuda(), labels.cuda())
    theirs = MaxIoUAssigner(**setting).assign_wrt_overlaps(overlaps, labels)
    for field in ('gt_inds', 'max_overlaps', 'labels'):
        assert torch.equal(getattr(ours, field).cpu(), getattr(theirs, field)), field


# ----------------------------------------------------------------------------- box coder


@pytest.mark.parametrize('stds', [(1.0, 1.0, 1.0, 1.0), (0.1, 0.1, 0.2, 0.2)])
@pytest.mark.parametrize('means', [(0.0, 0.0, 0.0, 0.0), (0.5, -0.25, 0.1, 0.0)])
def test_sync_free_coder_encodes_as_mmdet(means, stds):
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

    from custom.models.sync_free import SyncFreeDeltaXYWHBBoxCoder
    priors = _random_priors(3000, seed=5)
    gts = _random_priors(3000, seed=6)
    ours = SyncFreeDeltaXYWHBBoxCoder(target_means=means, target_stds=stds)
    theirs = DeltaXYWHBBoxCoder(target_means=means, target_stds=stds)
    for _ in range(2):  # the second call reuses the constants
        got = ours.encode(priors, gts)
        assert torch.equal(got, theirs.encode(priors, gts))  # bit for bit
    assert torch.equal(ours.encode(priors.double(), gts.double()),
                       theirs.encode(priors.double(), gts.double()))
    assert ours.encode(priors[:0], gts[:0]).shape == (0, 4)
    with SyncCounter() as counter:
        ours.encode(priors, gts)
    assert sum(counter.syncs.values()) == 0, counter.syncs
    with SyncCounter() as counter:
        theirs.encode(priors, gts)
    assert counter.syncs['lift_fresh'] == 2  # mmdet's means and stds, made at every call


# ----------------------------------------------------------------------------- IoU


@pytest.mark.parametrize('mode', ['iou', 'iof', 'giou'])
@pytest.mark.parametrize('shapes', [(7, 3000), (0, 50), (5, 0)])
def test_sync_free_overlaps_equal_mmdet(mode, shapes):
    from mmdet.models.task_modules.assigners import BboxOverlaps2D

    from custom.models.sync_free import SyncFreeBboxOverlaps2D
    boxes1, boxes2 = _random_priors(shapes[0], seed=7), _random_priors(shapes[1], seed=8)
    boxes2[:10, 2:] = boxes2[:10, :2]  # degenerate boxes: the eps guard decides
    boxes1 = torch.cat([boxes1, boxes2[:3]])  # exact matches: IoU 1
    ours, theirs = SyncFreeBboxOverlaps2D(), BboxOverlaps2D()
    got, expected = ours(boxes1, boxes2, mode), theirs(boxes1, boxes2, mode)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)  # bit for bit
    scored = torch.cat([boxes1, torch.rand(len(boxes1), 1)], 1)  # a score column is ignored
    assert torch.equal(ours(scored, boxes2, mode), expected)
    if mode != 'giou' and shapes[1]:
        with SyncCounter() as counter:
            ours(boxes1, boxes2, mode)
        assert sum(counter.syncs.values()) == 0, counter.syncs


def test_sync_free_assigner_defaults_to_the_sync_free_overlaps():
    from custom.models.sync_free import SyncFreeBboxOverlaps2D
    assert type(SyncFreeMaxIoUAssigner(**RPN).iou_calculator) is SyncFreeBboxOverlaps2D
    explicit = SyncFreeMaxIoUAssigner(**RPN, iou_calculator=dict(type='BboxOverlaps2D'))
    assert type(explicit.iou_calculator).__name__ == 'BboxOverlaps2D'


@pytest.mark.parametrize('num_classes', [1, 3])
@pytest.mark.parametrize('max_shape', [None, (150, 180)])
@pytest.mark.parametrize('options', [dict(), dict(add_ctr_clamp=True, ctr_clamp=8),
                                     dict(clip_border=False),
                                     dict(target_stds=(0.1, 0.1, 0.2, 0.2)),
                                     dict(target_means=(0.1, -0.2, 0.05, 0.0),
                                          target_stds=(0.1, 0.1, 0.2, 0.2))])
def test_sync_free_coder_decodes_as_mmdet(options, max_shape, num_classes):
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

    from custom.models.sync_free import SyncFreeDeltaXYWHBBoxCoder
    rois = _random_priors(2000, seed=9)
    deltas = torch.randn(2000, 4 * num_classes, generator=torch.Generator().manual_seed(3))
    deltas[:50, 2:4] = 9.0  # beyond the log-scale clip
    ours, theirs = SyncFreeDeltaXYWHBBoxCoder(**options), DeltaXYWHBBoxCoder(**options)
    for _ in range(2):
        got = ours.decode(rois, deltas, max_shape=max_shape)
        assert torch.equal(got, theirs.decode(rois, deltas, max_shape=max_shape))  # bit for bit
    assert ours.decode(rois[:0], deltas[:0]).shape == (0, 4 * num_classes)
    with SyncCounter() as counter:
        ours.decode(rois, deltas, max_shape=max_shape)
    assert sum(counter.syncs.values()) == 0, counter.syncs
    batched = ours.decode(rois[None, :10], deltas[None, :10, :4])  # mmdet's batched path
    assert batched.shape == (1, 10, 4)
