"""Every published ConvNeXt checkpoint layout, as data: one :class:`Layout` entry each.

An entry says how the layout is recognised (key patterns, after the wrappers are taken
off), which keys are ignored and why, and how each tensor's name and shape map to the
backbone's official names (:class:`Rename`, used in both directions). Detection, loading,
``convert_checkpoint --to``, the messages and the README's layout table all read
:data:`LAYOUTS`; adding a layout is one entry here and one fixture in ``tests/data``.

Wrappers around a trunk are taken off first (:func:`unwrap`): ``state_dict`` / ``model`` /
``module``, ``module.``, ``backbone.`` (detectors; mmpretrain's ``TIMMBackbone`` adds
``timm_model.``), OpenCLIP's ``visual.trunk.``, FCMAE's ``encoder.``, transformers'
``convnext.`` / ``convnextv2.``.
"""
from __future__ import annotations

import functools
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from torch import Tensor

from ..archs import NUM_STAGES

StateDict = Dict[str, Tensor]

#: Prefixes that other libraries put around a ConvNeXt trunk, and when they mean it:
#: (prefix, a key that must be present, who writes it, what the other keys are).
_TRUNK_PREFIXES = (
    ('timm_model.', None, 'mmpretrain `TIMMBackbone` (timm or timm `features_only` inside)',
     'nothing else'),
    ('visual.trunk.', None, 'OpenCLIP image tower (timm names inside)',
     'text tower and projection'),
    ('encoder.', 'encoder.downsample_layers.0.0.weight', 'ConvNeXt-V2 FCMAE pre-training',
     'decoder, mask token and projection'),
    ('convnext.', None, 'transformers `ConvNextForImageClassification`', 'classifier'),
    ('convnextv2.', None, 'transformers `ConvNextV2ForImageClassification`', 'classifier'),
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
    for prefix, needs, *_ in (('backbone.', None, 'detector'),) + _TRUNK_PREFIXES:
        if any(k.startswith(prefix) for k in state) and (needs is None or needs in state):
            outside += [k for k in state if not k.startswith(prefix)]
            state = OrderedDict(
                (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
            wrappers.append(prefix)
    return state, wrappers, outside


def _grn(t: Tensor) -> Tensor:
    return t.reshape(1, 1, 1, -1)


def _flat(t: Tensor) -> Tensor:
    return t.reshape(-1)


def _same(t: Tensor) -> Tensor:
    return t


def _linear(t: Tensor) -> Tensor:
    """A pointwise layer's weight as a Linear's: a 1x1 convolution's ``(out, in, 1, 1)``
    (mmpretrain's ``linear_pw_conv=False``) flattened."""
    return t.flatten(1) if t.dim() == 4 else t


def _sparse_conv(t: Tensor) -> Tensor:
    """A MinkowskiEngine kernel as a dense one, as the official ``remap_checkpoint_keys``
    does: ``(k*k, [in,] out)`` flattened with the two spatial axes swapped."""
    if t.dim() == 3:  # a standard convolution (the downsampling layers)
        area, c_in, c_out = t.shape
        size = math.isqrt(area)
        return t.permute(2, 1, 0).reshape(c_out, c_in, size, size).transpose(3, 2)
    area, dim = t.shape  # a depthwise convolution
    size = math.isqrt(area)
    return t.permute(1, 0).reshape(dim, 1, size, size).transpose(3, 2)


#: Placeholders of :class:`Rename` templates: ``{s}`` stage, ``{b}`` block, ``{i}`` / ``{j}``
#: layer indices, ``{p}`` weight or bias.
_PLACEHOLDERS = {'s': r'\d+', 'b': r'\d+', 'i': r'\d+', 'j': r'\d+', 'p': 'weight|bias'}


@functools.lru_cache(maxsize=None)
def _template_pattern(template: str) -> 're.Pattern[str]':
    parts = re.split(r'\{(\w+)\}', template)
    regex = ''.join(re.escape(part) if i % 2 == 0 else f'(?P<{part}>{_PLACEHOLDERS[part]})'
                    for i, part in enumerate(parts))
    return re.compile(f'^{regex}$')


@dataclass(frozen=True)
class Rename:
    """One family of tensors: its name in a layout and in the backbone (official names).

    ``to_ours`` / ``to_theirs`` reshape the tensor on the way in / out.
    """
    theirs: str
    ours: str
    to_ours: Callable[[Tensor], Tensor] = _same
    to_theirs: Callable[[Tensor], Tensor] = _same

    def apply(self, key: str, tensor: Tensor, inward: bool) -> Optional[Tuple[str, Tensor]]:
        source, target = (self.theirs, self.ours) if inward else (self.ours, self.theirs)
        match = _template_pattern(source).match(key)
        if match is None:
            return None
        return target.format(**match.groupdict()), (self.to_ours if inward
                                                     else self.to_theirs)(tensor)


def _per_stage(theirs: str, ours: str, stages=range(NUM_STAGES), **transforms) -> List[Rename]:
    """Renames whose stage numbers differ between the layouts: ``{S}`` is the stage,
    ``{S+1}`` / ``{2S}`` / ``{2S+1}`` the layout's number for it."""
    def fill(template: str, s: int) -> str:
        return (template.replace('{2S+1}', str(2 * s + 1)).replace('{2S}', str(2 * s))
                .replace('{S+1}', str(s + 1)).replace('{S}', str(s)))
    return [Rename(fill(theirs, s), fill(ours, s), **transforms) for s in stages]


def _block(prefix: str, names: Mapping[str, str], gamma: str, grn: Tuple[str, str],
           grn_out: Callable[[Tensor], Tensor] = _same) -> List[Rename]:
    """A block's renames: ``names`` maps the layout's module names to ours
    (``dwconv, norm, pwconv1, pwconv2``); ``gamma`` and ``grn`` (gamma, beta) are the
    layout's full names of layer scale and GRN after ``prefix``."""
    ours = 'stages.{s}.{b}'
    return ([Rename(f'{prefix}.{theirs}.{{p}}', f'{ours}.{mine}.{{p}}',
                    _linear if mine.startswith('pwconv') else _same)
             for theirs, mine in names.items()]
            + [Rename(f'{prefix}.{gamma}', f'{ours}.gamma'),
               Rename(f'{prefix}.{grn[0]}', f'{ours}.grn.gamma', _grn, grn_out),
               Rename(f'{prefix}.{grn[1]}', f'{ours}.grn.beta', _grn, grn_out)])


_OFFICIAL_BLOCK = dict(dwconv='dwconv', norm='norm', pwconv1='pwconv1', pwconv2='pwconv2')
_OFFICIAL = ([Rename('downsample_layers.{i}.{j}.{p}', 'downsample_layers.{i}.{j}.{p}'),
              Rename('norm{i}.{p}', 'norm{i}.{p}')]
             + _block('stages.{s}.{b}', _OFFICIAL_BLOCK, 'gamma', ('grn.gamma', 'grn.beta')))
_TIMM_BLOCK = {'conv_dw': 'dwconv', 'norm': 'norm', 'mlp.fc1': 'pwconv1', 'mlp.fc2': 'pwconv2'}


def _timm(stage: str) -> List[Rename]:
    """timm's names (``stage`` spells ``stages.{s}`` or, for ``features_only``, ``stages_{s}``)."""
    stem = 'stem.{j}.{p}' if stage == 'stages.{s}' else 'stem_{j}.{p}'
    return ([Rename(stem, 'downsample_layers.0.{j}.{p}'),
             Rename(stage.replace('{s}', '{i}') + '.downsample.{j}.{p}',
                    'downsample_layers.{i}.{j}.{p}')]
            + _block(stage + '.blocks.{b}', _TIMM_BLOCK, 'gamma',
                     ('mlp.grn.weight', 'mlp.grn.bias'), grn_out=_flat))


@dataclass(frozen=True)
class Layout:
    """One published checkpoint layout: how to recognise it and how its names map to ours.

    Recognised (after :func:`unwrap`) when every ``signature`` pattern matches some key, no
    ``forbidden`` pattern matches any, and none of ``not_wrapped_in`` was taken off.
    ``ignored`` keys are never loaded (``ignored_why`` says what they are); every other key
    must match one of ``renames``. ``export_name`` is its name for :func:`from_backbone_names`
    (``convert_checkpoint --to``; none: read only), ``export_as`` the container written
    (none: a plain state dict).
    """
    name: str
    library: str
    signature: Tuple[str, ...]
    renames: Tuple[Rename, ...]
    ignored: str = r'(?!)'  # (?!) matches nothing
    ignored_why: str = ''
    #: Also ignored when the file has no per-stage norms ``norm0-2``: then it is a
    #: classifier, and this is its pooled final norm, not a per-stage one.
    ignored_in_classifiers: str = r'(?!)'
    forbidden: Tuple[str, ...] = ()
    not_wrapped_in: Tuple[str, ...] = ()
    export_name: Optional[str] = None
    export_as: Optional[str] = None
    example: str = ''
    fixture: str = ''
    note: str = ''

    def matches(self, keys: List[str], wrappers: List[str]) -> bool:
        def some(pattern: str) -> bool:
            return any(re.search(pattern, k) for k in keys)
        return (all(some(p) for p in self.signature)
                and not any(some(p) for p in self.forbidden)
                and not set(self.not_wrapped_in) & set(wrappers))


#: Every layout the loader reads, in the order they are tried (the first that matches).
LAYOUTS: Tuple[Layout, ...] = (
    Layout('timm', 'timm (`timm.create_model`), OpenCLIP towers, mmpretrain `TIMMBackbone`',
           signature=(r'^stem\.0\.weight$', r'^stages\.\d+\.blocks\.\d+\.conv_dw\.'),
           renames=tuple(_timm('stages.{s}')), ignored=r'^head\.',
           ignored_why='classification head', export_name='timm',
           example='`stem.*`, `stages.S.downsample.*`, '
                   '`stages.S.blocks.B.{conv_dw,mlp.fc1,...}`, `head.*`',
           fixture='timm'),
    Layout('timm-features', 'timm `features_only=True` models',
           signature=(r'^stem_0\.weight$', r'^stages_\d+\.blocks\.\d+\.conv_dw\.'),
           renames=tuple(_timm('stages_{s}')),
           example='`stem_0.*`, `stages_S.blocks.B.*`',
           fixture='timm_features'),
    Layout('hf', 'Hugging Face transformers `ConvNextModel` / `ConvNextV2Model`, their '
                 '`...ForImageClassification` and `UperNetForSemanticSegmentation`',
           signature=(r'^embeddings\.patch_embeddings\.weight$', r'^encoder\.stages\.\d+\.layers'),
           renames=(Rename('embeddings.patch_embeddings.{p}', 'downsample_layers.0.0.{p}'),
                    Rename('embeddings.layernorm.{p}', 'downsample_layers.0.1.{p}'),
                    Rename('encoder.stages.{i}.downsampling_layer.{j}.{p}',
                           'downsample_layers.{i}.{j}.{p}'),
                    *_per_stage('hidden_states_norms.stage{S+1}.{p}', 'norm{S}.{p}'),
                    *_block('encoder.stages.{s}.layers.{b}',
                            dict(dwconv='dwconv', layernorm='norm', pwconv1='pwconv1',
                                 pwconv2='pwconv2'),
                            'layer_scale_parameter', ('grn.weight', 'grn.bias'))),
           ignored=r'^layernorm\.', ignored_why='the pooled-output norm', export_name='hf',
           example='`embeddings.*`, `encoder.stages.S.layers.B.*`, '
                   '`hidden_states_norms.stageN.*` (loaded as the per-stage norms)',
           fixture='hf'),
    Layout('fcmae', 'ConvNeXt-V2 FCMAE pre-training (sparse-convolution kernels)',
           signature=(r'^downsample_layers\.0\.0\.weight$', r'^stages\.\d+\.\d+\.dwconv\.kernel$'),
           renames=(Rename('downsample_layers.0.{j}.{p}', 'downsample_layers.0.{j}.{p}'),
                    Rename('downsample_layers.{i}.0.ln.{p}', 'downsample_layers.{i}.0.{p}'),
                    Rename('downsample_layers.{i}.1.kernel', 'downsample_layers.{i}.1.weight',
                           _sparse_conv),
                    Rename('downsample_layers.{i}.1.bias', 'downsample_layers.{i}.1.bias', _flat),
                    Rename('stages.{s}.{b}.dwconv.kernel', 'stages.{s}.{b}.dwconv.weight',
                           _sparse_conv),
                    Rename('stages.{s}.{b}.dwconv.bias', 'stages.{s}.{b}.dwconv.bias', _flat),
                    Rename('stages.{s}.{b}.norm.ln.{p}', 'stages.{s}.{b}.norm.{p}'),
                    *[Rename(f'stages.{{s}}.{{b}}.{conv}.linear.{param}',
                             f'stages.{{s}}.{{b}}.{conv}.{param}', _flat if param == 'bias'
                             else _same)
                      for conv in ('pwconv1', 'pwconv2') for param in ('weight', 'bias')],
                    Rename('stages.{s}.{b}.grn.gamma', 'stages.{s}.{b}.grn.gamma', _grn),
                    Rename('stages.{s}.{b}.grn.beta', 'stages.{s}.{b}.grn.beta', _grn)),
           example='`encoder.stages.S.B.dwconv.kernel` (reshaped as the official '
                   '`remap_checkpoint_keys` does)',
           fixture='fcmae',
           note='This is a ConvNeXt-V2 FCMAE checkpoint: self-supervised pre-training only, '
                'never fine-tuned with labels. The V2 paper\'s COCO and ADE20K results start '
                'from these files (our V2 configs do too); for classification or linear '
                'probing, fine-tune it or take the fine-tuned ImageNet file instead.'),
    Layout('torchvision', 'torchvision `convnext_*` (V1 only)',
           signature=(r'^features\.0\.0\.weight$', r'^features\.1\.\d+\.block\.0\.'),
           renames=(Rename('features.0.{j}.{p}', 'downsample_layers.0.{j}.{p}'),
                    *_per_stage('features.{2S}.{j}.{p}', 'downsample_layers.{S}.{j}.{p}',
                                stages=range(1, NUM_STAGES)),
                    *_per_stage('features.{2S+1}.{b}.layer_scale', 'stages.{S}.{b}.gamma',
                                to_ours=_flat),
                    *[r for n, mine in (('0', 'dwconv'), ('2', 'norm'), ('3', 'pwconv1'),
                                        ('5', 'pwconv2'))
                      for r in _per_stage(f'features.{{2S+1}}.{{b}}.block.{n}.{{p}}',
                                          f'stages.{{S}}.{{b}}.{mine}.{{p}}')]),
           ignored=r'^classifier\.', ignored_why='classification head',
           example='`features.N.*`, `classifier.*`',
           fixture='torchvision'),
    Layout('mmpretrain', 'mmpretrain / mmcls `ConvNeXt` (classifiers and detectors)',
           signature=(r'^downsample_layers\.0\.0\.weight$', r'^stages\.\d+\.\d+\.depthwise_conv\.'),
           renames=(Rename('downsample_layers.{i}.{j}.{p}', 'downsample_layers.{i}.{j}.{p}'),
                    Rename('norm{i}.{p}', 'norm{i}.{p}'),
                    *_block('stages.{s}.{b}', dict(depthwise_conv='dwconv', norm='norm',
                                                   pointwise_conv1='pwconv1',
                                                   pointwise_conv2='pwconv2'),
                            'gamma', ('grn.gamma', 'grn.beta'))),
           ignored=r'^head\.', ignored_in_classifiers=r'^norm3\.',
           ignored_why='classification head (and a classifier\'s final norm3)',
           example='`stages.S.B.{depthwise_conv,pointwise_conv1,...}`, `head.*`',
           fixture='mmpretrain'),
    Layout('official-detection', 'facebookresearch detection / segmentation (and what this '
                                 'project\'s tools save)',
           signature=(r'^downsample_layers\.0\.0\.weight$', r'^stages\.\d+\.\d+\.dwconv\.',
                      r'^norm[0-2]\.'),
           forbidden=(r'^head\.',), not_wrapped_in=('model',), renames=tuple(_OFFICIAL),
           example='`{\'state_dict\': {backbone.*, neck.*, ...}}` with `norm0-3`',
           fixture='official_detection'),
    Layout('official-classification', 'facebookresearch ConvNeXt / ConvNeXt-V2 classification',
           signature=(r'^downsample_layers\.0\.0\.weight$', r'^stages\.\d+\.\d+\.dwconv\.'),
           renames=tuple(_OFFICIAL), ignored=r'^(head|norm)\.',
           ignored_why='classification head and final norm', export_name='official',
           export_as='model',
           example='`{\'model\': {downsample_layers.*, stages.S.B.dwconv.*, norm.*, head.*}}`',
           fixture='official_classification'),
)


def layout_named(name: str) -> Layout:
    """The :data:`LAYOUTS` entry called ``name``."""
    return next(layout for layout in LAYOUTS if layout.name == name)


def detect_layout(state: Mapping[str, Tensor], wrappers: List[str]) -> Optional[str]:
    """Name the layout of an unwrapped state dict, or ``None`` if it is not ConvNeXt."""
    keys = list(state)
    return next((layout.name for layout in LAYOUTS if layout.matches(keys, wrappers)), None)


def wrapper_rows() -> List[Tuple[str, str, str]]:
    """``(prefix, who writes it, what else is there)`` of the trunk wrappers, for the docs."""
    return [('backbone.', 'detectors and segmentors (mmdet, mmseg, official detection)',
             'neck and heads')] + [(p, who, rest) for p, _, who, rest in _TRUNK_PREFIXES]


def known_layouts() -> str:
    """The libraries whose checkpoints load, for messages and help texts."""
    return ', '.join(layout.name for layout in LAYOUTS)


def to_backbone_names(state: Mapping[str, Tensor],
                      layout: str) -> Tuple[StateDict, List[str], List[str]]:
    """Convert an unwrapped state dict to the backbone's names.

    Returns the converted tensors, the ignored head / final-norm keys, and the keys that
    the layout does not know (kept out of the result, reported by the caller).
    """
    spec = layout_named(layout)
    ignored = spec.ignored
    if not any(re.match(r'^norm[0-2]\.', k) for k in state):
        ignored = f'{ignored}|{spec.ignored_in_classifiers}'
    ignored = re.compile(ignored)
    converted: StateDict = OrderedDict()
    ignored_keys, unknown = [], []
    for key, tensor in state.items():
        if ignored.search(key):
            ignored_keys.append(key)
            continue
        result = next((r for r in (rename.apply(key, tensor, inward=True)
                                   for rename in spec.renames) if r is not None), None)
        if result is None:
            unknown.append(key)
        else:
            converted[result[0]] = result[1]
    return converted, ignored_keys, unknown


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


#: Layouts :func:`from_backbone_names` writes, by their ``export_name``.
EXPORT_LAYOUTS = tuple(layout.export_name for layout in LAYOUTS if layout.export_name)


def _exported(name: str) -> Layout:
    return next(layout for layout in LAYOUTS if layout.export_name == name)


def export_container(layout: str) -> Optional[str]:
    """The top-level key the ``--to`` layout's files keep their tensors under, if any."""
    return _exported(layout).export_as


def from_backbone_names(state: Mapping[str, Tensor], layout: str) -> Tuple[StateDict, List[str]]:
    """The backbone's tensors in another library's names: ``(state, dropped keys)``.

    ``official``: the facebookresearch names (with the per-stage norms, as the official
    detection checkpoints have them); ``timm``: ``timm.models.convnext`` names (no per-stage
    norms: dropped); ``hf``: transformers ``ConvNextModel`` / ``ConvNextV2Model`` names,
    the per-stage norms as ``ConvNextBackbone``'s ``hidden_states_norms``. The inverse of
    the layout's own :class:`Rename` entries.
    """
    renames = _exported(layout).renames
    out: StateDict = OrderedDict()
    dropped = []
    for key, tensor in state.items():
        result = next((r for r in (rename.apply(key, tensor, inward=False)
                                   for rename in renames) if r is not None), None)
        if result is None:
            dropped.append(key)
        else:
            out[result[0]] = result[1].contiguous()
    return out, dropped
