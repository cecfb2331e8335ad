"""Every published ConvNeXt checkpoint layout, mapped to the backbone's official names.

Layouts (detected from the keys, see :func:`detect_layout`):

- ``official-classification``: facebookresearch ConvNeXt / ConvNeXt-V2 ``{'model': ...}``
- ``official-detection``: facebookresearch detection/segmentation ``{'state_dict':
  {'backbone.*', 'neck.*', ...}}`` (also what this project's tools save)
- ``timm``: ``stem.*``, ``stages.S.downsample.*``, ``stages.S.blocks.B.*``
- ``torchvision``: ``features.N.*`` (V1 only)
- ``mmpretrain``: ``stages.S.B.{depthwise_conv,pointwise_conv1,pointwise_conv2}``
- ``hf``: Hugging Face transformers ``ConvNextModel`` / ``ConvNextV2Model`` (``embeddings.*``,
  ``encoder.stages.S.layers.B.*``), their ``...ForImageClassification`` (under
  ``convnext.`` / ``convnextv2.``) and ``UperNetForSemanticSegmentation`` (under
  ``backbone.``, with ``hidden_states_norms``: the per-stage output norms)
- ``timm-features``: timm ``features_only`` models (``stem_0``, ``stages_N``)
- ``fcmae``: ConvNeXt-V2 FCMAE pre-training (``encoder.*`` with sparse-convolution
  kernel shapes), reshaped as the official ``remap_checkpoint_keys`` does

Wrappers around a trunk are taken off first (:func:`unwrap`): ``state_dict`` / ``model`` /
``module``, ``module.``, ``backbone.`` (detectors; mmpretrain's ``TIMMBackbone`` adds
``timm_model.``), OpenCLIP's ``visual.trunk.``, FCMAE's ``encoder.``.
"""
from __future__ import annotations

import math
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
    'hf': r'^layernorm\.',  # the pooled-output norm of ConvNextModel
}

#: Prefixes that other libraries put around a ConvNeXt trunk, and when they mean it:
#: (prefix, a key that must be present, what the other keys are).
_TRUNK_PREFIXES = (
    ('timm_model.', None, 'mmpretrain TIMMBackbone'),
    ('visual.trunk.', None, 'OpenCLIP text tower and projection'),
    ('encoder.', 'encoder.downsample_layers.0.0.weight', 'FCMAE decoder, mask token and '
                                                         'projection'),
    ('convnext.', None, 'classifier'),
    ('convnextv2.', None, 'classifier'),
)


#: Top-level keys of checkpoints that hold an exponential moving average of the weights.
EMA_KEYS = ('model_ema', 'state_dict_ema', 'ema_state_dict', 'ema')


