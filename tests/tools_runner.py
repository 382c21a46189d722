"""Running a tool as a user does: a subprocess of this interpreter."""
import subprocess
import sys


def run_tool(*args, check=True, timeout=600):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}')
    return proc
