"""Checkpoint handling: safe reading, every published layout, conversion, resume."""
from .io import CheckpointError, read_checkpoint
from .loader import LoadReport, backbone_state_from_checkpoint, load_pretrained

__all__ = ['CheckpointError', 'LoadReport', 'backbone_state_from_checkpoint',
           'load_pretrained', 'read_checkpoint']
