"""The one way classicdet builds a detector from a config and a checkpoint.

Tools, the Python API, the analysis and proposal-recall code and the benchmarks all use
:func:`build_detector`, so a checkpoint always loads the same way: through the weights-only
loader, strictly, after every key and shape has been checked against the model.
"""
from __future__ import annotations

import logging
import os.path as osp
import warnings

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from torch import nn

from .checkpoints import (
    check_checkpoint_matches,
    check_class_count,
    config_num_classes,
    state_dict_of,
)
from .errors import InputError
from .model_preparation import apply_test_time_hooks

__all__ = ['build_detector', 'dataset_meta_of']


def build_detector(cfg: Config, checkpoint: str | None = None, device: str = 'cpu', *,
                   test_time_hooks: bool = False, init_weights: bool = False,
                   seed: int | None = None) -> nn.Module:
    """The config's detector in eval mode on ``device``, with ``checkpoint``'s weights.

    Args:
        cfg (Config): A detector config.
        checkpoint (str, optional): Weights, loaded strictly (every key and shape must match
            the model: a checkpoint of another architecture is refused, naming what differs).
            Its ``meta.dataset_meta`` (class names) becomes ``model.dataset_meta``.
        device (str): 'cpu', 'cuda' or 'cuda:N'. Defaults to 'cpu'.
        test_time_hooks (bool): Prepare the model as ``tools/test.py`` does when the config
            lists the hooks (channels-last weights, batch norms folded). Defaults to False.
        init_weights (bool): Without a checkpoint, run the config's ``init_weights`` (which
            may read the pre-trained weights its ``init_cfg`` names); otherwise the weights
            keep PyTorch's initialisation and nothing is read. Defaults to False.
        seed (int, optional): Seed of the initial weights, so runs without a checkpoint
            repeat. Defaults to None (the global random state).

    Returns:
        nn.Module: The detector.

    Raises:
        InputError: The checkpoint is missing, unsafe, or of another architecture.
    """
    from mmdet.registry import MODELS
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise InputError(f'{checkpoint}: no such checkpoint file')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if seed is not None:
        torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        loaded = check_checkpoint_matches(model, checkpoint)
        model.load_state_dict(state_dict_of(loaded, checkpoint), strict=True)
        model.dataset_meta = dataset_meta_of(loaded, cfg)
        check_class_count(model.dataset_meta.get('classes'), config_num_classes(cfg.model),
                          f'{checkpoint} (meta.dataset_meta.classes)')
    elif init_weights:
        _quiet_init_weights(model)
    model = revert_sync_batchnorm(model)  # SyncBN needs a process group; plain BN is identical
    model = model.to(device).eval()
    return apply_test_time_hooks(model, cfg) if test_time_hooks else model


def dataset_meta_of(checkpoint: dict, cfg: Config) -> dict:
    """Class names and palette: the checkpoint's (saved by mmdet's runner), else the config's
    test dataset's, else COCO's with a warning (as mmdet's inferencer does)."""
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    if 'dataset_meta' in meta:
        return {key.lower(): value for key, value in meta['dataset_meta'].items()}
    if 'CLASSES' in meta:  # mmdet 2.x checkpoints
        return {'classes': meta['CLASSES']}
    metainfo = cfg.get('test_dataloader', {}).get('dataset', {}).get('metainfo')
    if metainfo and 'classes' in metainfo:
        return dict(metainfo)
    from mmdet.evaluation import get_classes
    warnings.warn('the checkpoint saves no class names and the config names none: using '
                  "COCO's")
    return {'classes': get_classes('coco')}


def _quiet_init_weights(model: nn.Module) -> None:
    """``init_weights`` logs one line per parameter at INFO; only warnings matter here."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
