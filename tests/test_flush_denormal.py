"""FlushDenormalHook: denormal floats read as zero while a run runs, and only then."""
import logging

import pytest
import torch

from custom.engine import FlushDenormalHook


class _Runner:
    logger = logging.getLogger('flush-denormal-test')


def test_flush_denormal_hook_flushes_during_the_run_only():
    tiny = torch.tensor([1e-39])  # a float32 denormal
    assert (tiny * 2).item() != 0
    hook = FlushDenormalHook()
    hook.before_run(_Runner())
    try:
        assert (tiny * 2).item() == 0
        assert (torch.tensor([1e-30]) * 2).item() == pytest.approx(2e-30)  # normals untouched
    finally:
        hook.after_run(_Runner())
    assert (tiny * 2).item() != 0
