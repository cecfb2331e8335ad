from .convnext import ConvNeXtBackbone
from .layers import LayerNorm2d
from .official import OfficialConvNeXt

__all__ = ['ConvNeXtBackbone', 'LayerNorm2d', 'OfficialConvNeXt']
