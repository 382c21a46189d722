"""torchvision ImageNet classifiers' state_dicts -> classicdet backbone state_dicts.

The backbones are laid out so that torchvision's feature keys are already theirs:

===========================  ==================================  ==========================
torchvision arch             backbone                            dropped (classifier)
===========================  ==================================  ==========================
resnet18/34/50/101/152       mmdet ``ResNet(style='pytorch')``   ``fc.*``
vgg11/13/16/19 (and ``_bn``) ``ClassicVGG``                      ``classifier.*``
alexnet                      ``ClassicAlexNet``                  ``classifier.*``
googlenet                    ``ClassicGoogLeNet``                ``fc.*``, ``aux1.*``, ``aux2.*``
===========================  ==================================  ==========================

Converting therefore means: drop the classifier, check every other key and its shape against
the backbone built for ``arch``, add the BN ``num_batches_tracked`` counters that files saved
before torch 0.4.1 lack, and report whatever is left over. A state_dict of another arch leaves
backbone keys missing, of another shape, or unmapped, and is refused with a message that names
them and the arch the keys do fit, if any.
"""
from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import mmdet.models.backbones  # noqa: F401  registers mmdet's ResNet
import torch
from mmdet.registry import MODELS
from torch import Tensor

from custom.core.safe_load import load_checkpoint_safely

RESNET_DEPTHS = (18, 34, 50, 101, 152)
VGG_DEPTHS = (11, 13, 16, 19)

TORCHVISION_ARCHS: dict[str, dict] = {
    **{f'resnet{d}': dict(type='ResNet', depth=d, style='pytorch') for d in RESNET_DEPTHS},
    **{f'vgg{d}': dict(type='ClassicVGG', depth=d) for d in VGG_DEPTHS},
    **{f'vgg{d}_bn': dict(type='ClassicVGG', depth=d, with_bn=True) for d in VGG_DEPTHS},
    'alexnet': dict(type='ClassicAlexNet'),
    'googlenet': dict(type='ClassicGoogLeNet'),
}
"""Backbone config for each torchvision arch name the converter knows."""

_CLASSIFIER_PREFIXES = {
    'ResNet': ('fc.', ),
    'ClassicVGG': ('classifier.', ),
    'ClassicAlexNet': ('classifier.', ),
    'ClassicGoogLeNet': ('fc.', 'aux1.', 'aux2.'),
}
_BN_COUNTER = 'num_batches_tracked'
_SHOWN_KEYS = 8


class ArchMismatchError(ValueError):
    """A state_dict does not fit the backbone of the requested arch.

    Attributes:
        arch (str): the requested arch.
        missing (list[str]): backbone keys absent from the state_dict.
        wrong_shape (list[tuple[str, tuple, tuple]]): (key, expected shape, found shape).
        unmapped (list[str]): state_dict keys that are neither backbone nor classifier keys.
        fits (list[str]): archs whose backbone the state_dict does fit.
    """

    def __init__(self, arch: str, missing: list[str], wrong_shape: list[tuple[str, tuple, tuple]],
                 unmapped: list[str], fits: list[str]) -> None:
        self.arch, self.missing, self.wrong_shape = arch, missing, wrong_shape
        self.unmapped, self.fits = unmapped, fits
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f'state_dict does not fit arch {self.arch!r} ({_cfg_repr(self.arch)})']
        if self.missing:
            parts.append(f'{len(self.missing)} backbone keys missing: '
                         f'{_shorten(self.missing)}')
        if self.wrong_shape:
            shown = [f'{k} expects {tuple(e)}, got {tuple(g)}' for k, e, g in self.wrong_shape]
            parts.append(f'{len(shown)} keys of another shape: {_shorten(shown)}')
        if self.unmapped:
            parts.append(f'{len(self.unmapped)} keys unmapped: {_shorten(self.unmapped)}')
        if self.fits:
            parts.append(f'the keys fit arch {" / ".join(map(repr, self.fits))}')
        else:
            parts.append(f'the keys fit none of {", ".join(TORCHVISION_ARCHS)}')
        return '; '.join(parts)


def _shorten(items: list[str]) -> str:
    shown = ', '.join(items[:_SHOWN_KEYS])
    return shown + (f', ... ({len(items) - _SHOWN_KEYS} more)' if len(items) > _SHOWN_KEYS
                    else '')


