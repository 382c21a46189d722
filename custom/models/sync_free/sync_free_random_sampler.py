"""Random RoI / anchor sampler that draws its permutation where the indices live.

Shape shorthand: G = indices in the gallery (positive or negative candidates of one image),
S = sampled indices (<= G).
"""
from typing import Union

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import RandomSampler, SamplingResult
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import BaseBoxes, cat_boxes
from mmengine.structures import InstanceData
from numpy import ndarray
from torch import Tensor


@TASK_UTILS.register_module()
class SyncFreeRandomSampler(RandomSampler):
    """mmdet's ``RandomSampler``, with the permutation drawn on the gallery's device.

    mmdet's ``random_choice`` always draws ``torch.randperm`` on the CPU and copies it to the
    device (a 2021 workaround for a CUDA ``randperm`` bug, mmdet pull request 5014). For the
    RPN the negative gallery is nearly every anchor of the image (about 270k at 800x1333), so
    a CUDA training step of batch 8 spends its time in 16 CPU permutations of that size: 14%
    of the CPU time of a classicdet R50-FPN step measured on an H100. Here a CUDA gallery is
    permuted on the GPU; CPU galleries (and lists, arrays) take mmdet's own path, so CPU
    training draws exactly the samples ``RandomSampler`` draws for the same seed.

    ``sample`` also sorts the sampled indices where mmdet's calls ``unique``: the indices are
    distinct already (rows of a ``nonzero``, or a permutation's prefix of them), so the result
    is the same, but ``unique`` has a data-dependent size and makes the host wait for the GPU,
    twice per image and stage.

    Same arguments as ``RandomSampler`` (``num``, ``pos_fraction``, ``neg_pos_ub``,
    ``add_gt_as_proposals``).
    """

    def random_choice(self, gallery: Union[Tensor, ndarray, list],
                      num: int) -> Union[Tensor, ndarray]:
        """Pick ``num`` elements of ``gallery`` at random, without replacement.

        Args:
            gallery (Tensor | ndarray | list): (G,) candidate indices.
            num (int): S, how many to pick (<= G).

        Returns:
            Tensor | ndarray: (S,) picked indices, of the gallery's type and device.

        Raises:
            ValueError: ``num`` is larger than the gallery.
        """
        if num > len(gallery):
            raise ValueError(f'SyncFreeRandomSampler: cannot pick {num} of {len(gallery)} indices')
        if not isinstance(gallery, Tensor) or gallery.device.type == 'cpu':
            return super().random_choice(gallery, num)
        return gallery[torch.randperm(gallery.numel(), device=gallery.device)[:num]]

    def sample(self, assign_result: AssignResult, pred_instances: InstanceData,
               gt_instances: InstanceData, **kwargs) -> SamplingResult:
        """Sample positive and negative priors: mmdet's ``BaseSampler.sample``, with sorts.

        Args:
            assign_result (AssignResult): Assignment of the N priors.
            pred_instances (InstanceData): ``priors`` (N, 4) of one image.
            gt_instances (InstanceData): ``bboxes`` (G, 4) and ``labels`` (G,).

        Returns:
            SamplingResult: at most ``num`` sampled priors, positives first.
        """
        gt_bboxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        priors = pred_instances.priors
        if len(priors.shape) < 2:
            priors = priors[None, :]
        gt_flags = priors.new_zeros((priors.shape[0], ), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            if isinstance(gt_bboxes, BaseBoxes) and isinstance(priors, BaseBoxes):
                gt_bboxes_ = gt_bboxes.convert_to(type(priors))
            else:
                gt_bboxes_ = gt_bboxes
            priors = cat_boxes([gt_bboxes_, priors], dim=0)
            assign_result.add_gt_(gt_labels)
            gt_ones = priors.new_ones(gt_bboxes_.shape[0], dtype=torch.uint8)
            gt_flags = torch.cat([gt_ones, gt_flags])

        num_expected_pos = int(self.num * self.pos_fraction)
        pos_inds = self.pos_sampler._sample_pos(
            assign_result, num_expected_pos, bboxes=priors, **kwargs).reshape(-1).sort().values
        num_sampled_pos = pos_inds.numel()
        num_expected_neg = self.num - num_sampled_pos
        if self.neg_pos_ub >= 0:
            neg_upper_bound = int(self.neg_pos_ub * max(1, num_sampled_pos))
            num_expected_neg = min(num_expected_neg, neg_upper_bound)
        neg_inds = self.neg_sampler._sample_neg(
            assign_result, num_expected_neg, bboxes=priors, **kwargs).reshape(-1).sort().values
        return SamplingResult(pos_inds=pos_inds, neg_inds=neg_inds, priors=priors,
                              gt_bboxes=gt_bboxes, assign_result=assign_result,
                              gt_flags=gt_flags)

