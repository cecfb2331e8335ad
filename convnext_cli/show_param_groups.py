"""Print the parameter groups the optimizer of a config gets: lr multiplier, weight decay,
tensors and parameters per group.

    python tools/show_param_groups.py CONFIG [--cfg-options k=v ...]

The model is built on the meta device (no memory, no pretrained file needed) and the
config's own optimizer-wrapper constructor makes the groups, so what is printed is what
training uses: layer-wise / stage-wise lr decay, ``custom_keys``, no weight decay on norms,
biases, layer scales and GRN. A layer-decay setting that does not fit the backbone's depths
is reported.
"""
from __future__ import annotations

import argparse
import sys
from typing import List

import torch
from mmengine.config import Config, DictAction

from .arguments import inner_model, read_config
from .preflight import layer_decay_problem


def build_model_on_meta(cfg: Config):
    scope = cfg.get('default_scope', 'mmdet')
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    model_cfg = inner_model(cfg)
    model_cfg.backbone.pop('init_cfg', None)
    with torch.device('meta'):
        return MODELS.build(model_cfg)


def param_groups(cfg: Config) -> List[dict]:
    """``[{name, lr, lr_mult, weight_decay, tensors, params, first, last}]`` per group."""
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
    model = build_model_on_meta(cfg)
    optim = cfg.optim_wrapper.to_dict() if hasattr(cfg.optim_wrapper, 'to_dict') \
        else dict(cfg.optim_wrapper)
    constructor = optim.pop('constructor', 'DefaultOptimWrapperConstructor')
    paramwise = optim.pop('paramwise_cfg', None)
    if optim.get('type') == 'AmpOptimWrapper':  # needs CUDA; the groups are the same
        optim = {k: v for k, v in optim.items() if k not in ('loss_scale', 'dtype', 'use_fsdp')}
    optim['type'] = 'OptimWrapper'
    wrapper = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=constructor, optim_wrapper_cfg=optim, paramwise_cfg=paramwise))(model)
    names = {id(p): n for n, p in model.named_parameters()}
    base_lr = optim['optimizer']['lr']
    rows = []
    for i, group in enumerate(wrapper.optimizer.param_groups):
        members = [names[id(p)] for p in group['params']]
        if not members:
            continue
        rows.append(dict(name=group.get('group_name', f'group {i}'), lr=group['lr'],
                         lr_mult=group['lr'] / base_lr, weight_decay=group['weight_decay'],
                         tensors=len(members),
                         params=sum(p.numel() for p in group['params']),
                         first=members[0], last=members[-1]))
    return rows


def render(rows: List[dict]) -> str:
    lines = [f'{"group":<26} {"lr x":>8} {"lr":>10} {"wd":>6} {"tensors":>7} '
             f'{"params":>11}  first .. last parameter']
    for r in rows:
        lines.append(f'{r["name"][:26]:<26} {r["lr_mult"]:>8.4f} {r["lr"]:>10.3g} '
                     f'{r["weight_decay"]:>6g} {r["tensors"]:>7d} {r["params"]:>11,d}  '
                     f'{r["first"]} .. {r["last"]}')
    total = sum(r['params'] for r in rows)
    lines.append(f'{len(rows)} groups, {sum(r["tensors"] for r in rows)} tensors, '
                 f'{total:,d} parameters.')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.arch=small')
    args = parser.parse_args(argv)
    cfg = read_config(args.config, 'show_param_groups.py')
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    problem = layer_decay_problem(cfg)
    rows = param_groups(cfg)
    print(f'{args.config}: constructor {cfg.optim_wrapper.get("constructor", "default")}, '
          f'paramwise_cfg {dict(cfg.optim_wrapper.get("paramwise_cfg") or {})}')
    print(render(rows))
    if problem:
        print(f'WARNING: {problem}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
