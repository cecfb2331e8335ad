"""FSDP for ConvNeXt detectors and segmentors: the auto-wrap policy an mmengine
``FSDPStrategy`` config names, and the parameter names and shapes FSDP hides.

In a config (``configs/_base_/fsdp.py`` writes this once)::

    runner_type = 'FlexibleRunner'
    strategy = dict(type='ResumableFSDPStrategy', state_dict_cfg='full',
                    model_wrapper=dict(auto_wrap_policy=dict(
                        type='convnext_fsdp_wrap_policy', unit='block')))

mmdet's ``projects/example_largemodel`` shows the same path with a policy written for
Swin's block class; this one knows ConvNeXt's blocks and stages.
"""
from typing import Dict

import torch
from mmengine._strategy import FSDPStrategy
from mmengine.registry import FUNCTIONS, STRATEGIES
from torch import nn

from ..models.convnext import ConvNeXtBlock

#: The FSDP units the policy can make: one per residual block (the default) or one per
#: stage (fewer, larger all-gathers; the whole stage's weights are unsharded at once).
WRAP_UNITS = ('block', 'stage')

#: What FSDP and activation-checkpoint wrappers insert into parameter names.
_WRAPPER_PREFIXES = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')


@FUNCTIONS.register_module()
def convnext_fsdp_wrap_policy(module: nn.Module, recurse: bool, nonwrapped_numel: int,
                              unit: str = 'block') -> bool:
    """FSDP ``auto_wrap_policy``: a unit for every ConvNeXt block (``unit='block'``) or
    every stage (``'stage'``); stem, downsampling layers, output norms and the detector's
    or segmentor's heads stay in the root unit.

    Per block, at most one block's weights are whole at a time (ConvNeXt-XXL's widest
    block: 75.7 M parameters, its widest stage 569 M: benchmarks/fsdp_units.py), which is
    what lets a model that does not fit on one GPU train; per stage makes 4 units instead
    of ``sum(depths)`` (fewer all-gathers: 14% faster steps on 2 CPU processes there).
    """
    if unit not in WRAP_UNITS:
        raise ValueError(f'convnext_fsdp_wrap_policy: unit must be one of {WRAP_UNITS}, '
                         f'got {unit!r}.')
    if recurse:
        return True  # look inside every module: blocks sit in backbone.stages[i]
    if unit == 'block':
        return isinstance(module, ConvNeXtBlock)
    children = list(module.children())
    return isinstance(module, nn.Sequential) and bool(children) and all(
        isinstance(child, ConvNeXtBlock) for child in children)


def clean_name(name: str) -> str:
    """A parameter's name as in the unwrapped model (``backbone.stages.2.0.pwconv1.weight``),
    without the prefixes FSDP and checkpoint wrappers insert."""
    for prefix in _WRAPPER_PREFIXES:
        name = name.replace(prefix, '')
    return name


def original_shapes(model: nn.Module) -> Dict[str, torch.Size]:
    """Each FSDP-managed parameter's shape before sharding, by :func:`clean_name`.

    Under ``use_orig_params=True`` a parameter outside this rank's shard is an empty
    tensor (shape ``(0,)``), so rules that look at ``param.ndim`` (no weight decay on 1-D
    parameters) would give each rank different parameter groups. FSDP records the
    original shapes on its flat parameters; empty for a model without FSDP.
    """
    from torch.distributed.fsdp import FullyShardedDataParallel
    shapes: Dict[str, torch.Size] = {}
    for prefix, module in model.named_modules():
        if not isinstance(module, FullyShardedDataParallel) or module._flat_param is None:
            continue
        flat = module._flat_param
        for fqn, shape in zip(flat._fqns, flat._shapes):
            shapes[clean_name(f'{prefix}.{fqn}' if prefix else fqn)] = shape
    return shapes


@STRATEGIES.register_module()
class ResumableFSDPStrategy(FSDPStrategy):
    """mmengine's ``FSDPStrategy`` with resume working on torch >= 2.1.

    mmengine 0.10.7 calls ``FSDP.optim_state_dict_to_load(state_dict, model, optimizer)``,
    torch 2.0's argument order; torch 2.1 made it ``(model, optimizer, state_dict)``
    (pytorch/pytorch#105727), so ``--resume`` fails with "unhashable type: 'dict'".
    Everything else is mmengine's.
    """

    def load_optim_state_dict(self, state_dict: dict) -> None:
        from torch.distributed.fsdp import FullyShardedDataParallel
        optimizer = self.optim_wrapper.optimizer
        self.optim_wrapper.load_state_dict(FullyShardedDataParallel.optim_state_dict_to_load(
            self.model, optimizer, state_dict))
