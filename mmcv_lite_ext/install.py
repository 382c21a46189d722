"""Write (or check) ``mmcv/_ext.py``, the module through which mmcv finds this package.

Usage: ``python -m mmcv_lite_ext.install [--check]``. With ``--check`` nothing is written: the
exit status is 0 when the module is in place and current, 1 otherwise, with one line saying
why. The module lives in mmcv's own folder so that mmcv finds it whatever is imported first
(``import mmdet.models`` alone works). A compiled ``mmcv/_ext*.so`` beside it would take
precedence (Python prefers extension modules), which is also what its owner wants.
"""
import argparse
import importlib.util
import sys
from pathlib import Path

SHIM = '''"""mmcv's extension module, provided without compiling by classicdet's mmcv_lite_ext.

Written by classicdet's set-up (python -m mmcv_lite_ext.install); do not edit.
"""
from mmcv_lite_ext import *  # noqa: F401,F403
from mmcv_lite_ext import __getattr__  # noqa: F401
'''


def shim_path() -> Path:
    """Where ``mmcv._ext`` must live: beside mmcv's ``__init__.py``, found without importing
    mmcv (importing it would look for the module being installed)."""
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('mmcv_lite_ext: mmcv is not installed (pip install mmcv-lite==2.1.0)')
    return Path(list(spec.submodule_search_locations)[0]) / '_ext.py'


def problem() -> str | None:
    """Why ``mmcv/_ext.py`` is not as it should be, or None."""
    path = shim_path()
    if not path.is_file():
        return f'{path} is missing'
    if path.read_text() != SHIM:
        return f'{path} is stale (not the module this checkout writes)'
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only check; exit 1 if not current')
    args = parser.parse_args(argv)
    reason = problem()
    if args.check:
        if reason:
            print(f'mmcv_lite_ext: {reason}')
        return 1 if reason else 0
    if reason:
        path = shim_path()
        partial = path.with_name('_ext.py.partial')
        partial.write_text(SHIM)
        partial.replace(path)  # atomic: an interrupted write never leaves half a module
        print(f'mmcv_lite_ext: wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
