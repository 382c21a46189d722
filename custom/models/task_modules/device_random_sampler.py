"""Random RoI / anchor sampler that draws its permutation where the indices live.

Shape shorthand: G = indices in the gallery (positive or negative candidates of one image),
S = sampled indices (<= G).
"""
from typing import Union

import torch
from mmdet.models.task_modules.samplers import RandomSampler
from mmdet.registry import TASK_UTILS
from numpy import ndarray
from torch import Tensor


@TASK_UTILS.register_module()
class DeviceRandomSampler(RandomSampler):
    """mmdet's ``RandomSampler``, with the permutation drawn on the gallery's device.

    mmdet's ``random_choice`` always draws ``torch.randperm`` on the CPU and copies it to the
    device (a 2021 workaround for a CUDA ``randperm`` bug, mmdet pull request 5014). For the
    RPN the negative gallery is nearly every anchor of the image (about 270k at 800x1333), so
    a CUDA training step of batch 8 spends its time in 16 CPU permutations of that size: 14%
    of the CPU time of a classicdet R50-FPN step measured on an H100. Here a CUDA gallery is
    permuted on the GPU; CPU galleries (and lists, arrays) take mmdet's own path, so CPU
    training draws exactly the samples ``RandomSampler`` draws for the same seed.

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
            raise ValueError(f'DeviceRandomSampler: cannot pick {num} of {len(gallery)} indices')
        if not isinstance(gallery, Tensor) or gallery.device.type == 'cpu':
            return super().random_choice(gallery, num)
        return gallery[torch.randperm(gallery.numel(), device=gallery.device)[:num]]
