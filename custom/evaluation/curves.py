"""Loss and mAP curves from an mmengine run's ``vis_data/scalars.json``.

The file holds one JSON object per line. Training lines carry ``lr``, ``loss``, ``loss_*``,
``acc``, ``iter`` and ``step`` (the global iteration); validation lines carry metrics such as
``coco/bbox_mAP`` and a ``step``: iterations or epochs, as mmengine's LoggerHook
``log_metric_by_epoch`` says. An iteration-based run (its training lines carry no ``epoch``)
logged with ``log_metric_by_epoch=True``, mmengine's default, has every evaluation at step 0;
such an evaluation is placed at the last training iteration logged before it.

Validation lines may also carry the training losses measured on the validation set
(``val/loss``, ``val/loss_rpn_cls``, ..., from ValidationLossHook); they are drawn on the
training losses' panel, each in its training term's colour, so that over- and under-fitting
show at a glance.
"""
from __future__ import annotations

import json
import math
import os.path as osp
from dataclasses import dataclass, field

import numpy as np

from custom.core.errors import InputError

from .plotting import new_figure, save_figure

__all__ = ['ScalarLog', 'read_scalars', 'default_keys', 'series', 'plot_curves']

# Bookkeeping scalars that are not curves worth plotting by default.
NOT_CURVES = {'step', 'iter', 'epoch', 'time', 'data_time', 'memory', 'eta', 'lr'}
VAL_DEFAULT = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')
VAL_LOSS_PREFIX = 'val/'


@dataclass
class ScalarLog:
    """The lines of one scalars.json, split into training and validation records.

    Attributes:
        path (str): the file read.
        train (list[dict]): training lines, in file order.
        val (list[dict]): validation lines, in file order.
        by_epoch (bool): validation ``step`` counts epochs, not iterations.
    """
    path: str
    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)
    by_epoch: bool = False

    def keys(self, records: list[dict]) -> list[str]:
        """Numeric keys seen in ``records``, in first-seen order."""
        seen: dict[str, None] = {}
        for record in records:
            for key, value in record.items():
                if key.startswith('_'):  # the reader's own bookkeeping
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    seen.setdefault(key, None)
        return list(seen)


def is_train_record(record: dict) -> bool:
    """Training lines are the ones LogProcessor tags with ``lr`` or ``iter``."""
    return 'lr' in record or 'iter' in record


def read_scalars(path: str) -> ScalarLog:
    """Parse ``path`` line by line.

    Raises:
        InputError: the file is missing, a line is not a JSON object, or nothing is in it.
    """
    if osp.isdir(path) and osp.isfile(osp.join(path, 'vis_data', 'scalars.json')):
        path = osp.join(path, 'vis_data', 'scalars.json')
    if not osp.isfile(path):
        raise InputError(f'{path}: file not found')
    log = ScalarLog(path=path)
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f'{path}:{lineno}: not a JSON line ({err.msg})') from err
            if not isinstance(record, dict):
                raise InputError(f'{path}:{lineno}: expected a JSON object per line')
            if is_train_record(record):
                log.train.append(record)
            else:
                # mmengine logs an evaluation with step = the epoch unless the logger's
                # log_metric_by_epoch is off, so in an iteration-based run every evaluation
                # would sit at 0: keep the iteration it followed.
                record['_after_iter'] = log.train[-1].get('step', 0) if log.train else 0
                log.val.append(record)
    if not log.train and not log.val:
        raise InputError(f'{path}: no scalars in the file')
    log.by_epoch = any('epoch' in record for record in log.train)
    for record in log.val:
        # Where the evaluation sits on the training iteration axis: in an iteration-based run
        # its own step (an evaluation at 90 follows the training line logged at 80), in an
        # epoch-based run the iteration it followed.
        after = record.pop('_after_iter')
        if not log.by_epoch:
            record['step'] = max(record.get('step', 0), after)
        record['_train_step'] = after if log.by_epoch else record['step']
    return log


def default_keys(log: ScalarLog) -> tuple[list[str], list[str]]:
    """Training curves (loss terms and accuracy) and the COCO mAPs found in the log."""
    train = [k for k in log.keys(log.train) if k not in NOT_CURVES
             and (k.startswith('loss') or 'acc' in k)]
    val_keys = log.keys(log.val)
    val = [k for k in VAL_DEFAULT if k in val_keys]
    if not val:  # another metric (e.g. pascal_voc/mAP): plot every mAP-like key
        val = [k for k in val_keys if 'mAP' in k or 'AP' in k.split('/')[-1]]
    return train, val + [k for k in val_keys if is_val_loss(k)]