def _cfg_repr(arch: str) -> str:
    cfg = dict(TORCHVISION_ARCHS[arch])
    name = cfg.pop('type')
    return f'{name}(' + ', '.join(f'{k}={v!r}' for k, v in cfg.items()) + ')'


def backbone_cfg_for_arch(arch: str) -> dict:
    """The backbone config (``dict(type=...)``) whose keys ``arch``'s weights fill.

    Raises:
        ValueError: ``arch`` is not a known torchvision arch name.
    """
    if arch not in TORCHVISION_ARCHS:
        raise ValueError(f'unknown arch {arch!r}; choose from {", ".join(TORCHVISION_ARCHS)}')
    return copy.deepcopy(TORCHVISION_ARCHS[arch])


@lru_cache(maxsize=None)
def backbone_key_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Every state_dict key of ``arch``'s backbone and its shape.

    The backbone is built on the meta device: no memory, no initialization.
    """
    cfg = backbone_cfg_for_arch(arch)
    with torch.device('meta'):
        backbone = MODELS.build(cfg)
    return {key: tuple(value.shape) for key, value in backbone.state_dict().items()}


def classifier_prefixes(arch: str) -> tuple[str, ...]:
    """Key prefixes of torchvision's classifier for ``arch``: dropped, not converted."""
    return _CLASSIFIER_PREFIXES[backbone_cfg_for_arch(arch)['type']]


def _split(state_dict: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]],
           dropped: tuple[str, ...]):
    """Split ``state_dict`` against the keys and shapes a backbone expects.

    Args:
        state_dict (Mapping[str, Tensor]): weights to load.
        expected (Mapping[str, tuple]): each backbone key and its shape.
        dropped (tuple[str]): key prefixes of the classifier, neither used nor reported.

    Returns:
        tuple: (matched {key: tensor}, missing keys (BN counters excepted), wrong-shape
        (key, expected shape, found shape) triples, unmapped keys), in ``expected``'s order.
    """
    matched, missing, wrong_shape = {}, [], []
    for key, shape in expected.items():
        if key not in state_dict:
            if not key.endswith(_BN_COUNTER):
                missing.append(key)
        elif tuple(state_dict[key].shape) != shape:
            wrong_shape.append((key, shape, tuple(state_dict[key].shape)))
        else:
            matched[key] = state_dict[key]
    unmapped = [key for key in state_dict
                if key not in expected and not key.startswith(dropped)]
    return matched, missing, wrong_shape, unmapped


def _match(state_dict: Mapping[str, Tensor], arch: str):
    """:func:`_split` against ``arch``'s backbone."""
    return _split(state_dict, backbone_key_shapes(arch), classifier_prefixes(arch))


def archs_fitting(state_dict: Mapping[str, Tensor]) -> list[str]:
    """Every known arch whose backbone ``state_dict`` fills exactly (nothing left over)."""
    fits = []
    for arch in TORCHVISION_ARCHS:
        _, missing, wrong_shape, unmapped = _match(state_dict, arch)
        if not (missing or wrong_shape or unmapped):
            fits.append(arch)
    return fits


def convert_torchvision_state_dict(state_dict: Mapping[str, Tensor],
                                   arch: str) -> tuple[OrderedDict[str, Tensor], list[str]]:
    """Convert a torchvision classifier's state_dict to the backbone of ``arch``.

    Args:
        state_dict (Mapping[str, Tensor]): e.g. ``torchvision.models.vgg16().state_dict()``.
        arch (str): torchvision's name, a key of :data:`TORCHVISION_ARCHS`.

    Returns:
        tuple: ``(new_state_dict, unmapped_keys)``. ``new_state_dict`` holds every key of the
        backbone (``strict=True`` loading works); ``unmapped_keys`` lists the keys of
        ``state_dict`` that are neither backbone nor classifier keys (empty for an untouched
        torchvision file).

    Raises:
        ValueError: unknown ``arch``, or values that are not tensors.
        ArchMismatchError: a backbone key is missing or has another shape (the state_dict is
            of another arch); the message names the keys and the arch they fit, if any.
    """
    backbone_cfg_for_arch(arch)  # unknown arch -> ValueError
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            raise ValueError(f'state_dict value of {key!r} is a {type(value).__name__}, '
                             'not a tensor: pass a state_dict, not a full checkpoint')
    matched, missing, wrong_shape, unmapped = _match(state_dict, arch)
    if missing or wrong_shape:
        raise ArchMismatchError(arch, missing, wrong_shape, unmapped, archs_fitting(state_dict))
    converted = OrderedDict()
    for key in backbone_key_shapes(arch):
        # Files saved before torch 0.4.1 have no BN counters; 0 is what BN starts from.
        converted[key] = matched.get(key, torch.tensor(0, dtype=torch.long))
    return converted, unmapped


