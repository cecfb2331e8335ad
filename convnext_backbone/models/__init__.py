from .convnext import ConvNeXtBackbone, LayerNorm2d
from .official import OfficialConvNeXt

__all__ = ['ConvNeXtBackbone', 'LayerNorm2d', 'OfficialConvNeXt']