def is_val_loss(key: str) -> bool:
    """A training loss term measured on the validation set (``val/loss_cls``)."""
    return key.startswith(VAL_LOSS_PREFIX + 'loss')


def series(records: list[dict], key: str, x_key: str = 'step') -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of ``key`` over the records that have it; non-finite values are dropped."""
    points = [(r[x_key], r[key]) for r in records if key in r and x_key in r
              and isinstance(r[key], (int, float)) and math.isfinite(r[key])]
    if not points:
        return np.zeros(0), np.zeros(0)
    x, y = zip(*points)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def split_requested_keys(log: ScalarLog, keys: list[str]) -> tuple[list[str], list[str]]:
    """Place each requested key in the training or validation panel, or fail naming it."""
    train_keys, val_keys = log.keys(log.train), log.keys(log.val)
    train, val = [], []
    for key in keys:
        if key in train_keys:
            train.append(key)
        elif key in val_keys:
            val.append(key)
        else:
            available = ', '.join(k for k in train_keys + val_keys
                                  if k not in ('step', 'iter', 'epoch'))
            raise InputError(f'--keys {key}: not in {log.path} (available: {available})')
    return train, val


def plot_curves(log: ScalarLog, out: str, keys: list[str] | None = None) -> str:
    """Draw loss terms against iteration (training as lines, the same terms on the validation
    set dashed, in the same colours), other training scalars (accuracy, lr) in a panel of
    their own, and validation metrics against iteration (or epoch), and write a PNG.

    Args:
        log (ScalarLog): parsed scalars.json.
        out (str): PNG path.
        keys (list[str], optional): scalars to draw; default: loss terms, accuracy,
            ``coco/bbox_mAP``, ``coco/bbox_mAP_50``, ``coco/bbox_mAP_75`` and the validation
            losses (``val/loss*``).

    Returns:
        str: ``out``.
    """
    train_keys, val_keys = split_requested_keys(log, keys) if keys else default_keys(log)
    if not train_keys and not val_keys:
        raise InputError(f'{log.path}: no loss or mAP scalars to plot')
    loss_keys = [k for k in train_keys if k.startswith('loss')]
    val_loss_keys = [k for k in val_keys if is_val_loss(k)]
    metric_keys = [k for k in val_keys if not is_val_loss(k)]
    other_keys = [k for k in train_keys if not k.startswith('loss')]  # other scales: own panel
    val_axis = 'epoch' if log.by_epoch else 'iteration'
    loss_title = 'loss: training (lines), validation (dashed)' if val_loss_keys else \
        'training losses'
    panels = [(title, panel_keys, x_label) for title, panel_keys, x_label in (
        (loss_title, loss_keys + val_loss_keys, 'iteration'),
        ('training', other_keys, 'iteration'),
        ('validation', metric_keys, val_axis)) if panel_keys]
    fig, axes = new_figure(len(panels), panel_size=(6.0, 4.5))
    colours: dict[str, str] = {}
    for ax, (title, panel_keys, x_label) in zip(axes, panels):
        for key in panel_keys:
            if key in train_keys:
                (line,) = ax.plot(*series(log.train, key), linewidth=1.2, label=key)
                colours[key] = line.get_color()
            elif is_val_loss(key):
                # On the iteration axis whatever the run's metric axis; the training term's
                # colour, dashed.
                term = key[len(VAL_LOSS_PREFIX):]
                style = dict(color=colours[term]) if term in colours else {}
                ax.plot(*series(log.val, key, x_key='_train_step'), linewidth=1.2,
                        linestyle='--', marker='o', markersize=3, label=key, **style)
            else:
                ax.plot(*series(log.val, key), linewidth=1.2, marker='o', markersize=3,
                        label=key)
        ax.set_title(title)
        ax.set_xlabel(x_label)
        if x_label == 'iteration' and log.train:
            # Every iteration panel spans the whole run, so that one evaluation at its end
            # shows there rather than alone on an axis of its own.
            last = max(r.get('step', 0) for r in log.train + log.val)
            ax.set_xlim(0, last * 1.03)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, out)
