"""ConvNeXt (V1/V2) backbone for OpenMMLab detection and segmentation.

Importing this package (for example through ``custom_imports`` in a config):

- registers ``ConvNeXtBackbone`` in mmengine's ``MODELS``, which mmdet's and mmseg's
  registries search as their parent;
- allowlists the classes in mmengine's own checkpoints for ``torch.load(weights_only=
  True)``, so ``resume=True`` works on torch >= 2.6 (see ``checkpoint/safe_globals.py``).

It needs only torch and mmengine.
"""
from .checkpoint import CheckpointError, load_pretrained
from .checkpoint.safe_globals import allow_mmengine_checkpoints
from .models import ARCH_SETTINGS, ConvNeXtBackbone, LayerNorm2d, resolve_arch
from .optim import ConvNeXtLayerDecayOptimizerConstructor
from .hooks import RankProgressHook

allow_mmengine_checkpoints()

__version__ = '0.1.0'
__all__ = ['ARCH_SETTINGS', 'CheckpointError', 'ConvNeXtBackbone',
           'ConvNeXtLayerDecayOptimizerConstructor', 'LayerNorm2d',
           'RankProgressHook', 'load_pretrained', 'resolve_arch']
