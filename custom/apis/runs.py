"""Turning a config plus command-line choices into an mmengine run (train or test)."""
from __future__ import annotations

import os
import os.path as osp

import torch
from mmengine.config import Config

from custom.core.errors import InputError

from ..engine import ensure_hook, init_cpu_process_group, lists_channels_last_hook
from ..engine.atomic_local_backend import remove_stale_temporaries
from ..engine.last_checkpoint import resolve_last_checkpoint
from .config import ensure_writable_dir
from .limits import check_positive_schedule


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config name>``, mmdet's convention."""
    return osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])


def prepare_train_config(cfg: Config,
                         config_path: str,
                         work_dir: str | None = None,
                         resume: str | None = None,
                         amp: bool = False,
                         auto_scale_lr: bool = False,
                         launcher: str = 'none',
                         load_from: str | None = None,
                         tensorboard: bool = False) -> Config:
    """Apply the train tool's options to ``cfg`` (in place) and return it.

    Args:
        resume (str, optional): 'auto' resumes from the work dir's ``last_checkpoint``;
            a path resumes from that checkpoint; None starts afresh.
        load_from (str, optional): Start from this checkpoint's weights (fine-tuning): what
            fits the model loads, the rest is re-initialised (:class:`FineTuneCheckpointHook`).
        tensorboard (bool): also write TensorBoard event files (:func:`add_tensorboard`).
    """
    cfg.launcher = launcher
    check_positive_schedule(cfg.get('train_cfg'))
    cfg.work_dir = ensure_writable_dir(work_dir or cfg.get('work_dir') or
                                       default_work_dir(config_path))
    if resume:
        remove_stale_temporaries(cfg.work_dir)
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, resolve_last_checkpoint(cfg.work_dir)
    elif resume:
        if not osp.isfile(resume):
            raise InputError(f'--resume {resume}: checkpoint file not found')
        cfg.resume, cfg.load_from = True, resume
    if load_from:
        if resume:
            raise InputError('--load-from and --resume: give one (resume continues a run, '
                           'load-from starts a new one from the weights)')
        if not osp.isfile(load_from):
            raise InputError(f'--load-from {load_from}: checkpoint file not found')
        cfg.resume, cfg.load_from = False, load_from
        ensure_hook(cfg, 'FineTuneCheckpointHook')
    if amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            pass
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise InputError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if tensorboard:
        add_tensorboard(cfg)
    use_cpu_collectives(cfg, launcher)
    return cfg


def add_tensorboard(cfg: Config) -> Config:
    """Add mmengine's TensorboardVisBackend to ``cfg.visualizer``: event files in the run's
    ``vis_data`` folder beside ``scalars.json``, with the same scalar names.

    Raises:
        InputError: the tensorboard package is not installed.
    """
    import importlib.util
    if importlib.util.find_spec('tensorboard') is None:
        raise InputError('--tensorboard: the tensorboard package is not installed '
                       '(requirements.txt pins it)')
    backends = list(cfg.visualizer.get('vis_backends', None) or [])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    cfg.visualizer.vis_backends = backends
    return cfg


def check_start_checkpoint(model, cfg: Config) -> None:
    """Check the checkpoint a training run starts from before mmengine loads it, so that a
    bad file is named in one line (mmengine passes torch's and its own text through).

    ``--resume`` needs a complete training checkpoint of this model: its weights, ``meta``
    and ``message_hub``; ``--load-from`` needs weights (what fits loads).

    Raises:
        InputError: refused pickle, truncated file, plain state_dict for ``--resume``, another
            architecture, NaN/inf weights.
    """
    from mmengine.model import is_model_wrapper

    from custom.core.checkpoints import (
        check_checkpoint_matches,
        check_finite_weights,
        state_dict_of,
    )
    from custom.core.safe_load import load_checkpoint_safely
    path = cfg.get('load_from')
    if not path:
        return
    if is_model_wrapper(model):  # distributed runs: the keys are the wrapped model's
        model = model.module
    option = '--resume' if cfg.get('resume') else '--load-from'
    try:
        if option == '--resume':
            checkpoint = check_checkpoint_matches(model, path)
        else:
            checkpoint = load_checkpoint_safely(path)
            check_finite_weights(state_dict_of(checkpoint, path), path)
    except Exception as err:  # noqa: BLE001 - every refusal names the file already
        raise InputError(f'{option}: {err}') from err
    if option == '--resume':
        missing = [key for key in ('meta', 'message_hub') if key not in checkpoint]
        if missing:
            raise InputError(f'--resume: {path}: not a training checkpoint (no '
                           f'{" or ".join(missing)}; only weights?): use --load-from to start '
                           'a new run from its weights')


