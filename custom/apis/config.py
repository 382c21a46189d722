"""Loading configs for the tools: checked paths, checked overrides, device choice."""
from __future__ import annotations

import os
import os.path as osp
from typing import Any

import torch
from mmengine.config import Config, ConfigDict
from mmengine.config import DictAction as _MMEngineDictAction
from mmengine.utils import import_modules_from_strings

from custom.core.errors import InputError

__all__ = ['DictAction', 'load_config', 'check_override_keys', 'resolve_device',
           'ensure_writable_dir']


class DictAction(_MMEngineDictAction):
    """mmengine's ``--cfg-options`` parser, refusing an item without ``KEY=VALUE`` in one
    line (mmengine's fails with "not enough values to unpack")."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values if isinstance(values, (list, tuple)) else [values]:
            if '=' not in item or item.startswith('='):
                raise InputError(f'{option_string or "--cfg-options"} {item!r}: expected '
                               'KEY=VALUE (e.g. train_cfg.max_iters=100)')
        return super().__call__(parser, namespace, values, option_string)


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    """Read ``path`` and apply ``--cfg-options`` overrides whose keys must already exist.

    Raises:
        InputError: the file is missing, does not parse, or an override names an unknown key.
    """
    if not osp.isfile(path):
        raise InputError(f'{path}: config file not found')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:
        raise InputError(f'{path}: cannot read config: {" ".join(str(err).split())}') from err
    if cfg_options:
        check_override_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
        if any(key.split('.')[0] == 'custom_imports' for key in cfg_options):
            # Config.fromfile imported the file's own list; import the overridden one too.
            import_modules_from_strings(**cfg.custom_imports)
    return cfg


def check_override_keys(cfg: Config, options: dict[str, Any]) -> None:
    """Refuse a ``--cfg-options`` key that does not exist (a typo would be silently added).

    A new last key is accepted inside a module's dict (one with a ``type``): it is a
    constructor argument, and a wrong one fails when the module is built.
    """
    for key in options:
        node: Any = cfg
        parts = key.split('.')
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, (dict, ConfigDict, Config)) and part in node:
                node = node[part]
            elif (depth == len(parts) - 1 and isinstance(node, (dict, ConfigDict))
                  and 'type' in node):
                break
            else:
                where = '.'.join(parts[:depth]) or 'the top level'
                raise InputError(f'--cfg-options: unknown key {key!r} (no {part!r} under {where})')


def resolve_device(device: str | None) -> str:
    """'cuda' when present and not refused, else 'cpu'; asking for CUDA without one fails."""
    if device is None or device == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    kind, _, index = device.partition(':')
    if kind not in ('cpu', 'cuda') or (index and not index.isdigit()) or (kind == 'cpu' and index):
        raise InputError(f'--device {device}: must be cpu, cuda or cuda:N')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise InputError(f'--device {device}: CUDA was asked for but no CUDA device is available')
    return device


def ensure_writable_dir(path: str) -> str:
    """Create ``path`` if needed and check that files can be written there."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = osp.join(path, '.classicdet-write-test')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as err:
        raise InputError(f'{path}: output folder cannot be written ({err.strerror})') from err
    return path
