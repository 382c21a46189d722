"""The ``last_checkpoint`` record of a work dir: written relative to it, read relative to it.

mmengine writes the checkpoint's path as given (often absolute) and reads it back as a path
from the current folder, so a work dir that was moved or copied could not resume although its
checkpoints were right there.
"""
from __future__ import annotations

import os.path as osp

from custom.core.errors import InputError

__all__ = ['relative_to_work_dir', 'resolve_last_checkpoint']


def relative_to_work_dir(path: str, work_dir: str) -> str:
    """``path`` relative to ``work_dir`` when it lies inside it (the usual case), else as is."""
    if '://' in path:
        return path
    rel = osp.relpath(osp.abspath(path), osp.abspath(work_dir))
    return path if rel.startswith('..') else rel


def resolve_last_checkpoint(work_dir: str) -> str | None:
    """The checkpoint the work dir's ``last_checkpoint`` names, or None when it has none.

    The file holds a path relative to the work dir (absolute in older runs); an absolute path
    that no longer exists (the work dir was moved) is looked up by its name in the work dir.

    Raises:
        InputError: ``last_checkpoint`` names a file that is in neither place.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record, encoding='utf-8') as f:
        named = f.read().strip()
    if not named:
        return None
    candidates = [named] if osp.isabs(named) else []
    candidates.append(osp.join(work_dir, named if not osp.isabs(named) else osp.basename(named)))
    for path in candidates:
        if osp.isfile(path):
            return path
    raise InputError(f'{record}: names {named}, which is not in {work_dir}; give the checkpoint '
                   'with --resume CKPT')
