"""Checkpointing that never leaves a run without a loadable checkpoint."""
from __future__ import annotations

import os.path as osp

import torch
from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper

from .atomic_local_backend import ATOMIC_BACKEND, remove_stale_temporaries, write_atomically
from .last_checkpoint import relative_to_work_dir, resolve_last_checkpoint


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose saves survive a kill at any moment.

    Differences from mmengine's hook, each closing a way to lose a run:

    * checkpoints are written to a temporary file, fsynced and renamed (``atomic_local``
      backend), so a half-written file never carries a checkpoint's name;
    * ``last_checkpoint`` is updated atomically and only after the checkpoint is complete;
    * outdated checkpoints are removed only after the new one is in place (mmengine removes
      them first, so ``max_keep_ckpts=1`` plus a kill during the save left nothing);
    * the same for the best checkpoint (``save_best``): mmengine deletes the old
      ``best_*.pth`` before writing the new one; here the old one goes only once the new one
      is complete (a kill in between leaves both, never neither);
    * ``last_checkpoint`` holds the checkpoint's path relative to the work dir, so a moved
      work dir still resumes (see ``custom.apis.runs.resolve_last_checkpoint``);
    * temporary files that killed saves left (``.iter_N.pth.XXXXXXXX.tmp``) are removed
      before the next save;
    * a model with non-finite parameters is never saved over a good checkpoint.

    Args:
        backend_args (dict, optional): file backend; defaults to the atomic local backend.
        **kwargs: as for :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args, backend_args: dict | None = None, **kwargs) -> None:
        super().__init__(*args, backend_args=backend_args or dict(backend=ATOMIC_BACKEND),
                         **kwargs)

    def before_run(self, runner) -> None:
        """Resuming from the work dir (``resume=True`` without a file): find the checkpoint
        ``last_checkpoint`` names relative to the work dir (mmengine reads the name as a path
        from the current folder), and clear what killed saves left."""
        super().before_run(runner)
        if getattr(runner, '_resume', False) and getattr(runner, '_load_from', None) is None:
            if is_main_process():
                remove_stale_temporaries(runner.work_dir)
            runner._load_from = resolve_last_checkpoint(runner.work_dir)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        assert_finite_parameters(runner.model, step)
        if is_main_process():
            remove_stale_temporaries(self.out_dir)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        outdated = self._register_kept_step(runner, step)

        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        write_atomically(relative_to_work_dir(self.last_ckpt, runner.work_dir).encode(),
                         osp.join(runner.work_dir, 'last_checkpoint'))
        for old_step in outdated:
            self._remove_checkpoint(self.filename_tmpl.format(old_step))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's best-checkpoint save, with the removal of the previous best deferred
        until the new one is written (mmengine removes first)."""
        if not self.save_best or not hasattr(self, 'file_backend'):
            # nothing to save (no save_best), or a validation outside training: mmengine's
            # own method decides, and it removes nothing
            return super()._save_best_checkpoint(runner, metrics)
        backend = self.file_backend
        deferred: list = []
        previous = self.best_ckpt_path, dict(getattr(self, 'best_ckpt_path_dict', {}))
        backend.remove = deferred.append  # shadows the method on this instance only
        try:
            super()._save_best_checkpoint(runner, metrics)
        except BaseException:
            # the new best was not written: the old one stays the best (and is removed when
            # a later best replaces it)
            self.best_ckpt_path = previous[0]
            if hasattr(self, 'best_ckpt_path_dict'):
                self.best_ckpt_path_dict = previous[1]
            raise
        finally:
            del backend.remove
        kept = {self.best_ckpt_path, *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred:
            if path not in kept and backend.isfile(path):
                backend.remove(path)

    def _register_kept_step(self, runner, step) -> list:
        """Record ``step`` among the kept checkpoints; return the steps now outdated."""
        if self.max_keep_ckpts <= 0:
            return []
        outdated = []
        if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return outdated

    def _remove_checkpoint(self, filename: str) -> None:
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)


def assert_finite_parameters(model: torch.nn.Module, step: int) -> None:
    """Raise if any parameter or buffer is NaN/inf, naming the first such tensor."""
    if is_model_wrapper(model):
        model = model.module
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise FloatingPointError(
                f'refusing to save checkpoint at step {step}: {name} has non-finite values '
                '(the previous checkpoint is kept)')
