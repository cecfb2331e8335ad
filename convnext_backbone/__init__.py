"""ConvNeXt (V1/V2) backbone for OpenMMLab detection and segmentation: the library.

Importing this package (for example through ``custom_imports`` in a config):

- registers ``ConvNeXtBackbone`` in mmengine's ``MODELS``, which mmdet's and mmseg's
  registries search as their parent, and the layer-decay optimizer constructor and
  hooks in mmengine's registries;
- allowlists the classes in mmengine's own checkpoints for ``torch.load(weights_only=
  True)``, so ``resume=True`` works on torch >= 2.6 (see ``engine/resume_allowlist.py``).

It needs only torch and mmengine. Layout: ``archs`` (the size table, a leaf),
``models`` (the backbone; the official formulation for equivalence checks),
``checkpoint`` (reading and layouts; depends only on ``archs``), ``engine``
(optimizer constructor, hooks, resume allowlist). The command-line application lives
in the separate ``convnext_cli`` package.
"""
from .archs import ARCH_SETTINGS, describe_arch, resolve_arch
from .checkpoint import (
    EXPORT_LAYOUTS,
    LAYOUTS,
    CheckpointError,
    LoadReport,
    backbone_state_from_checkpoint,
    check_compatible,
    export_container,
    from_backbone_names,
    infer_arch,
    known_layouts,
    load_pretrained,
    read_checkpoint,
)
from .engine import (
    ConvNeXtLayerDecayOptimizerConstructor,
    RankProgressHook,
    allow_mmengine_checkpoints,
)
from .models import ConvNeXtBackbone, LayerNorm2d, OfficialConvNeXt

allow_mmengine_checkpoints()

__version__ = '0.1.0'
__all__ = ['ARCH_SETTINGS', 'EXPORT_LAYOUTS', 'LAYOUTS', 'CheckpointError', 'ConvNeXtBackbone',
           'ConvNeXtLayerDecayOptimizerConstructor', 'LayerNorm2d', 'LoadReport',
           'OfficialConvNeXt', 'RankProgressHook', 'backbone_state_from_checkpoint',
           'check_compatible', 'describe_arch', 'export_container', 'from_backbone_names',
           'infer_arch', 'known_layouts', 'load_pretrained', 'read_checkpoint', 'resolve_arch']
