"""Save the random number generators' states in checkpoints, so a resumed run continues the
same random stream (RPN/RoI sampling, augmentation) as an uninterrupted one."""
from __future__ import annotations

import random

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

KEY = 'classicdet_rng_state'


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Store python, numpy, torch (and CUDA) RNG states as plain data; restore on resume.

    mmengine restores weights, optimizer, schedulers and the sampler position, but not the
    generators, so sampling after a resume differs from the uninterrupted run.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[KEY] = capture_random_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if KEY in checkpoint and runner._resume:
            restore_random_state(checkpoint[KEY])


def capture_random_state() -> dict:
    """RNG states as tensors, ints and lists only (loadable by the weights-only unpickler)."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=dict(version=version, state=list(mt_state), gauss=gauss),
        numpy=dict(name=name, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    """Inverse of :func:`capture_random_state`."""
    py = state['python']
    random.setstate((py['version'], tuple(py['state']), py['gauss']))
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
                         npy['has_gauss'], npy['cached']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
