"""Layer-wise / stage-wise learning-rate decay for any ConvNeXt, from its real depths.

mmdet's and mmseg's ``LearningRateDecayOptimizerConstructor`` hard-code the ConvNeXt-T/S
block grouping (stage 3 split as ``block_id // 3``), which breaks for V2 sizes and custom
depths, and they require 'ConvNeXt' in the backbone's class name. This constructor gives
the same groups for T (6 layers) and S/B/L/XL (12 layers) and generalises to any depths.

Layer ids (``layer_wise``), with ``num_layers`` = L:
    stem (downsample_layers.0) 0, stage 0 -> 1, downsample 1 and stage 1 -> 2,
    downsample 2 -> 3, block j of stage 2 (depth d) -> 3 + floor(j * (L - 3) / d),
    downsample 3 and stage 3 -> L, everything else (output norms, neck, heads) -> L + 1.
Stage ids (``stage_wise``): downsampling layers 0, stage i -> i + 1, everything else L + 1.
A parameter with id ``k`` gets ``lr = base_lr * decay_rate ** (L + 1 - k)``.

Without ``num_layers`` it is inferred as ``3 + ceil(d / 3)`` (6 for T, 12 for S/B/L/XL).
Norm weights, biases, layer scales (``gamma``) and GRN parameters get no weight decay.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

from .fsdp import clean_name, original_shapes

DECAY_TYPES = ('layer_wise', 'stage_wise')


def infer_num_layers(depths: List[int]) -> int:
    """The official grouping: three blocks of stage 2 per layer, plus 3."""
    return 3 + math.ceil(depths[2] / 3)


def layer_id(name: str, depths: List[int], num_layers: int) -> int:
    """Layer id of a parameter named relative to the detector (``backbone.*``)."""
    parts = name.split('.')
    if parts[0] != 'backbone' or len(parts) < 3:
        return num_layers + 1
    if parts[1] == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3}.get(int(parts[2]), num_layers)
    if parts[1] == 'stages':
        stage, block = int(parts[2]), int(parts[3])
        if stage < 2:
            return stage + 1
        if stage == 2:
            return 3 + block * (num_layers - 3) // depths[2]
        return num_layers
    return num_layers + 1


def stage_id(name: str, num_layers: int) -> int:
    """Stage id of a parameter named relative to the detector (``backbone.*``)."""
    parts = name.split('.')
    if parts[0] == 'backbone' and len(parts) > 2:
        if parts[1] == 'downsample_layers':
            return 0
        if parts[1] == 'stages':
            return int(parts[2]) + 1
    return num_layers + 1


def no_weight_decay(name: str, shape: Sequence[int]) -> bool:
    """Norms (1-D), biases, layer scales and GRN parameters are not decayed."""
    return len(shape) == 1 or name.endswith('.bias') or '.grn.' in name or \
        name.endswith('.gamma')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ConvNeXtLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Optimizer-wrapper constructor with layer-wise lr decay for ``ConvNeXtBackbone``.

    ``paramwise_cfg`` keys:
        decay_rate (float): lr multiplier per layer (e.g. 0.95 Mask R-CNN, 0.7 Cascade).
        decay_type (str): ``'layer_wise'`` (detection) or ``'stage_wise'`` (UperNet).
        num_layers (int, optional): number of layers; inferred from the depths if omitted.
        custom_keys (dict, optional): mmengine's ``{name substring: dict(lr_mult=...,
            decay_mult=...)}``, applied on top of the layer decay (the longest matching
            key wins, as in mmengine).

    Without ``paramwise_cfg`` the documented defaults apply (``decay_rate=1.0``, that is no
    lr decay, ``layer_wise``) and norms, biases, ``gamma`` and GRN still get no weight
    decay: mmengine's base class would otherwise skip :meth:`add_params` altogether.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - {'decay_rate', 'decay_type', 'num_layers',
                                        'custom_keys'}
        if unknown:
            raise ValueError(f'ConvNeXtLayerDecayOptimizerConstructor: unknown paramwise_cfg '
                             f'keys {sorted(unknown)}; allowed: decay_rate, decay_type, '
                             f'num_layers, custom_keys.')
        custom_keys = dict(paramwise_cfg.get('custom_keys') or {})
        for key, value in custom_keys.items():
            if not isinstance(value, dict) or set(value) - {'lr_mult', 'decay_mult'}:
                raise ValueError(f'custom_keys[{key!r}] must be a dict with lr_mult and/or '
                                 f'decay_mult, got {value!r}.')
        decay_type = paramwise_cfg.get('decay_type', 'layer_wise')
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'decay_type must be one of {DECAY_TYPES}, got {decay_type!r}.')
        decay_rate = paramwise_cfg.get('decay_rate', 1.0)
        if not 0 < decay_rate <= 1:
            raise ValueError(f'decay_rate must be in (0, 1], got {decay_rate}.')
        num_layers = paramwise_cfg.get('num_layers')
        if num_layers is not None and (not isinstance(num_layers, int) or num_layers < 4):
            raise ValueError(f'num_layers must be an int >= 4 (stem, stages 0-1, at least '
                             f'one group of stage 2, stage 3), got {num_layers!r}.')
        # Never empty: an empty paramwise_cfg makes mmengine skip add_params silently.
        paramwise_cfg.update(decay_type=decay_type, decay_rate=decay_rate)
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.decay_type, self.decay_rate, self.num_layers = decay_type, decay_rate, num_layers
        self.custom_keys = custom_keys
        self._original_shapes: Optional[Dict] = None
        # mmengine's order: alphabetical, then the longest key first.
        self.sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)

    def __call__(self, model: nn.Module):
        # The shapes FSDP records sit on the wrappers, including the root one that
        # mmengine's base class unwraps (``model.module``) before add_params sees it.
        self._original_shapes = original_shapes(model)
        return super().__call__(model)

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        backbone = getattr(module, 'backbone', None)
        depths = getattr(backbone, 'depths', None)
        if depths is None or len(depths) != 4:
            raise TypeError(f'ConvNeXtLayerDecayOptimizerConstructor needs a model with a '
                            f'ConvNeXt backbone at model.backbone (with .depths); got '
                            f'{type(backbone).__name__}.')
        num_layers = self.num_layers or infer_num_layers(depths)
        groups: Dict[str, dict] = {}
        # Under FSDP: names without the wrappers' prefixes, shapes from before sharding
        # (every rank must build the same groups).
        shapes = self._original_shapes or {}
        for wrapped_name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            name = clean_name(wrapped_name)
            decay = not no_weight_decay(name, shapes.get(name, param.shape))
            if self.decay_type == 'layer_wise':
                group_id = layer_id(name, depths, num_layers)
            else:
                group_id = stage_id(name, num_layers)
            custom = next((k for k in self.sorted_keys if k in name), None)
            key = f'layer_{group_id}_{"decay" if decay else "no_decay"}' + (
                f'_{custom}' if custom else '')
            if key not in groups:
                mults = self.custom_keys.get(custom, {})
                scale = self.decay_rate ** (num_layers + 1 - group_id) * mults.get(
                    'lr_mult', 1.0)
                groups[key] = dict(params=[], param_names=[], group_name=key, lr_scale=scale,
                                   lr=scale * self.base_lr)
                if not decay:
                    groups[key]['weight_decay'] = 0.0
                elif self.base_wd is not None:  # else the optimizer's own default
                    groups[key]['weight_decay'] = self.base_wd * mults.get('decay_mult', 1.0)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        ordered = sorted(groups.values(), key=lambda g: (int(g['group_name'].split('_')[1]),
                                                         g['group_name']))
        summary = '\n'.join(
            f'  {g["group_name"]:<20} lr_scale {g["lr_scale"]:.4f}  weight_decay '
            f'{g.get("weight_decay", "default")}  {len(g["params"])} params' for g in ordered)
        print_log(f'ConvNeXt {self.decay_type} lr decay {self.decay_rate} over {num_layers} '
                  f'layers (depths {list(depths)}):\n{summary}', logger='current')
        params.extend(ordered)
