"""Shared fixtures. Every test runs from the repository root with the package importable."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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
