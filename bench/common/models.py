"""The contenders' models from configs: classicdet's, stock mmdet's and the stock-parts twins."""
from __future__ import annotations

from pathlib import Path

import torch


def register_modules() -> None:
    """Import classicdet and mmdet's modules into their registries, as configs do."""
    from mmdet.utils import register_all_modules

    import custom  # noqa: F401
    register_all_modules(init_default_scope=True)


def mmdet_config_path(relative: str) -> Path:
    """Path of a config shipped inside the installed mmdet package (what ``mmdet::`` names)."""
    import mmdet
    path = Path(mmdet.__file__).parent / '.mim' / 'configs' / relative
    if not path.is_file():
        raise FileNotFoundError(f'{path}: not in the installed mmdet package')
    return path


def load_model_config(path: str | Path, num_classes: int | None = None):
    """A config's ``model`` dict without pre-trained weights (nothing is downloaded)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(path))
    model = cfg.model
    if model.get('backbone') is not None:
        model.backbone.init_cfg = None
    if num_classes is not None:
        model.roi_head.bbox_head.num_classes = num_classes
    return cfg


def stock_name(name: str) -> str:
    """The mmdet part a classicdet part stands in for: ``SyncFree<Name>`` -> ``<Name>``
    (``custom.models.sync_free``); IterativeBBoxRoIHead trains exactly as StandardRoIHead,
    only its test-time prediction differs. RoIAlign and NMS are mmcv's in both."""
    from custom.models.sync_free import mmdet_name
    return 'StandardRoIHead' if name == 'IterativeBBoxRoIHead' else mmdet_name(name)


def with_stock_parts(node):
    """A copy of a model config with classicdet's parts swapped for mmdet's own."""
    if isinstance(node, dict):
        return {key: (stock_name(value) if key == 'type' and isinstance(value, str)
                      else with_stock_parts(value))
                for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(with_stock_parts(value) for value in node)
    return node


def uses_channels_last(cfg) -> bool:
    """Whether the config trains channels-last (it lists classicdet's ChannelsLastHook)."""
    from custom.engine import lists_channels_last_hook
    return lists_channels_last_hook(cfg)


def without_channels_last_hook(cfg) -> list:
    """The config's ``custom_hooks`` without ChannelsLastHook (its model then runs NCHW)."""
    return [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') != 'ChannelsLastHook']


def build_mmdet_model(cfg, device: str, train: bool) -> torch.nn.Module:
    """The config's detector (:func:`custom.core.build_detector`, no checkpoint: the
    weights stay PyTorch's initialisation) on ``device``, in training or eval mode.
    Channels-last when the config lists ChannelsLastHook, as the runner would make it."""
    from custom.core.build_detector import build_detector
    from custom.engine import to_channels_last
    model = build_detector(cfg, None, device)
    if uses_channels_last(cfg):
        to_channels_last(model)
    return model.train(train)
