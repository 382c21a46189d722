"""Run the test loop with sliced inference when the config asks for it."""
from __future__ import annotations

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from .sliced_inference import SlicedDetector, SliceSettings


@HOOKS.register_module()
class SlicedInferenceHook(Hook):
    """Wrap the model in a :class:`SlicedDetector` before testing when ``model.test_cfg``
    has a ``slicing`` setting (``tools/test.py --slice-size`` sets one); otherwise nothing.

    Runs after the checkpoint is loaded and after the other test-time hooks, and only for
    the test loop: validation during training stays unsliced.
    """

    priority = 'LOWEST'

    def before_test(self, runner) -> None:
        settings = SliceSettings.from_config(runner.cfg)
        if settings is None:
            return
        pipeline = runner.cfg.test_dataloader.dataset.pipeline
        runner.model = SlicedDetector(runner.model, pipeline, settings)
        print_log(f'SlicedInferenceHook: {settings.size[0]}x{settings.size[1]} tiles, '
                  f'overlap {settings.overlap}, full pass {settings.full_pass}, '
                  f'merge {settings.merge!r}', logger='current')
