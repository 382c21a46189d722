"""The error every classicdet tool turns into one line (see ``custom.apis.cli``)."""


class CLIError(Exception):
    """A user-facing error: printed as one line naming the file or option, exit code 1."""
