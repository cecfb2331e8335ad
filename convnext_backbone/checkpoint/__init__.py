"""Checkpoint handling: safe reading and every published layout, mapped to the backbone."""
from .io import CheckpointError, download, read_checkpoint
from .layouts import (
    EXPORT_LAYOUTS,
    LAYOUTS,
    export_container,
    from_backbone_names,
    infer_arch,
    known_layouts,
)
from .loader import (
    PRETRAINED_KEYS,
    LoadReport,
    backbone_state_from_checkpoint,
    check_compatible,
    load_pretrained,
)

__all__ = ['PRETRAINED_KEYS', 'CheckpointError', 'LoadReport', 'backbone_state_from_checkpoint',
           'check_compatible', 'download', 'EXPORT_LAYOUTS', 'LAYOUTS', 'export_container',
           'from_backbone_names', 'infer_arch', 'known_layouts',
           'load_pretrained', 'read_checkpoint']
