"""A local file backend whose writes are atomic: a reader sees the old file or the new one.

mmengine's ``LocalBackend.put`` opens the final path and writes into it, so a process killed in
the middle of a checkpoint save leaves a truncated file under the checkpoint's own name.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_BACKEND = 'atomic_local'
# mkstemp's names for write_atomically: '.<file name>.<8 random characters>.tmp'
TEMPORARY_NAME = re.compile(r'^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$')


def current_umask() -> int:
    """The process's umask, without changing it (from /proc where there is one)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Remove what killed :func:`write_atomically` calls left in ``folder``: files named
    ``.<name>.XXXXXXXX.tmp`` (as large as a checkpoint each). Call it only when no save is
    under way in that folder (before a save, at resume). Returns the removed names."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and TEMPORARY_NAME.match(entry.name):
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except OSError:
                pass
    return sorted(removed)


def write_atomically(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file and a rename.

    The temporary file lives in the same folder, so the rename stays on one file system and is
    atomic; the folder is fsynced afterwards so the rename itself survives a power loss. The
    file gets the permissions ``open`` would give it (0666 less the umask), not mkstemp's 0600.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
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
