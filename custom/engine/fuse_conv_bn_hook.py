"""Fold batch norms into their convolutions for testing."""
from __future__ import annotations

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from custom.core.model_preparation import fold_batch_norms


@HOOKS.register_module()
class FuseConvBNHook(Hook):
    """Fold batch norms into convolutions before testing (``runner.test()``, tools/test.py).

    Runs after the checkpoint is loaded and only for the test loop: validation during
    training keeps the trainable layers. 53 batch norms in R50-FPN, 8% of its CPU inference
    time.
    """

    priority = 'LOW'

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        folded = fold_batch_norms(model)
        print_log(f'FuseConvBNHook: folded {folded} batch norms into their convolutions',
                  logger='current')
