from .convnext import ARCH_SETTINGS, ConvNeXtBackbone, LayerNorm2d, resolve_arch

__all__ = ['ARCH_SETTINGS', 'ConvNeXtBackbone', 'LayerNorm2d', 'resolve_arch']
