"""Shared fixtures. Every test runs from the repository root with the package importable.

tests/ mirrors the packages (tests/<package>/test_*.py); the shared helpers (helpers.py,
toy.py) stay here and import as top-level modules from every folder. Test file names are
unique across the folders (pytest's default import mode needs that without __init__.py files).
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tests'))
os.chdir(ROOT)


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope='session', autouse=True)
def _register_modules():
    """Import the package once so that its modules are registered, as configs do."""
    from mmdet.utils import register_all_modules

    import custom  # noqa: F401
    register_all_modules(init_default_scope=True)
    yield
