"""``RandomSampler``'s draw for a whole batch at once, with no host synchronisation.

Shape shorthand: B = images, N = candidates of one image (padded to the batch's longest).
"""
from typing import Tuple

import torch
from mmdet.models.task_modules.samplers import RandomSampler
from torch import Tensor

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
