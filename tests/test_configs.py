"""Every shipped config loads, imports classicdet strictly, and builds its model."""
from pathlib import Path

import pytest
from mmdet.registry import MODELS
from mmengine.config import Config

CONFIGS = sorted(str(p) for p in Path('configs').rglob('*.py') if '_base_' not in p.parts)


def test_configs_are_found():
    assert len(CONFIGS) >= 7, CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['custom'], allow_failed_imports=False), path
    model = MODELS.build(cfg.model)  # no init_weights: nothing is read or downloaded
    assert sum(p.numel() for p in model.parameters()) > 0
