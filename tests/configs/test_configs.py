"""Every shipped config loads, imports classicdet strictly, and builds its model."""
import re
from pathlib import Path

import pytest
from mmdet.registry import MODELS, TASK_UTILS
from mmengine.config import Config

from custom.models.sync_free import (
    SyncFreeDeltaXYWHBBoxCoder,
    SyncFreeMaxIoUAssigner,
    SyncFreeRandomSampler,
)

CONFIGS = sorted(str(p) for p in Path('configs').rglob('*.py') if '_base_' not in p.parts)


def test_configs_are_found():
    assert len(CONFIGS) >= 7, CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['custom'], allow_failed_imports=False), path
    model = MODELS.build(cfg.model)  # no init_weights: nothing is read or downloaded
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize('config', [
    'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'configs/faster_rcnn/faster-rcnn_vgg16_1x_coco.py',
    'configs/digits/faster-rcnn_r18_fpn_540it_digits.py',
])
def test_two_stage_configs_train_with_the_sync_reducing_parts(config):
    model_cfg = Config.fromfile(config).model
    for stage in ('rpn', 'rcnn'):
        assigner = TASK_UTILS.build(model_cfg.train_cfg[stage].assigner)
        sampler = TASK_UTILS.build(model_cfg.train_cfg[stage].sampler)
        assert type(assigner) is SyncFreeMaxIoUAssigner, (config, stage)
        assert type(sampler) is SyncFreeRandomSampler, (config, stage)
    model = MODELS.build(model_cfg)
    for head in (model.rpn_head, model.roi_head.bbox_head):
        assert type(head.bbox_coder) is SyncFreeDeltaXYWHBBoxCoder, (config, type(head))
    # the coder's constants are the config's: the RoI head's stds are mmdet's 0.1, 0.1, 0.2, 0.2
    assert list(model.roi_head.bbox_head.bbox_coder.stds) == [0.1, 0.1, 0.2, 0.2]


NAME = re.compile(
    r'^(?P<detector>[a-z-]+)_(?P<backbone>r\d+|vgg\d+)(_(?P<neck>fpn))?(_(?P<extra>[a-z-]+))?'
    r'(_(?P<schedule>\d+x|\d+it))?_(?P<dataset>(tv-)?(coco|digits)(-[a-z]+)?)\.py$')


@pytest.mark.parametrize('path', CONFIGS)
def test_config_names_follow_the_convention(path):
    """{detector}_{backbone}_{neck}_{schedule}_{dataset}, as mmdet names its configs; a
    config of converted weights names their source instead of a schedule (``tv-coco``:
    torchvision's COCO training)."""
    match = NAME.match(Path(path).name)
    assert match, path
    assert match['schedule'] or match['dataset'].startswith('tv-'), path


@pytest.mark.parametrize('path', CONFIGS)
def test_configs_state_deltas_not_the_shared_hooks(path):
    """The hooks every detector runs with live in _base_/default_runtime.py; a config adds
    to them, and never lists them again."""
    text = Path(path).read_text()
    assert "type='ChannelsLastHook'" not in text and "type='FiniteLossHook'" not in text, path
    hooks = [hook['type'] for hook in Config.fromfile(path).custom_hooks]
    assert hooks[:5] == ['ClassCountCheckHook', 'FiniteLossHook', 'RandomStateHook',
                         'ChannelsLastHook', 'FuseConvBNHook'], path
