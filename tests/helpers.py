"""What several test files share: running a tool as a user does, and trained-looking batch
norms for models with random weights."""
import subprocess
import sys

import torch


def run_tool(*args, check=True, timeout=600):
    """Run a tool as a subprocess of this interpreter; fail with its output unless it
    exits 0 (``check=False`` returns whatever it did)."""
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}')
    return proc


def with_trained_looking_norms(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Batch-norm statistics and affine terms away from their identity defaults, in place."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=g) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=g) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=g) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=g) * 0.1)
    return model


def load_analysis_tool(name: str):
    """A tools/analysis_tools script as a module, so its ``main(argv)`` runs in-process."""
    from in_process import tool_module
    return tool_module(f'tools/analysis_tools/{name}.py')


def run_analysis_tool(tool: str, argv: list) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``tools/analysis_tools/<tool>.py``'s ``main(argv)``."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = load_analysis_tool(tool).main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def make_digits(root, *, train: int, val: int, img_size: int, min_size: int, max_size: int,
                seed: int, max_digits: int = 2):
    """A small digits detection set in ``root`` (what ``digits2coco.py`` writes, made in this
    process: a tool subprocess would import torch and mmdet again)."""
    from custom.datasets import generate_digits_dataset
    generate_digits_dataset(root, num_train=train, num_val=val, img_size=img_size,
                            min_size=min_size, max_size=max_size, max_digits=max_digits,
                            seed=seed, workers=1, progress=False)
    return root
