"""What every classicdet tool shares: one-line errors instead of tracebacks."""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable

from custom.core.errors import InputError

# The library's error type under the name the tools knew it by first.
CLIError = InputError

__all__ = ['CLIError', 'InputError', 'exit_on_error', 'describe_error']


def exit_on_error(main: Callable[[list[str] | None], int | None]) -> Callable:
    """Wrap a tool's ``main`` so that expected failures print one line and exit non-zero.

    ``--debug`` anywhere on the command line (or CLASSICDET_DEBUG=1) shows the traceback.
    """

    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        debug = '--debug' in argv or os.environ.get('CLASSICDET_DEBUG') == '1'
        try:
            return int(main(argv) or 0)
        except KeyboardInterrupt:
            print('interrupted', file=sys.stderr)
            return 130
        except Exception as err:  # noqa: BLE001 - the point is one line for any failure
            if debug:
                raise
            print(f'error: {describe_error(err)}', file=sys.stderr)
            print('(run with --debug for the traceback)', file=sys.stderr)
            return 1

    return wrapped


def describe_error(err: BaseException) -> str:
    """One line that names the file or key and the problem."""
    if isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    else:
        text = str(err) or type(err).__name__
    text = ' '.join(text.split())
    if 'is not in the' in text and 'registry' in text:
        text = f'unknown module type: {text}'
    return text
