"""Load any published ConvNeXt checkpoint into a :class:`ConvNeXtBackbone`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from mmengine.logging import MMLogger, print_log
from torch import Tensor, nn

from ..archs import describe_arch
from .io import CheckpointError, read_checkpoint
from .layouts import (
    EMA_KEYS,
    detect_layout,
    infer_arch,
    known_layouts,
    layout_named,
    to_backbone_names,
    unwrap,
    weight_sets,
)

#: ``init_cfg=dict(type='Pretrained', ...)`` keys the backbone honours.
PRETRAINED_KEYS = {'type', 'checkpoint', 'weights', 'prefix', 'map_location'}

_OUTPUT_NORM = re.compile(r'^norm[0-3]\.(weight|bias)$')


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did, for logs and tests."""
    path: str
    layout: str
    weights: str = ''  # the weight set used (``model``, ``model_ema``, ...), '' when only one
    others: List[str] = field(default_factory=list)  # the file's other weight sets
    loaded: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)

    def summary(self) -> str:
        used = f', weights {self.weights!r}' if self.weights else ''
        lines = [f'Loaded {self.path}: layout {self.layout}{used}, '
                 f'{len(self.loaded)} tensors loaded.']
        if self.others:
            lines.append(f'  The file also holds {", ".join(map(repr, self.others))}; '
                         f'choose with init_cfg weights=... or --weights.')
        if self.ignored:
            lines.append(f'  Ignored {len(self.ignored)} tensors (not the backbone: '
                         f'classification head, final norm, detector or segmentor parts, '
                         f'OpenCLIP text tower and projection, FCMAE decoder): '
                         f'{_abbreviate(self.ignored)}')
        if layout_named(self.layout).note:
            lines.append(f'  {layout_named(self.layout).note}')
        if self.missing:
            lines.append(f'  Missing {len(self.missing)} tensors, kept at their '
                         f'initialisation (the per-stage output norms, which '
                         f'classification checkpoints do not have): '
                         f'{_abbreviate(self.missing)}')
        return '\n'.join(lines)


def _abbreviate(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def select_weights(checkpoint: dict, source: str, weights: Optional[str] = None,
                   prefix: Optional[str] = None):
    """The weight set to load (``weights``, else the non-EMA one), optionally only the
    tensors under ``prefix`` (stripped, as mmengine's ``PretrainedInit`` does).

    Returns ``(selection, name used, other weight sets)``.
    """
    sets = weight_sets(checkpoint)
    if weights is not None:
        if weights not in sets:
            raise CheckpointError(f'{source} has no weight set {weights!r}; it has '
                                  f'{sets or "only top-level tensors"}.')
        chosen, name = checkpoint[weights], weights
    else:
        name = next((k for k in ('state_dict', 'model', 'module') if k in sets),
                    next((k for k in sets if k not in EMA_KEYS), ''))
        chosen = checkpoint[name] if name and len(sets) > 1 else checkpoint
    others = [k for k in sets if k != name] if len(sets) > 1 else []
    if prefix:
        inner = chosen.get('state_dict', chosen) if isinstance(chosen, dict) else chosen
        picked = {k[len(prefix):]: v for k, v in inner.items() if k.startswith(prefix)}
        if not picked:
            raise CheckpointError(f'{source} has no tensor under prefix {prefix!r}; first '
                                  f'keys: {_abbreviate(list(inner), 5)}.')
        chosen = picked
    return chosen, (name if len(sets) > 1 else ''), others


def backbone_state_from_checkpoint(checkpoint: object, source: str = '<checkpoint>',
                                   weights: Optional[str] = None,
                                   prefix: Optional[str] = None):
    """Unwrap, detect the layout and rename; return ``(state, layout, ignored)``."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{source} holds a {type(checkpoint).__name__}, not a '
                              f'checkpoint (a dict of tensors).')
    checkpoint, _, _ = select_weights(checkpoint, source, weights, prefix)
    state, wrappers, outside = unwrap(checkpoint)
    if not state:
        raise CheckpointError(f'{source} contains no tensors; top-level keys: '
                              f'{_abbreviate([str(k) for k in checkpoint])}.')
    layout = detect_layout(state, wrappers)
    if layout is None:
        raise CheckpointError(
            f'{source} is not a ConvNeXt checkpoint in any known layout '
            f'({known_layouts()}); first keys: {_abbreviate(list(state), 5)}.')
    converted, head, unknown = to_backbone_names(state, layout)
    if unknown:
        raise CheckpointError(f'{source} (layout {layout}) has tensors this backbone does '
                              f'not know: {_abbreviate(unknown)}.')
    return converted, layout, outside + head


def check_compatible(model: nn.Module, state: Dict[str, Tensor], source: str) -> List[str]:
    """Refuse a checkpoint of another architecture; return the missing keys.

    Raises :class:`CheckpointError` naming the first mismatched tensor and the arch the
    checkpoint looks like, before anything is loaded.
    """
    own = model.state_dict()
    depths, dims, is_v2 = infer_arch(state)
    looks_like = describe_arch(depths, dims, is_v2)
    model_v2 = any('.grn.' in k for k in own)
    if is_v2 != model_v2:
        ckpt_kind, model_kind = ('V2 (GRN)', 'V1') if is_v2 else ('V1', 'V2 (GRN)')
        raise CheckpointError(
            f'{source} is a ConvNeXt {ckpt_kind} checkpoint but the backbone is ConvNeXt '
            f'{model_kind}. The checkpoint looks like {looks_like}: build the backbone '
            f'with that arch (V2 names are v2-atto ... v2-huge; custom dicts take v2=True).')
    for key, tensor in state.items():
        if key not in own:
            raise CheckpointError(
                f'{source} does not fit this backbone: it has {key!r}, which the backbone '
                f'(depths {model.depths}, dims {model.dims}) lacks. The checkpoint looks '
                f'like {looks_like}.')
        if own[key].shape != tensor.shape:
            raise CheckpointError(
                f'{source} does not fit this backbone: {key!r} has shape '
                f'{tuple(tensor.shape)} in the checkpoint but {tuple(own[key].shape)} in '
                f'the backbone (depths {model.depths}, dims {model.dims}). The checkpoint '
                f'looks like {looks_like}.')
    missing = [k for k in own if k not in state]
    not_norms = [k for k in missing if not _OUTPUT_NORM.match(k)]
    if not_norms:
        raise CheckpointError(
            f'{source} lacks backbone tensors: {_abbreviate(not_norms)}. The checkpoint '
            f'looks like {looks_like}; the backbone has depths {model.depths}, dims '
            f'{model.dims}.')
    return missing


def load_pretrained(model: nn.Module, path: str, logger: Optional[MMLogger] = None,
                    weights: Optional[str] = None, prefix: Optional[str] = None,
                    map_location='cpu') -> LoadReport:
    """Load a checkpoint of any known layout into ``model`` and log one summary.

    ``weights`` picks a weight set of a file that has several (``model_ema``, ...; the
    default is the non-EMA one); ``prefix`` loads only the tensors under it.
    """
    checkpoint = read_checkpoint(path, map_location)
    used, others = '', []
    if isinstance(checkpoint, dict):
        _, used, others = select_weights(checkpoint, path, weights, prefix)
    state, layout, ignored = backbone_state_from_checkpoint(checkpoint, path, weights, prefix)
    missing = check_compatible(model, state, path)
    model.load_state_dict(state, strict=False)
    report = LoadReport(path=str(path), layout=layout, weights=used, others=others,
                        loaded=list(state), ignored=ignored, missing=missing)
    print_log(report.summary(), logger=logger or 'current')
    return report