def prepare_test_config(cfg: Config,
                        config_path: str,
                        checkpoint: str,
                        work_dir: str | None = None,
                        out: str | None = None,
                        show_dir: str | None = None,
                        launcher: str = 'none') -> Config:
    """Apply the test tool's options to ``cfg`` (in place) and return it.

    Raises:
        InputError: ``out`` is a folder (checked here, before the evaluation, not after it).
    """
    if out and osp.isdir(out):
        raise InputError(f'--out {out}: is a folder; give the path of a .json file to write')
    cfg.launcher = launcher
    cfg.work_dir = ensure_writable_dir(work_dir or cfg.get('work_dir') or
                                       default_work_dir(config_path))
    cfg.load_from = checkpoint
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
        cfg.test_evaluator]
    for evaluator in evaluators:
        if evaluator.get('type') == 'CocoMetric':
            evaluator.classwise = True  # per-class AP table
            if out:
                ensure_writable_dir(osp.dirname(osp.abspath(out)))
                evaluator.outfile_prefix = osp.splitext(osp.abspath(out))[0]
    if show_dir:
        ensure_writable_dir(show_dir)
        vis = cfg.default_hooks.get('visualization', None)
        if vis is None:
            raise InputError('--show-dir: the config has no visualization hook')
        vis.draw = True
        vis.test_out_dir = osp.abspath(show_dir)
    use_cpu_collectives(cfg, launcher)
    return cfg


def use_cpu_collectives(cfg: Config, launcher: str) -> None:
    """NCCL needs GPUs: distributed runs on CPU-only machines use gloo and a CPU DDP wrapper.

    A config that lists ``ChannelsLastHook`` gets a wrapper that converts the model before
    DDP lays out its gradient buckets (the hook runs only after mmengine wrapped it).
    """
    if launcher == 'none':
        return
    channels_last = lists_channels_last_hook(cfg)
    if not torch.cuda.is_available():
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        cfg.model_wrapper_cfg = dict(
            type='CPUDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
            channels_last=channels_last)
        init_cpu_process_group(launcher)
    elif channels_last and cfg.get('model_wrapper_cfg') is None:
        # mmengine's default wrapper and arguments, converting first
        cfg.model_wrapper_cfg = dict(
            type='ChannelsLastDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))


def results_file_for(out: str) -> str:
    """The file CocoMetric writes for ``outfile_prefix = splitext(out)[0]``."""
    return osp.splitext(osp.abspath(out))[0] + '.bbox.json'


def move_results_file(out: str) -> None:
    """Rename CocoMetric's ``<prefix>.bbox.json`` to the path the user asked for."""
    written = results_file_for(out)
    if not osp.isfile(written):
        raise InputError(f'{out}: the evaluator wrote no detections file ({written} missing)')
    if osp.abspath(out) != written:
        os.replace(written, out)


def detect_dataset(config: str, checkpoint: str, out: str, work_dir: str,
                   cfg_options: dict | None = None) -> tuple[str, str]:
    """Run ``checkpoint`` over the config's test set as ``tools/test.py --out`` does.

    Returns:
        tuple[str, str]: the annotation file the detections refer to and the folder of its
        images.
    """
    from mmengine.runner import Runner

    from .config import load_config
    cfg = load_config(config, cfg_options)
    prepare_test_config(cfg, config, checkpoint, work_dir, out, None, 'none')
    dataset = cfg.test_dataloader.dataset
    ann_file = cfg.test_evaluator.get('ann_file') or osp.join(dataset.get('data_root', ''),
                                                              dataset.ann_file)
    img_dir = osp.join(dataset.get('data_root', ''), dataset.get('data_prefix', {}).get('img', ''))
    Runner.from_cfg(cfg).test()
    move_results_file(out)
    return ann_file, img_dir
