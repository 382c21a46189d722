"""RoI extractor that builds its RoI layer from ``custom.ops`` or ``mmcv.ops``."""
from typing import List

from mmcv import ops as mmcv_ops
from mmdet.models.roi_heads import SingleRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import nn

from custom import ops as custom_ops


@MODELS.register_module()
class PortableSingleRoIExtractor(SingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` that also finds RoI layers in ``custom.ops``.

    ``roi_layer=dict(type='PortableRoIAlign', output_size=7, sampling_ratio=0)`` gives a
    RoIAlign that runs on CUDA with a CPU-only mmcv and uses the fastest equal-result kernel
    on CPU; mmcv's names (``'RoIAlign'``, ``'RoIPool'``, ...) still work. Same arguments as
    ``SingleRoIExtractor``.
    """

    def build_roi_layers(self, layer_cfg: ConfigType,
                         featmap_strides: List[int]) -> nn.ModuleList:
        """Build one RoI layer per feature level, with ``spatial_scale = 1 / stride``.

        Args:
            layer_cfg (dict): ``type`` (a name in ``custom.ops``, else in ``mmcv.ops``, or a
                class) and the layer's other arguments.
            featmap_strides (list[int]): Stride of each input feature map.

        Returns:
            nn.ModuleList: The RoI layers, one per level.
        """
        cfg = dict(layer_cfg)
        layer_type = cfg.pop('type')
        if isinstance(layer_type, str):
            layer_cls = getattr(custom_ops, layer_type, None) or getattr(mmcv_ops, layer_type,
                                                                         None)
            if layer_cls is None:
                raise KeyError(f'PortableSingleRoIExtractor: roi_layer type {layer_type!r} is '
                               'in neither custom.ops nor mmcv.ops')
        else:
            layer_cls = layer_type
        return nn.ModuleList([layer_cls(spatial_scale=1 / s, **cfg) for s in featmap_strides])
