"""Running a tool's ``main`` inside the test process: one interpreter for many bad inputs
(each subprocess would import torch and mmdet again, seconds apiece on a small machine)."""
import contextlib
import importlib.util
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_MODULES: dict = {}


def tool_module(tool: str):
    """The module of ``tools/...py``, imported once under a name of its own."""
    if tool not in _MODULES:
        name = 'tool_' + tool.replace('/', '_').removesuffix('.py')
        spec = importlib.util.spec_from_file_location(name, ROOT / tool)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[tool] = module
    return _MODULES[tool]


def call_tool(tool: str, *args) -> tuple[int, str]:
    """(exit code, stdout + stderr) of ``tool`` run with ``args``, as ``sys.exit(main())``
    would give them."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = tool_module(tool).main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code if isinstance(exc.code, int) else 1
    return int(code or 0), out.getvalue()
