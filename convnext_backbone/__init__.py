"""ConvNeXt (V1/V2) backbone for OpenMMLab detection and segmentation.

Importing this package registers ``ConvNeXtBackbone`` in mmengine's ``MODELS`` (found by
mmdet's and mmseg's registries through their parent). It needs only torch and mmengine.
"""
from .models import ARCH_SETTINGS, ConvNeXtBackbone, LayerNorm2d, resolve_arch

__version__ = '0.1.0'
__all__ = ['ARCH_SETTINGS', 'ConvNeXtBackbone', 'LayerNorm2d', 'resolve_arch']
