"""Imported by a training subprocess in the kill tests: makes every checkpoint save take a
while (pause after the temporary file is created and before it is renamed), so the test can
SIGKILL the process in the middle of a save."""
import os
import tempfile
import time

from custom.engine import atomic_local_backend

PAUSE = float(os.environ.get('CLASSICDET_TEST_SAVE_PAUSE', '0.5'))
_mkstemp = tempfile.mkstemp
_replace = os.replace


def slow_mkstemp(*args, **kwargs):
    fd, path = _mkstemp(*args, **kwargs)
    time.sleep(PAUSE)
    return fd, path


def slow_replace(src, dst):
    time.sleep(PAUSE)
    return _replace(src, dst)


atomic_local_backend.tempfile = type('SlowTempfile', (), {'mkstemp': staticmethod(slow_mkstemp)})
atomic_local_backend.os = type('SlowOs', (), {
    '__getattr__': lambda self, name: getattr(os, name),
    'replace': staticmethod(slow_replace)
})()
