"""Training-run pieces for mmengine's runner: the layer-decay optimizer constructor, hooks,
the FSDP wrap policy and the allowlist that lets resume read mmengine's own checkpoints."""
from .fsdp import convnext_fsdp_wrap_policy
from .hooks import RankProgressHook
from .layer_decay import ConvNeXtLayerDecayOptimizerConstructor
from .resume_allowlist import allow_mmengine_checkpoints

__all__ = ['ConvNeXtLayerDecayOptimizerConstructor', 'RankProgressHook',
           'allow_mmengine_checkpoints', 'convnext_fsdp_wrap_policy']
