"""``RandomSampler``'s draw for a whole batch at once, with no host synchronisation, and the
box targets of what it drew. Both the RPN and the RoI head use them.

Shape shorthand: B = images, N = candidates of one image (padded to the batch's longest),
S = sampled candidates of one image, G = ground truths of one image (padded).
"""
from typing import Tuple

import torch
from mmdet.models.task_modules.samplers import RandomSampler
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from .sync_free_random_sampler import SyncFreeRandomSampler

# ``batch_sampling`` of the heads that draw for the whole batch: on CUDA tensors only (so CPU
# training keeps mmdet's per-image draw), on any device, or never.
BATCH_SAMPLING_MODES = ('cuda', 'always', 'never')


def checked_batch_sampling(mode: str, owner: str) -> str:
    """``mode`` if it is one of :data:`BATCH_SAMPLING_MODES`.

    Raises:
        ValueError: naming ``owner`` (the head's class) and the modes.
    """
    if mode not in BATCH_SAMPLING_MODES:
        raise ValueError(f'{owner}: batch_sampling must be one of {BATCH_SAMPLING_MODES}, '
                         f'got {mode!r}')
    return mode


def batch_sampling_applies(mode: str, device: torch.device) -> bool:
    """Whether a head in ``mode`` draws for the whole batch when its tensors are on
    ``device``."""
    return mode == 'always' or (mode == 'cuda' and device.type == 'cuda')


def draws_like_random_sampler(sampler: object) -> bool:
    """Whether ``sampler`` is mmdet's plain random sampler (or ours), whose draw
    :func:`random_sampler_draw` reproduces in distribution."""
    return type(sampler) in (RandomSampler, SyncFreeRandomSampler)


def uniform_subset(candidates: Tensor, size: int) -> Tuple[Tensor, Tensor]:
    """Per row, ``size`` candidates drawn uniformly without replacement (all of them if
    fewer).

    Each candidate gets a uniform random key in [0, 1), the others 2; the ``size`` smallest
    keys of a row are a uniform random subset of its candidates, followed by non-candidates
    when it has fewer.

    Args:
        candidates (Tensor): (B, N) bool.
        size (int): Wanted per row.

    Returns:
        tuple: indices (B, min(size, N)), drawn candidates first, and (B, min(size, N))
        bool, True where the index is a drawn candidate.
    """
    keys = torch.rand(candidates.shape, device=candidates.device)
    keys = keys.masked_fill(~candidates, 2.0)
    smallest, indices = keys.topk(min(size, candidates.size(1)), dim=1, largest=False)
    return indices, smallest < 1.0


def random_sampler_draw(sampler: RandomSampler,
                        gt_inds: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The sample sizes ``RandomSampler.sample`` draws, for every image at once.

    Positives (``gt_inds > 0``): at most ``num * pos_fraction``; negatives (``gt_inds ==
    0``): the rest of ``num``, at most ``neg_pos_ub`` times the positives if that is >= 0.
    Each set is a uniformly drawn subset, as mmdet's, but from another random stream.

    Args:
        sampler (RandomSampler): Its ``num``, ``pos_fraction`` and ``neg_pos_ub``.
        gt_inds (Tensor): (B, N) assignment: ground truth index + 1, 0 background, -1 none.

    Returns:
        tuple: positive indices (B, P) and which are drawn (B, P) bool, then negative
        indices (B, min(num, N)) and which are drawn.
    """
    pos_idx, pos_valid = uniform_subset(gt_inds > 0, int(sampler.num * sampler.pos_fraction))
    num_pos = pos_valid.sum(1)
    num_neg = sampler.num - num_pos
    if sampler.neg_pos_ub >= 0:
        num_neg = torch.minimum(num_neg, (sampler.neg_pos_ub * num_pos.clamp(min=1)).long())
    neg_idx, neg_valid = uniform_subset(gt_inds == 0, sampler.num)
    ranks = torch.arange(neg_idx.size(1), device=neg_idx.device)
    return pos_idx, pos_valid, neg_idx, neg_valid & (ranks < num_neg[:, None])


def positive_box_targets(priors: Tensor, gt_inds: Tensor, positive: Tensor,
                         batch_gt_instances: list, bbox_coder,
                         reg_decoded_bbox: bool) -> Tensor:
    """Regression targets of sampled priors, zero where a prior is not a positive.

    What mmdet's heads write for their positives (``bbox_coder.encode(prior, gt)``, or the
    ground truth box itself with ``reg_decoded_bbox``), for every image of the batch at once:
    the RPN's sampled anchors and the RoI head's sampled RoIs.

    Args:
        priors (Tensor): (B, S, 4) the sampled anchors or RoIs.
        gt_inds (Tensor): (B, S) their assignment: ground truth index + 1, 0 or -1 if none.
        positive (Tensor): (B, S) bool, which are positives.
        batch_gt_instances (list[InstanceData]): Per image, ``bboxes`` (G, 4).
        bbox_coder: The head's box coder.
        reg_decoded_bbox (bool): Targets are boxes, not deltas.

    Returns:
        Tensor: (B, S, reg_dim) with reg_dim 4, or the coder's ``encode_size``.
    """
    reg_dim = 4 if reg_decoded_bbox else bbox_coder.encode_size
    targets = priors.new_zeros(*positive.shape, reg_dim)
    if max(len(gts) for gts in batch_gt_instances) == 0:
        return targets
    gt_boxes = pad_sequence([get_box_tensor(gts.bboxes) for gts in batch_gt_instances],
                            batch_first=True)  # (B, G, 4)
    assigned = (gt_inds - 1).clamp(min=0)[..., None].expand(-1, -1, 4)
    matched = gt_boxes.gather(1, assigned)  # (B, S, 4)
    if not reg_decoded_bbox:
        matched = bbox_coder.encode(priors.reshape(-1, 4), matched.reshape(-1, 4)).view_as(
            targets)
    return torch.where(positive[..., None], matched.to(targets.dtype), targets)
