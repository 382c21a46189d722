"""tools/setup_env.sh, run in seconds with a stand-in Python that records every call.

The first-time set-up path runs only on a machine without the venv, so it once broke unseen:
a relative ``VENV`` used after a ``cd``. Here the script runs from a folder other than the
checkout, with a relative ``VENV``; the stand-in interpreter is only found where the script
says it is, so a call through a path that no longer points at it fails the run.
"""
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

STAND_IN = r'''#!/usr/bin/env bash
# A stand-in for python: records the call, creates venvs, passes pip installs.
printf '%s\t%s\t%s\n' "$PWD" "$0" "$*" >> "$CALLS"
case "$1 $2" in
  "-m venv") mkdir -p "$3/bin" && cp "$0" "$3/bin/python" ;;
  "-m pip") ;;
  "-m mmcv_lite_ext.install")
    if [[ ${3:-} == --check ]]; then [[ -f $EXT_MARK ]] || { echo "missing"; exit 1; }
    else touch "$EXT_MARK"; fi ;;
  "- ") cat > /dev/null; echo "ok: stand-in" ;;
  *) echo "unexpected call: $*" >&2; exit 3 ;;
esac
'''


@pytest.fixture
def setup_run(tmp_path, repo_root):
    """Run the set-up script from a fresh folder with a relative VENV; returns a runner."""
    stand_in = tmp_path / 'python3.11'
    stand_in.write_text(STAND_IN)
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    caller = tmp_path / 'elsewhere'
    caller.mkdir()
    env = dict(os.environ, PYTHON=str(stand_in), VENV='rel-venv', HOME=str(tmp_path / 'home'),
               CALLS=str(tmp_path / 'calls.tsv'), EXT_MARK=str(tmp_path / 'ext-written'))

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(['bash', str(repo_root / 'tools' / 'setup_env.sh')], cwd=caller,
                              env=env, capture_output=True, text=True, timeout=60)

    run.calls = lambda: [line.split('\t') for line in
                         (tmp_path / 'calls.tsv').read_text().splitlines()]
    run.venv = caller / 'rel-venv'
    run.ext_mark = tmp_path / 'ext-written'
    return run


def test_first_time_setup_runs_from_any_folder_with_a_relative_venv(setup_run):
    result = setup_run()
    assert result.returncode == 0, result.stderr
    assert 'environment ready' in result.stdout
    venv = setup_run.venv
    assert (venv / 'bin' / 'python').is_file() and (venv / '.classicdet-setup').is_file()
    calls = setup_run.calls()
    # Every call after the venv exists goes through its python by absolute path, wherever
    # the step runs (some steps run from /).
    assert all(Path(exe) == venv / 'bin' / 'python' for _, exe, _ in calls[1:])
    assert {cwd for cwd, _, _ in calls} > {'/'}
    pip_installs = [args for _, _, args in calls if args.startswith('-m pip install')]
    assert len(pip_installs) == 2
    # Packages from wheels only (a missing wheel is an error, never a compile) ...
    assert '--only-binary=:all:' in pip_installs[0] and '-r ' in pip_installs[0]
    # ... and the checkout itself, editable, without fetching build tools.
    assert re.search(r'--no-deps --no-build-isolation -e /\S+$', pip_installs[1])


def test_second_run_does_nothing_and_a_removed_module_is_repaired(setup_run):
    assert setup_run().returncode == 0
    first = len(setup_run.calls())
    result = setup_run()
    assert result.returncode == 0 and 'environment up to date' in result.stdout
    assert [args for _, _, args in setup_run.calls()[first:]] == [
        '-m mmcv_lite_ext.install --check']
    # e.g. mmcv's folder replaced by hand: the next set-up notices and writes it again
    setup_run.ext_mark.unlink()
    result = setup_run()
    assert result.returncode == 0 and 'repairing' in result.stdout
    assert setup_run.ext_mark.is_file()


def test_makefile_and_demo_use_absolute_venv_paths(repo_root):
    makefile = (repo_root / 'Makefile').read_text()
    assert re.search(r'^VENV \?= \$\(CURDIR\)/\.venv$', makefile, re.M)
    demo = (repo_root / 'tools' / 'demo.sh').read_text()
    assert demo.index('PY=$PWD/$PY') < demo.index('cd "$ROOT"')
