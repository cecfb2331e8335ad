"""Convert any published ConvNeXt checkpoint to an mmengine checkpoint of the backbone, or
from it to the official, timm or Hugging Face layout.

    python tools/convert_checkpoint.py SRC DST [--arch tiny] [--verify]
        [--to mmengine|official|timm|hf]

SRC is any layout the loader reads. DST, by ``--to``:

- ``mmengine`` (default): ``{'state_dict': {'backbone.*': ...}, 'meta': {'source_layout',
  'arch', 'source'}}``, read by ``init_cfg=dict(type='Pretrained', checkpoint=DST)`` and
  mmengine's ``load_from``;
- ``official``: ``{'model': {...}}`` in facebookresearch names (with the per-stage
  norms, as the official detection checkpoints have them);
- ``timm``: a plain state dict in ``timm.models.convnext`` names (timm has no per-stage
  norms: they are dropped and reported); load with ``model.load_state_dict(sd,
  strict=False)`` (the classifier head is not in it);
- ``hf``: a plain state dict in transformers ``ConvNextModel`` / ``ConvNextV2Model``
  names (the per-stage norms as ``ConvNextBackbone``'s ``hidden_states_norms``).

``--verify`` reloads DST with this project's loader and checks its outputs against SRC's.
"""
import argparse
import sys

import torch

from convnext_backbone import (
    EXPORT_LAYOUTS,
    CheckpointError,
    ConvNeXtBackbone,
    backbone_state_from_checkpoint,
    check_compatible,
    describe_arch,
    export_container,
    from_backbone_names,
    infer_arch,
    known_layouts,
    load_pretrained,
    read_checkpoint,
)

from .arguments import arch_from_string


def convert(src, dst, arch=None, verify=False, to='mmengine', weights=None):
    state, layout, ignored = backbone_state_from_checkpoint(read_checkpoint(src), src,
                                                            weights)
    depths, dims, is_v2 = infer_arch(state)
    if arch is None:  # the checkpoint's own arch
        arch = dict(depths=depths, dims=dims, v2=is_v2)
    model = ConvNeXtBackbone(arch)
    missing = check_compatible(model, state, src)
    dropped = []
    if to == 'mmengine':
        torch.save({'state_dict': {f'backbone.{k}': v for k, v in state.items()},
                    'meta': {'source': str(src), 'source_layout': layout, 'arch': arch,
                             'weights': weights or 'default', 'ignored': ignored,
                             'missing': missing}}, dst)
    else:
        exported, dropped = from_backbone_names(state, to)
        container = export_container(to)
        torch.save({container: exported} if container else exported, dst)
    print(f'{src} ({layout}, looks like {describe_arch(depths, dims, is_v2)}) -> {dst} '
          f'({to}): {len(state) - len(dropped)} tensors, {len(ignored)} ignored, '
          f'{len(missing)} missing (kept at initialisation).')
    if dropped:
        print(f'  Dropped {len(dropped)} tensors the {to} layout has no place for (the '
              f'per-stage output norms): {", ".join(dropped)}')
    if verify:
        max_diff = verify_outputs(src, dst, arch, reset_norms=bool(dropped), weights=weights)
        print(f'verify: outputs of SRC and DST agree (max abs diff {max_diff:.2e})'
              + (' with both output norms at identity (DST has none)' if dropped else '')
              + '.')
    return arch


def verify_outputs(src, dst, arch, atol=1e-5, reset_norms=False, weights=None):
    """Load SRC and DST into fresh backbones and compare their outputs."""
    outputs = []
    for path, chosen in ((src, weights), (dst, None)):
        torch.manual_seed(0)  # the same initialisation of anything the files lack
        model = ConvNeXtBackbone(arch).eval()
        model.init_weights()
        load_pretrained(model, path, weights=chosen)
        if reset_norms:
            for i in range(4):
                getattr(model, f'norm{i}').reset_parameters()
        torch.manual_seed(0)
        with torch.no_grad():
            outputs.append(model(torch.randn(1, model.in_channels, 64, 64)))
    max_diff = max((a - b).abs().max().item() for a, b in zip(*outputs))
    if max_diff > atol:
        raise SystemExit(f'verify FAILED: outputs differ by {max_diff:.2e} (> {atol}).')
    return max_diff


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help=f'checkpoint in any layout the loader reads '
                        f'({known_layouts()})')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--arch', default=None,
                        help='expected arch name (e.g. tiny, v2-nano) or dict literal; '
                             'default: inferred from the checkpoint')
    parser.add_argument('--verify', action='store_true',
                        help='reload DST and check its outputs equal those of SRC')
    parser.add_argument('--weights', help='the weight set of a file that has several, e.g. '
                        'model_ema or state_dict_ema (default: the non-EMA one)')
    parser.add_argument('--to', choices=('mmengine',) + EXPORT_LAYOUTS, default='mmengine',
                        help='layout of DST (default: an mmengine checkpoint)')
    args = parser.parse_args(argv)
    try:
        convert(args.src, args.dst, args.arch and arch_from_string(args.arch), args.verify,
                args.to, args.weights)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        raise SystemExit(f'convert_checkpoint: error: {err}')


if __name__ == '__main__':
    sys.exit(main())
