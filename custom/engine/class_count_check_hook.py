"""Refuse a head whose number of classes is not the dataset's, before the first step.

mmdet trains such a model without a word (a head with more outputs than classes just never
sees some labels; one with fewer fails deep inside the loss on a label out of range) and
tests it against the wrong class list (mmdetection issues 10949, 3810, 4243).
"""
from __future__ import annotations

from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from custom.core.errors import InputError

__all__ = ['ClassCountCheckHook', 'head_class_counts', 'check_class_count']


def head_class_counts(model_cfg, prefix: str = 'model') -> list[tuple[str, int]]:
    """(config key, value) of every ``num_classes`` in a model config, the RPN's left out
    (its one class is "object")."""
    found = []
    items = (model_cfg.items() if hasattr(model_cfg, 'items')
             else enumerate(model_cfg) if isinstance(model_cfg, (list, tuple)) else [])
    for key, value in items:
        path = f'{prefix}.{key}'
        if key == 'num_classes' and isinstance(value, int) and 'rpn_head' not in path:
            found.append((path, value))
        elif hasattr(value, 'items') or isinstance(value, (list, tuple)):
            found += head_class_counts(value, path)
    return found


def check_class_count(model_cfg, dataset, where: str) -> None:
    """Raise :class:`InputError` if a head's ``num_classes`` is not ``dataset``'s class count.

    Args:
        model_cfg: The config's ``model``.
        dataset: A built dataset (its ``metainfo['classes']``).
        where (str): The dataloader's config key, e.g. ``'train_dataloader'``.
    """
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not classes:
        return
    for key, count in head_class_counts(model_cfg):
        if count != len(classes):
            raise InputError(
                f'{key} = {count} but {where}.dataset has {len(classes)} classes '
                f'({", ".join(map(str, classes[:12]))}{", ..." if len(classes) > 12 else ""}): '
                f'set {key}={len(classes)} or give the dataset metainfo=dict(classes=...)')


@HOOKS.register_module()
class ClassCountCheckHook(Hook):
    """Before training, validation and testing: every head's ``num_classes`` equals the class
    count of the dataset it runs on (:func:`check_class_count`), else one line naming both
    numbers and the config key."""

    priority = 'HIGHEST'

    def before_train(self, runner) -> None:
        check_class_count(runner.cfg.model, runner.train_loop.dataloader.dataset,
                          'train_dataloader')

    def before_val(self, runner) -> None:
        check_class_count(runner.cfg.model, runner.val_loop.dataloader.dataset,
                          'val_dataloader')

    def before_test(self, runner) -> None:
        check_class_count(runner.cfg.model, runner.test_loop.dataloader.dataset,
                          'test_dataloader')