def weight_sets(obj: Mapping) -> List[str]:
    """Top-level keys that each hold a set of weights (``model``, ``model_ema``, ...)."""
    return [k for k, v in obj.items() if isinstance(v, Mapping) and
            any(isinstance(t, Tensor) for t in v.values())]


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
    for prefix, needs, _ in (('backbone.', None, 'detector'),) + _TRUNK_PREFIXES:
        if any(k.startswith(prefix) for k in state) and (needs is None or needs in state):
            outside += [k for k in state if not k.startswith(prefix)]
            state = OrderedDict(
                (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
            wrappers.append(prefix)
    return state, wrappers, outside


def detect_layout(state: Mapping[str, Tensor], wrappers: List[str]) -> Optional[str]:
    """Name the layout of an unwrapped state dict, or ``None`` if it is not ConvNeXt."""
    keys = list(state)

    def has(pattern: str) -> bool:
        return any(re.search(pattern, k) for k in keys)

    if has(r'^stem\.0\.weight$') and has(r'^stages\.\d+\.blocks\.\d+\.conv_dw\.'):
        return 'timm'
    if has(r'^stem_0\.weight$') and has(r'^stages_\d+\.blocks\.\d+\.conv_dw\.'):
        return 'timm-features'
    if has(r'^embeddings\.patch_embeddings\.weight$') and has(r'^encoder\.stages\.\d+\.layers'):
        return 'hf'
    if has(r'^downsample_layers\.0\.0\.weight$') and has(r'^stages\.\d+\.\d+\.dwconv\.kernel$'):
        return 'fcmae'
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


def _from_timm_features(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    key = re.sub(r'^stem_(\d)\.', r'stem.\1.', key)
    return _from_timm(re.sub(r'^stages_(\d+)\.', r'stages.\1.', key), t)


def _from_hf(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    if m := re.match(r'^embeddings\.(patch_embeddings|layernorm)\.(weight|bias)$', key):
        return f'downsample_layers.0.{0 if m[1] == "patch_embeddings" else 1}.{m[2]}', t
    if m := re.match(r'^encoder\.stages\.(\d+)\.downsampling_layer\.(\d)\.(weight|bias)$',
                     key):
        return f'downsample_layers.{m[1]}.{m[2]}.{m[3]}', t
    if m := re.match(r'^hidden_states_norms\.stage(\d)\.(weight|bias)$', key):
        return f'norm{int(m[1]) - 1}.{m[2]}', t
    m = re.match(r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.(.+)$', key)
    if not m:
        return None
    prefix, rest = f'stages.{m[1]}.{m[2]}', m[3]
    if rest == 'layer_scale_parameter':
        return f'{prefix}.gamma', t
    if rest in ('grn.weight', 'grn.bias'):
        return f'{prefix}.grn.{"gamma" if rest.endswith("weight") else "beta"}', _grn(t)
    module, _, param = rest.rpartition('.')
    names = {'dwconv': 'dwconv', 'layernorm': 'norm', 'pwconv1': 'pwconv1',
             'pwconv2': 'pwconv2'}
    if module in names:
        return f'{prefix}.{names[module]}.{param}', t
    return None


def _from_fcmae(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    """The official ConvNeXt-V2 ``remap_checkpoint_keys``, one tensor at a time.

    Sparse (MinkowskiEngine) kernels are ``(k*k, [in,] out)`` flattened with the two
    spatial axes swapped; biases and GRN parameters are ``(1, C)``; ``ln`` / ``linear``
    are wrapper modules around the dense layers' names.
    """
    parts = key.split('.')
    if parts[-1] == 'kernel':
        name = '.'.join(parts[:-1]) + '.weight'
        if t.dim() == 3:  # a standard convolution (the downsampling layers)
            area, c_in, c_out = t.shape
            size = math.isqrt(area)
            return name, t.permute(2, 1, 0).reshape(c_out, c_in, size, size).transpose(3, 2)
        area, dim = t.shape  # a depthwise convolution
        size = math.isqrt(area)
        return name, t.permute(1, 0).reshape(dim, 1, size, size).transpose(3, 2)
    if len(parts) > 2 and parts[-2] in ('ln', 'linear'):
        parts.pop(-2)
    name = '.'.join(parts)
    if '.grn.' in name:
        return name, _grn(t)
    if parts[-1] == 'bias' and t.dim() != 1:
        return name, t.reshape(-1)
    return name, t


_CONVERTERS = {
    'timm': _from_timm,
    'torchvision': _from_torchvision,
    'mmpretrain': _from_mmpretrain,
    'official-classification': _from_official,
    'official-detection': _from_official,
    'timm-features': _from_timm_features,
    'hf': _from_hf,
    'fcmae': _from_fcmae,
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


#: Layouts :func:`from_backbone_names` writes, and the container each is saved in.
EXPORT_LAYOUTS = ('official', 'timm', 'hf')


def _to_timm(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    if m := re.match(r'^downsample_layers\.0\.(\d)\.(.+)$', key):
        return f'stem.{m[1]}.{m[2]}', t
    if m := re.match(r'^downsample_layers\.(\d)\.(\d)\.(.+)$', key):
        return f'stages.{m[1]}.downsample.{m[2]}.{m[3]}', t
    m = re.match(r'^stages\.(\d+)\.(\d+)\.(.+)$', key)
    if not m:
        return None  # the per-stage output norms: timm's model has none
    prefix, rest = f'stages.{m[1]}.blocks.{m[2]}', m[3]
    names = {'dwconv': 'conv_dw', 'norm': 'norm', 'pwconv1': 'mlp.fc1', 'pwconv2': 'mlp.fc2',
             'grn.gamma': 'mlp.grn.weight', 'grn.beta': 'mlp.grn.bias'}
    module, _, param = rest.rpartition('.')
    if rest == 'gamma':
        return f'{prefix}.gamma', t
    if rest in names:  # GRN: timm keeps (C,)
        return f'{prefix}.{names[rest]}', t.reshape(-1)
    return f'{prefix}.{names[module]}.{param}', t


def _to_hf(key: str, t: Tensor) -> Optional[Tuple[str, Tensor]]:
    if m := re.match(r'^downsample_layers\.0\.(\d)\.(.+)$', key):
        return f'embeddings.{"patch_embeddings" if m[1] == "0" else "layernorm"}.{m[2]}', t
    if m := re.match(r'^downsample_layers\.(\d)\.(\d)\.(.+)$', key):
        return f'encoder.stages.{m[1]}.downsampling_layer.{m[2]}.{m[3]}', t
    if m := re.match(r'^norm(\d)\.(.+)$', key):  # transformers' ConvNextBackbone has them
        return f'hidden_states_norms.stage{int(m[1]) + 1}.{m[2]}', t
    m = re.match(r'^stages\.(\d+)\.(\d+)\.(.+)$', key)
    prefix, rest = f'encoder.stages.{m[1]}.layers.{m[2]}', m[3]
    if rest == 'gamma':
        return f'{prefix}.layer_scale_parameter', t
    if rest in ('grn.gamma', 'grn.beta'):
        return f'{prefix}.grn.{"weight" if rest.endswith("gamma") else "bias"}', t
    module, _, param = rest.rpartition('.')
    return f'{prefix}.{"layernorm" if module == "norm" else module}.{param}', t


def from_backbone_names(state: Mapping[str, Tensor], layout: str) -> Tuple[StateDict, List[str]]:
    """The backbone's tensors in another library's names: ``(state, dropped keys)``.

    ``official``: the facebookresearch names (with the per-stage norms, as the official
    detection checkpoints have them); ``timm``: ``timm.models.convnext`` names (no per-stage
    norms: dropped); ``hf``: transformers ``ConvNextModel`` / ``ConvNextV2Model`` names,
    the per-stage norms as ``ConvNextBackbone``'s ``hidden_states_norms``.
    """
    convert = {'official': lambda k, t: (k, t), 'timm': _to_timm, 'hf': _to_hf}[layout]
    out: StateDict = OrderedDict()
    dropped = []
    for key, tensor in state.items():
        result = convert(key, tensor)
        if result is None:
            dropped.append(key)
        else:
            out[result[0]] = result[1].contiguous()
    return out, dropped
