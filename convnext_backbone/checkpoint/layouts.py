"""Every published ConvNeXt checkpoint layout, mapped to the backbone's official names.

Layouts (detected from the keys, see :func:`detect_layout`):

- ``official-classification``: facebookresearch ConvNeXt / ConvNeXt-V2 ``{'model': ...}``
- ``official-detection``: facebookresearch detection/segmentation ``{'state_dict':
  {'backbone.*', 'neck.*', ...}}`` (also what this project's tools save)
- ``timm``: ``stem.*``, ``stages.S.downsample.*``, ``stages.S.blocks.B.*``
- ``torchvision``: ``features.N.*`` (V1 only)
- ``mmpretrain``: ``stages.S.B.{depthwise_conv,pointwise_conv1,pointwise_conv2}``
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

from torch import Tensor

from ..archs import NUM_STAGES

StateDict = Dict[str, Tensor]

#: Keys of classification heads and final norms: never loaded into the backbone.
#: (Detection checkpoints have none; their neck and heads are outside ``backbone.``.)
_HEAD_PATTERNS = {
    'official-classification': r'^(head|norm)\.',
    'timm': r'^head\.',
    'torchvision': r'^classifier\.',
    'mmpretrain': r'^head\.',
}


def unwrap(obj: Mapping) -> Tuple[StateDict, List[str], List[str]]:
    """Strip the wrappers around a state dict.

    Returns the backbone's tensors, the names of the wrappers that were removed, and the
    keys outside the backbone (a detector's neck and heads) that are ignored.
    """
    wrappers: List[str] = []
    for key in ('state_dict', 'model', 'module'):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            wrappers.append(key)
    state = OrderedDict((k, v) for k, v in obj.items() if isinstance(v, Tensor))
    if state and all(k.startswith('module.') for k in state):
        state = OrderedDict((k[len('module.'):], v) for k, v in state.items())
        wrappers.append('module.')
    outside: List[str] = []
    if any(k.startswith('backbone.') for k in state):
        outside = [k for k in state if not k.startswith('backbone.')]
        state = OrderedDict(
            (k[len('backbone.'):], v) for k, v in state.items() if k.startswith('backbone.'))
        wrappers.append('backbone.')
    return state, wrappers, outside


def detect_layout(state: Mapping[str, Tensor], wrappers: List[str]) -> Optional[str]:
    """Name the layout of an unwrapped state dict, or ``None`` if it is not ConvNeXt."""
    keys = list(state)

    def has(pattern: str) -> bool:
        return any(re.search(pattern, k) for k in keys)

    if has(r'^stem\.0\.weight$') and has(r'^stages\.\d+\.blocks\.\d+\.conv_dw\.'):
        return 'timm'
    if has(r'^features\.0\.0\.weight$') and has(r'^features\.1\.\d+\.block\.0\.'):
        return 'torchvision'
    if has(r'^downsample_layers\.0\.0\.weight$'):
        if has(r'^stages\.\d+\.\d+\.depthwise_conv\.'):
            return 'mmpretrain'
        if has(r'^stages\.\d+\.\d+\.dwconv\.'):
            if has(r'^head\.') or 'model' in wrappers or not has(r'^norm[0-2]\.'):
                return 'official-classification'
            return 'official-detection'
    return None


def _grn(t: Tensor) -> Tensor:
    return t.reshape(1, 1, 1, -1)


def _from_timm(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    if m := re.match(r'^stem\.(\d)\.(weight|bias)$', key):
        return f'downsample_layers.0.{m[1]}.{m[2]}', t
    if m := re.match(r'^stages\.(\d+)\.downsample\.(\d)\.(weight|bias)$', key):
        return f'downsample_layers.{m[1]}.{m[2]}.{m[3]}', t
    m = re.match(r'^stages\.(\d+)\.blocks\.(\d+)\.(.+)$', key)
    if not m:
        return None
    names = {'conv_dw': 'dwconv', 'norm': 'norm', 'mlp.fc1': 'pwconv1', 'mlp.fc2': 'pwconv2'}
    prefix, rest = f'stages.{m[1]}.{m[2]}', m[3]
    if rest == 'gamma':
        return f'{prefix}.gamma', t
    if rest in ('mlp.grn.weight', 'mlp.grn.bias'):
        return f'{prefix}.grn.{"gamma" if rest.endswith("weight") else "beta"}', _grn(t)
    module, _, param = rest.rpartition('.')
    if module in names:
        return f'{prefix}.{names[module]}.{param}', t
    return None


def _from_torchvision(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    m = re.match(r'^features\.(\d+)\.(.+)$', key)
    if not m:
        return None
    index, rest = int(m[1]), m[2]
    if index % 2 == 0:  # features.0 is the stem, features.2/4/6 the downsampling layers
        return f'downsample_layers.{index // 2}.{rest}', t
    stage = (index - 1) // 2
    m = re.match(r'^(\d+)\.(layer_scale|block\.(\d)\.(weight|bias))$', rest)
    if not m:
        return None
    if m[2] == 'layer_scale':
        return f'stages.{stage}.{m[1]}.gamma', t.reshape(-1)
    names = {'0': 'dwconv', '2': 'norm', '3': 'pwconv1', '5': 'pwconv2'}
    if m[3] not in names:
        return None
    return f'stages.{stage}.{m[1]}.{names[m[3]]}.{m[4]}', t


def _from_mmpretrain(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    names = {'depthwise_conv': 'dwconv', 'pointwise_conv1': 'pwconv1',
             'pointwise_conv2': 'pwconv2'}
    for old, new in names.items():
        key = key.replace(f'.{old}.', f'.{new}.')
    if re.match(r'^stages\.\d+\.\d+\.grn\.(gamma|beta)$', key):
        return key, _grn(t)
    return key, t


def _from_official(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    if re.match(r'^stages\.\d+\.\d+\.grn\.(gamma|beta)$', key):
        return key, _grn(t)
    return key, t


_CONVERTERS = {
    'timm': _from_timm,
    'torchvision': _from_torchvision,
    'mmpretrain': _from_mmpretrain,
    'official-classification': _from_official,
    'official-detection': _from_official,
}


def to_backbone_names(state: Mapping[str, Tensor],
                      layout: str) -> Tuple[StateDict, List[str], List[str]]:
    """Convert an unwrapped state dict to the backbone's names.

    Returns the converted tensors, the ignored head / final-norm keys, and the keys that
    the layout does not know (kept out of the result, reported by the caller).
    """
    head = re.compile(_HEAD_PATTERNS.get(layout, r'(?!)'))  # (?!) matches nothing
    converted: StateDict = OrderedDict()
    ignored_head, unknown = [], []
    convert = _CONVERTERS[layout]
    only_final_norm = layout == 'mmpretrain' and not any(
        re.match(r'^norm[0-2]\.', k) for k in state)
    for key, tensor in state.items():
        if head.search(key) or (only_final_norm and key.startswith('norm3.')):
            # mmpretrain's classifiers keep their final (pooled) norm as norm3.
            ignored_head.append(key)
            continue
        result = convert(key, tensor)
        if result is None:
            unknown.append(key)
        else:
            converted[result[0]] = result[1]
    return converted, ignored_head, unknown


def infer_arch(state: Mapping[str, Tensor]) -> Tuple[List[int], List[int], bool]:
    """Depths, dims and V2-ness of a state dict in the backbone's names."""
    dims = []
    for i in range(NUM_STAGES):
        conv = state.get(f'downsample_layers.{i}.{0 if i == 0 else 1}.weight')
        dims.append(int(conv.shape[0]) if conv is not None else 0)
    depths = [0] * NUM_STAGES
    for key in state:
        if m := re.match(r'^stages\.(\d+)\.(\d+)\.', key):
            stage, block = int(m[1]), int(m[2])
            if stage < NUM_STAGES:
                depths[stage] = max(depths[stage], block + 1)
    is_v2 = any('.grn.' in k for k in state)
    return depths, dims, is_v2