@dataclass
class ConversionReport:
    """What :func:`convert_torchvision_checkpoint` wrote."""

    arch: str
    dst: str
    num_keys: int
    num_params: int
    dropped: list[str] = field(default_factory=list)


def extract_state_dict(checkpoint: object, source: str) -> Mapping[str, Tensor]:
    """The state_dict inside a loaded file: the file itself or its ``'state_dict'``."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get('state_dict'), Mapping):
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{source}: holds a {type(checkpoint).__name__}, not a state_dict')
    return checkpoint


def convert_torchvision_checkpoint(src: str | os.PathLike, dst: str | os.PathLike,
                                   arch: str) -> ConversionReport:
    """Convert the torchvision weights file ``src`` for ``arch`` and save it to ``dst``.

    ``src`` is read with the weights-only unpickler. ``dst`` holds
    ``{'state_dict': ..., 'meta': {...}}`` for ``init_cfg=dict(type='Pretrained',
    checkpoint=dst)``. Nothing is written unless every key is accounted for.

    Raises:
        ArchMismatchError: ``src`` is of another arch, or has keys that cannot be mapped.
        UnsafeCheckpointError / FileNotFoundError: ``src`` cannot be loaded safely.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    state_dict = extract_state_dict(load_checkpoint_safely(src), src)
    converted, unmapped = convert_torchvision_state_dict(state_dict, arch)
    if unmapped:
        raise ArchMismatchError(arch, [], [], unmapped, archs_fitting(state_dict))
    dropped = [key for key in state_dict if key.startswith(classifier_prefixes(arch))]
    torch.save(
        dict(state_dict=converted,
             meta=dict(arch=arch, source=os.path.basename(src),
                       backbone=backbone_cfg_for_arch(arch))), dst)
    num_params = sum(v.numel() for k, v in converted.items()
                     if not k.endswith(('running_mean', 'running_var', _BN_COUNTER)))
    return ConversionReport(arch, dst, len(converted), num_params, dropped)


def load_pretrained_checked(backbone: torch.nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint`` (a path, ``torchvision://NAME`` or another mmengine scheme) into
    ``backbone`` strictly, with the classifier's keys dropped and BN counters added.

    Raises:
        ValueError: Backbone keys missing from the file or of another shape, named.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    state_dict = dict(extract_state_dict(
        CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu'), checkpoint))
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    own = backbone.state_dict()
    matched, missing, wrong_shape, unmapped = _split(
        state_dict, {k: tuple(v.shape) for k, v in own.items()},
        _CLASSIFIER_PREFIXES.get(type(backbone).__name__, ()))
    if missing or wrong_shape:
        wrong = [f'{k} {found} vs {shape}' for k, shape, found in wrong_shape]
        parts = [f'{label}: {", ".join(keys[:_SHOWN_KEYS])}'
                 + (f' (+{len(keys) - _SHOWN_KEYS} more)' if len(keys) > _SHOWN_KEYS else '')
                 for label, keys in (('missing', missing), ('shape differs', wrong),
                                     ('not a backbone key', unmapped)) if keys]
        fitting = archs_fitting(state_dict)
        hint = f' (the keys fit {", ".join(fitting)})' if fitting else ''
        raise ValueError(f'{checkpoint}: not weights for this {type(backbone).__name__}'
                         f'{hint}; ' + '; '.join(parts))
    # Files saved before torch 0.4.1 have no BN counters; 0 is what BN starts from.
    backbone.load_state_dict({k: matched.get(k, torch.zeros_like(v)) for k, v in own.items()},
                             strict=True)
