"""SyncFreeRandomSampler: mmdet's RandomSampler on CPU, a GPU permutation on CUDA."""
import pytest
import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import RandomSampler
from mmengine.structures import InstanceData

from bench.common import SyncCounter
from custom.models.sync_free import SyncFreeRandomSampler


def _rpn_like_inputs(num_priors: int, num_gts: int, num_pos: int, device: str = 'cpu'):
    """An assignment of ``num_priors`` anchors: ``num_pos`` positives, a few ignored."""
    gen = torch.Generator().manual_seed(0)
    gt_inds = torch.zeros(num_priors, dtype=torch.long)
    pos = torch.randperm(num_priors, generator=gen)[:num_pos + 50]
    if num_pos:
        gt_inds[pos[:num_pos]] = torch.randint(1, num_gts + 1, (num_pos,), generator=gen)
    gt_inds[pos[num_pos:]] = -1  # ignored: neither positive nor negative
    labels = torch.where(gt_inds > 0, torch.zeros_like(gt_inds), torch.full_like(gt_inds, -1))
    overlaps = torch.where(gt_inds > 0, 0.8, 0.1)
    assign = AssignResult(num_gts, gt_inds.to(device), overlaps.to(device), labels.to(device))
    xy = torch.rand(num_priors, 2, generator=gen) * 300
    priors = torch.cat((xy, xy + 20), dim=1).to(device)
    gts = torch.tensor([[10., 10, 50, 50]] * num_gts, device=device).reshape(-1, 4)
    return (assign, InstanceData(priors=priors),
            InstanceData(bboxes=gts, labels=torch.zeros(num_gts, dtype=torch.long, device=device)))


def _assert_same_sampling(ours, theirs):
    for field in ('pos_inds', 'neg_inds', 'pos_gt_bboxes', 'pos_gt_labels', 'pos_is_gt',
                  'pos_assigned_gt_inds', 'pos_priors', 'neg_priors'):
        a, b = getattr(ours, field), getattr(theirs, field)
        assert a.shape == b.shape and torch.equal(a, b), field


@pytest.mark.parametrize('num_gts, num_pos', [(4, 300), (4, 40), (4, 0), (0, 0)])
@pytest.mark.parametrize('num, pos_fraction, add_gt, neg_pos_ub', [
    (256, 0.5, False, -1), (512, 0.25, True, -1), (64, 0.5, False, 3)])
def test_cpu_samples_equal_mmdet_random_sampler(num_gts, num_pos, num, pos_fraction, add_gt,
                                                neg_pos_ub):
    kwargs = dict(num=num, pos_fraction=pos_fraction, add_gt_as_proposals=add_gt,
                  neg_pos_ub=neg_pos_ub)
    # Fresh inputs for each: sampling with add_gt_as_proposals extends the assignment in place.
    torch.manual_seed(7)
    ours = SyncFreeRandomSampler(**kwargs).sample(*_rpn_like_inputs(20000, num_gts, num_pos))
    torch.manual_seed(7)
    theirs = RandomSampler(**kwargs).sample(*_rpn_like_inputs(20000, num_gts, num_pos))
    _assert_same_sampling(ours, theirs)
    if num_pos >= num:
        assert len(ours.pos_inds) == int(num * pos_fraction)


def test_picking_more_than_the_gallery_is_refused():
    sampler = SyncFreeRandomSampler(num=8, pos_fraction=0.5)
    with pytest.raises(ValueError, match='cannot pick 5 of 4 indices'):
        sampler.random_choice(torch.arange(4), 5)
    with pytest.raises(ValueError, match='cannot pick 3 of 2 indices'):
        sampler.random_choice([0, 1], 3)


def test_list_gallery_gives_numpy_like_mmdet():
    torch.manual_seed(3)
    ours = SyncFreeRandomSampler(num=8, pos_fraction=0.5).random_choice(list(range(10, 30)), 5)
    torch.manual_seed(3)
    theirs = RandomSampler(num=8, pos_fraction=0.5).random_choice(list(range(10, 30)), 5)
    assert ours.tolist() == theirs.tolist()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_samples_stay_on_the_gpu_and_are_a_valid_sample(monkeypatch):
    inputs = _rpn_like_inputs(num_priors=270000, num_gts=4, num_pos=300, device='cuda')
    cpu_randperm = torch.randperm

    def randperm_on_device_only(*args, **kwargs):
        assert kwargs.get('device') is not None, 'a permutation was drawn on the CPU'
        return cpu_randperm(*args, **kwargs)
    monkeypatch.setattr(torch, 'randperm', randperm_on_device_only)
    result = SyncFreeRandomSampler(num=256, pos_fraction=0.5, add_gt_as_proposals=False).sample(
        *inputs)
    gt_inds = inputs[0].gt_inds
    assert result.pos_inds.is_cuda and result.neg_inds.is_cuda
    assert len(result.pos_inds) == 128 and len(result.neg_inds) == 128
    assert bool((gt_inds[result.pos_inds] > 0).all())
    assert bool((gt_inds[result.neg_inds] == 0).all())
    assert len(torch.unique(result.neg_inds)) == 128


def test_sampling_makes_no_unique_call():
    counts = {}
    for sampler in (SyncFreeRandomSampler, RandomSampler):
        with SyncCounter() as counter:
            sampler(num=256, pos_fraction=0.5).sample(*_rpn_like_inputs(20000, 4, 300))
        counts[sampler.__name__] = counter.syncs
    assert counts['RandomSampler']['_unique2'] == 2  # the counter sees mmdet's two
    assert counts['SyncFreeRandomSampler']['_unique2'] == 0
    assert counts['SyncFreeRandomSampler']['nonzero'] == counts['RandomSampler']['nonzero']
