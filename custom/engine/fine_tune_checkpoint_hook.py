"""Start training from another model's checkpoint: keep what fits, re-initialise the rest."""
from __future__ import annotations

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from custom.core.errors import InputError

# Below this share of the model's weights, a checkpoint is not a starting point for it.
MIN_SHARED = 0.5


def fit_state_dict(model: nn.Module, state_dict: dict,
                   source: str = 'checkpoint') -> tuple[dict, list[str]]:
    """The part of ``state_dict`` that fits ``model``, and what the rest means.

    Args:
        model (nn.Module): The model to load into.
        state_dict (dict): The checkpoint's weights.
        source (str): The checkpoint's name, for the error. Defaults to 'checkpoint'.

    Returns:
        tuple: the weights whose names and shapes match the model's, and one description per
        layer left at its initialisation because the shapes differ, e.g.
        ``roi_head.bbox_head.fc_cls: 80 -> 2 classes, re-initialised``.

    Raises:
        InputError: Less than half the model's weights (by element count) are in the file
            with their shapes: a classifier's file, or another architecture.
    """
    own = model.state_dict()
    fitting = {k: v for k, v in state_dict.items()
               if k in own and tuple(v.shape) == tuple(own[k].shape)}
    total = sum(v.numel() for v in own.values())
    shared = sum(own[k].numel() for k in fitting)
    if total == 0 or shared / total < MIN_SHARED:
        raise InputError(
            f'{source}: shares {100 * shared / max(total, 1):.0f}% of the model\'s weights '
            f'({len(fitting)} of {len(own)} tensors): a classifier\'s file or another '
            'architecture, not a detector to fine-tune (a backbone\'s weights go in the '
            "backbone's init_cfg)")
    changed = {}
    for key, value in state_dict.items():
        if key in own and tuple(value.shape) != tuple(own[key].shape):
            layer = key.rsplit('.', 1)[0]
            changed.setdefault(layer, (tuple(value.shape), tuple(own[key].shape)))
    return fitting, [describe_change(layer, *shapes) for layer, shapes in changed.items()]


def describe_change(layer: str, old: tuple, new: tuple) -> str:
    """One layer left at its initialisation: the class count for a box head's classifier
    and regressor, the shapes otherwise."""
    if layer.endswith('fc_cls'):
        return f'{layer}: {old[0] - 1} -> {new[0] - 1} classes, re-initialised'
    if layer.endswith('fc_reg') and old[0] % 4 == 0 and new[0] % 4 == 0:
        return f'{layer}: {old[0] // 4} -> {new[0] // 4} classes, re-initialised'
    return f'{layer}: {old} -> {new}, re-initialised'


@HOOKS.register_module()
class FineTuneCheckpointHook(Hook):
    """When a run starts from a checkpoint (``load_from``, ``tools/train.py --load-from``),
    load what fits the model and leave the rest at its initialisation, saying which layers.

    mmengine's runner loads ``load_from`` non-strictly and warns about every mismatched key;
    with another class count the box head's classifier and regressor cannot load. This hook
    keeps the weights whose names and shapes match, prints one line naming the layers it
    re-initialises, and refuses a file that shares less than half of the model's weights.
    Resuming (``--resume``) is left to mmengine.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source = str(runner._load_from)
        # An mmengine checkpoint holds its weights under 'state_dict'; a bare state dict
        # (a classifier's file, say) is the weights itself, as mmengine reads it.
        bare = not isinstance(checkpoint.get('state_dict'), dict)
        fitting, changed = fit_state_dict(
            model, checkpoint if bare else checkpoint['state_dict'], source)
        if bare:
            checkpoint.clear()
            checkpoint.update(fitting)
        else:
            checkpoint['state_dict'] = fitting
        own = model.state_dict()
        print_log(f'load_from {source}: {len(fitting)} of {len(own)} weight tensors loaded'
                  + (f'; {"; ".join(changed)}' if changed else ''), logger='current')
