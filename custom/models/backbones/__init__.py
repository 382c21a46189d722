"""Classic backbones (VGG, LeNet-5, AlexNet, GoogLeNet) and torchvision weight conversion.

ResNet is MMDetection's own ``ResNet`` (``style='pytorch'`` is torchvision's layout); only its
weight conversion lives here.
"""
from .classic_alexnet import ClassicAlexNet
from .classic_googlenet import ClassicGoogLeNet
from .classic_lenet5 import ClassicLeNet5
from .classic_vgg import ClassicVGG
from .torchvision_keys import (
                               TORCHVISION_ARCHS,
                               ArchMismatchError,
                               backbone_cfg_for_arch,
                               convert_torchvision_state_dict,
)

__all__ = [
    'ClassicAlexNet', 'ClassicGoogLeNet', 'ClassicLeNet5', 'ClassicVGG', 'TORCHVISION_ARCHS',
    'ArchMismatchError', 'backbone_cfg_for_arch', 'convert_torchvision_state_dict'
]
