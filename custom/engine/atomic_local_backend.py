"""A local file backend whose writes are atomic: a reader sees the old file or the new one.

mmengine's ``LocalBackend.put`` opens the final path and writes into it, so a process killed in
the middle of a checkpoint save leaves a truncated file under the checkpoint's own name.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_BACKEND = 'atomic_local'


def write_atomically(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file and a rename.

    The temporary file lives in the same folder, so the rename stays on one file system and is
    atomic; the folder is fsynced afterwards so the rename itself survives a power loss.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` with atomic ``put`` and ``put_text`` (registered as 'atomic_local')."""

    def put(self, obj: bytes, filepath: str | Path) -> None:
        write_atomically(obj, filepath)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        write_atomically(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
