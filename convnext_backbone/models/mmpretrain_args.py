"""mmpretrain's (and mmcls's) ``ConvNeXt`` arguments that ``ConvNeXtBackbone`` has no own
use for, so that their detection and segmentation configs switch with one word.

Each is accepted with its meaning where we compute that meaning, and refused by name,
with what to write instead, where it would change the network into something that is no
longer the ConvNeXt we compute; none is silently ignored. (``arch`` names and dicts,
``use_grn``, ``layer_scale_init_value``, ``out_indices``, ``frozen_stages``, ``with_cp``,
``drop_path_rate`` and ``in_channels`` are ``ConvNeXtBackbone``'s own arguments.)
"""
from __future__ import annotations

from typing import Optional

#: norm_cfg types that are a channels-first LayerNorm (mmpretrain's default is 'LN2d').
LAYER_NORM_TYPES = ('LN2d',)
#: act_cfg types that are ConvNeXt's exact GELU (mmpretrain's default).
GELU_TYPES = ('GELU',)
#: The stem's patch size: 4, so that the four outputs have strides 4, 8, 16 and 32.
STEM_PATCH_SIZE = 4


def layer_norm_eps(norm_cfg: Optional[dict], default: float) -> float:
    """The LayerNorm eps a ``norm_cfg`` asks for (``default`` without one)."""
    if norm_cfg is None:
        return default
    if not isinstance(norm_cfg, dict) or norm_cfg.get('type') not in LAYER_NORM_TYPES \
            or set(norm_cfg) - {'type', 'eps', 'requires_grad'}:
        raise ValueError(f'norm_cfg={norm_cfg!r} is not supported: ConvNeXtBackbone\'s norms '
                         f'are channels-first LayerNorms, norm_cfg=dict(type=\'LN2d\', '
                         f'eps=...) (any eps). Remove norm_cfg or set it so.')
    if norm_cfg.get('requires_grad', True) is not True:
        raise ValueError('norm_cfg requires_grad=False is not supported: freeze parts of '
                         'the backbone with frozen_stages instead.')
    return float(norm_cfg.get('eps', 1e-6))


def check_act(act_cfg: Optional[dict]) -> None:
    """Only ConvNeXt's exact (erf) GELU."""
    if act_cfg is None:
        return
    if not isinstance(act_cfg, dict) or act_cfg.get('type') not in GELU_TYPES or any(
            (k, v) not in (('type', 'GELU'), ('approximate', 'none'))
            for k, v in act_cfg.items()):
        raise ValueError(f'act_cfg={act_cfg!r} is not supported: ConvNeXt blocks use the '
                         f'exact GELU, act_cfg=dict(type=\'GELU\'), which every published '
                         f'checkpoint was trained with. Remove act_cfg or set it so.')


def check_stem(stem_patch_size: Optional[int]) -> None:
    """Only the 4x4 patch stem: the necks expect strides 4, 8, 16 and 32."""
    if stem_patch_size is not None and stem_patch_size != STEM_PATCH_SIZE:
        raise ValueError(f'stem_patch_size={stem_patch_size} is not supported: the stem is '
                         f'a {STEM_PATCH_SIZE}x{STEM_PATCH_SIZE} patch convolution, so that '
                         f'the outputs have strides 4, 8, 16 and 32 as every published '
                         f'checkpoint and the FPN/UperNet configs expect. Remove it or set '
                         f'it to {STEM_PATCH_SIZE}.')


def check_gap(gap_before_final_norm: Optional[bool]) -> None:
    """A dense backbone returns feature maps: no global average pooling."""
    if gap_before_final_norm:
        raise ValueError('gap_before_final_norm=True is not supported: it averages each '
                         'output over the image (mmpretrain uses it for classification), '
                         'but a detection or segmentation backbone returns feature maps. '
                         'Set gap_before_final_norm=False (what the mmdet and mmseg ConvNeXt '
                         'configs set) or remove it.')


def check_linear_pw_conv(linear_pw_conv: Optional[bool]) -> None:
    """Linear or 1x1 convolution: the same numbers; both layouts' checkpoints load."""
    if linear_pw_conv is not None and not isinstance(linear_pw_conv, bool):
        raise ValueError(f'linear_pw_conv must be True or False, got {linear_pw_conv!r}.')
