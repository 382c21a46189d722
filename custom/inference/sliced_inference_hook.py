"""Run the test loop with sliced inference when the config asks for it."""
from __future__ import annotations

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from .slicing import KeepDecodedImage, SlicedInferenceModel, SliceSettings


@HOOKS.register_module()
class SlicedInferenceHook(Hook):
    """Wrap the model in a :class:`SlicedInferenceModel` before testing when
    ``model.test_cfg`` has a ``slicing`` setting (``tools/test.py --slice-size`` sets one);
    otherwise nothing. The test dataset's pipeline then also hands the decoded image on
    (:class:`KeepDecodedImage`), so each image is decoded once.

    Runs after the checkpoint is loaded and after the other test-time hooks, and only for
    the test loop: validation during training stays unsliced.
    """

    priority = 'LOWEST'

    def before_test(self, runner) -> None:
        settings = SliceSettings.from_config(runner.cfg)
        if settings is None:
            return
        pipeline = runner.cfg.test_dataloader.dataset.pipeline
        dataset = runner.test_loop.dataloader.dataset
        if hasattr(dataset, 'pipeline') and not isinstance(dataset.pipeline, KeepDecodedImage):
            dataset.pipeline = KeepDecodedImage(dataset.pipeline)
        runner.model = SlicedInferenceModel(runner.model, pipeline, settings)
        print_log(f'SlicedInferenceHook: {settings.size[0]}x{settings.size[1]} tiles, '
                  f'overlap {settings.overlap}, full pass {settings.full_pass}, '
                  f'merge {settings.merge!r}', logger='current')
