"""torchvision's ``fasterrcnn_resnet50_fpn`` state dict -> classicdet's R50-FPN checkpoint.

The layers are the same network under other names (docs/pretrained.md):

==============================================  ==========================================
torchvision                                     classicdet (mmdet's names)
==============================================  ==========================================
``backbone.body.<conv1 | bn1 | layerN...>``     ``backbone.<same>``
``backbone.fpn.inner_blocks.<i>[.0]``           ``neck.lateral_convs.<i>.conv``
``backbone.fpn.layer_blocks.<i>[.0]``           ``neck.fpn_convs.<i>.conv``
``rpn.head.conv[.0.0]``                         ``rpn_head.rpn_conv``
``rpn.head.cls_logits`` / ``bbox_pred``         ``rpn_head.rpn_cls`` / ``rpn_reg``
``roi_heads.box_head.fc6`` / ``fc7``            ``roi_head.bbox_head.shared_fcs.0`` / ``.1``
``roi_heads.box_predictor.cls_score``           ``roi_head.bbox_head.fc_cls`` (rows moved)
``roi_heads.box_predictor.bbox_pred``           ``roi_head.bbox_head.fc_reg`` (rows moved)
==============================================  ==========================================

(``[.0]``: torchvision >= 0.13 wraps these convolutions in a ``Conv2dNormActivation``.)

Classes: torchvision's predictor has 91 slots, the background at 0 and slot ``i`` for COCO
category id ``i`` (ten ids are unused, "N/A"); mmdet's has the 80 categories in id order and
the background last. Row ``j`` of ``fc_cls`` is torchvision's row ``COCO_CATEGORY_IDS[j]``,
the background row torchvision's row 0, and ``fc_reg``'s four rows of class ``j`` are
torchvision's four rows of slot ``COCO_CATEGORY_IDS[j]``. The N/A slots are dropped, so
the class probabilities are a softmax over 81 logits where torchvision's is over 91: the
same wherever the N/A logits are negligible, as in a trained model, which never saw them.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import Tensor

from custom.core.safe_load import load_checkpoint_safely

# COCO 2017's 80 category ids, in the order of mmdet's CocoDataset classes.
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    81, 82, 84, 85, 86, 87, 88, 89, 90)
TORCHVISION_SLOTS = 91

_RENAMES = [
    (r'^backbone\.body\.', 'backbone.'),
    (r'^backbone\.fpn\.inner_blocks\.(\d+)\.(?:0\.)?', r'neck.lateral_convs.\1.conv.'),
    (r'^backbone\.fpn\.layer_blocks\.(\d+)\.(?:0\.)?', r'neck.fpn_convs.\1.conv.'),
    (r'^rpn\.head\.conv\.(?:0\.0\.)?', 'rpn_head.rpn_conv.'),
    (r'^rpn\.head\.cls_logits\.', 'rpn_head.rpn_cls.'),
    (r'^rpn\.head\.bbox_pred\.', 'rpn_head.rpn_reg.'),
    (r'^roi_heads\.box_head\.fc6\.', 'roi_head.bbox_head.shared_fcs.0.'),
    (r'^roi_heads\.box_head\.fc7\.', 'roi_head.bbox_head.shared_fcs.1.'),
    (r'^roi_heads\.box_predictor\.cls_score\.', 'roi_head.bbox_head.fc_cls.'),
    (r'^roi_heads\.box_predictor\.bbox_pred\.', 'roi_head.bbox_head.fc_reg.'),
]


def renamed(key: str) -> str | None:
    """classicdet's name of a torchvision key, or None if none fits."""
    for pattern, replacement in _RENAMES:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def convert_torchvision_faster_rcnn(state_dict: Mapping[str, Tensor]) -> OrderedDict:
    """classicdet's R50-FPN state dict from torchvision's ``fasterrcnn_resnet50_fpn`` one.

    Args:
        state_dict (Mapping[str, Tensor]): torchvision's keys (with 91 class slots).

    Returns:
        OrderedDict: mmdet's keys; frozen batch norms get their ``num_batches_tracked``.

    Raises:
        ValueError: Keys that are not a Faster R-CNN R50-FPN's, or another class count,
            named.
    """
    converted, unknown = OrderedDict(), []
    for key, value in state_dict.items():
        new = renamed(key)
        if new is None:
            unknown.append(key)
            continue
        converted[new] = value
    if unknown:
        raise ValueError(f'not torchvision Faster R-CNN keys: {", ".join(unknown[:8])}'
                         + (f' (+{len(unknown) - 8} more)' if len(unknown) > 8 else ''))
    cls_key, reg_key = 'roi_head.bbox_head.fc_cls', 'roi_head.bbox_head.fc_reg'
    if f'{cls_key}.weight' not in converted:
        raise ValueError('no roi_heads.box_predictor: not a Faster R-CNN state dict')
    slots = converted[f'{cls_key}.weight'].shape[0]
    if slots != TORCHVISION_SLOTS:
        raise ValueError(f'roi_heads.box_predictor.cls_score has {slots} classes; COCO\'s '
                         f'layout has {TORCHVISION_SLOTS} (a fine-tuned model of another '
                         'class count needs its own class list)')
    ids = torch.tensor(COCO_CATEGORY_IDS)
    rows = torch.cat([ids, torch.zeros(1, dtype=torch.long)])  # classes, then background
    for suffix in ('weight', 'bias'):
        converted[f'{cls_key}.{suffix}'] = converted[f'{cls_key}.{suffix}'][rows].clone()
        reg = converted[f'{reg_key}.{suffix}']
        converted[f'{reg_key}.{suffix}'] = reg.view(
            TORCHVISION_SLOTS, 4, *reg.shape[1:])[ids].reshape(-1, *reg.shape[1:]).clone()
    for key in list(converted):
        if key.endswith('.running_var'):
            counter = key[:-len('running_var')] + 'num_batches_tracked'
            converted.setdefault(counter, torch.tensor(0))
    return converted


def convert_torchvision_detector_checkpoint(src: str | os.PathLike,
                                            dst: str | os.PathLike) -> dict:
    """Convert the file ``src`` (torchvision's download, or any file in that layout) to a
    classicdet checkpoint ``dst`` in mmengine's layout, with COCO's class names.

    Returns:
        dict: ``num_tensors`` and ``num_params`` written.
    """
    from mmdet.datasets import CocoDataset
    loaded = load_checkpoint_safely(src)
    if isinstance(loaded, Mapping) and isinstance(loaded.get('state_dict'), Mapping):
        loaded = loaded['state_dict']
    state_dict = convert_torchvision_faster_rcnn(loaded)
    meta = dict(source=os.path.basename(os.fspath(src)),
                dataset_meta=dict(classes=CocoDataset.METAINFO['classes']),
                converted_from='torchvision fasterrcnn_resnet50_fpn')
    torch.save(dict(meta=meta, state_dict=state_dict), dst)
    return dict(num_tensors=len(state_dict),
                num_params=sum(v.numel() for k, v in state_dict.items()
                               if not k.endswith(('running_mean', 'running_var',
                                                  'num_batches_tracked'))))
