"""The one error type classicdet raises for input it cannot use.

A file, an option, a config key or a value the user gave is wrong: the message names it and
says what is wrong, in one line (``'data/x.png: truncated image data'``,
``'model.test_cfg.slicing.overlap: must be in [0, 1), got 1.5'``). The tools print that line
and exit 1 (``custom.apis.cli.exit_on_error``); the Python API lets it propagate.
"""
from __future__ import annotations

__all__ = ['InputError']


class InputError(Exception):
    """Input that cannot be used; ``str(err)`` is one line naming it and the problem.

    Args:
        message (str): ``'<file, option or key>: <problem>'``.
        key (str, optional): The setting the message names, in the library's own spelling
            (``'size'`` of the slicing settings, say), so that a caller can name it as its
            user knows it (``--slice-size``) with :meth:`renamed`. Defaults to None.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def renamed(self, name: str) -> 'InputError':
        """The same error with the setting called ``name`` (``--slice-size`` for the
        ``slicing.size`` a tool's flag sets); the message keeps its problem."""
        text = str(self)
        problem = text.split(': ', 1)[1] if ': ' in text else text
        return InputError(f'{name}: {problem}', key=self.key)
