"""Convert any published ConvNeXt checkpoint to an mmengine checkpoint of the backbone.

    python tools/convert_checkpoint.py SRC DST [--arch tiny] [--verify]

DST holds ``{'state_dict': {'backbone.*': ...}, 'meta': {'source_layout', 'arch', 'source'}}``,
which ``init_cfg=dict(type='Pretrained', checkpoint=DST)`` or mmengine's ``load_from``
read directly. Loading SRC itself works too; converting saves the layout detection
and gives one file to share.
"""
import argparse
import sys

import torch

from convnext_backbone import (
    CheckpointError,
    ConvNeXtBackbone,
    backbone_state_from_checkpoint,
    check_compatible,
    describe_arch,
    infer_arch,
    load_pretrained,
    read_checkpoint,
)

from .arguments import arch_from_string


def convert(src, dst, arch=None, verify=False):
    state, layout, ignored = backbone_state_from_checkpoint(read_checkpoint(src), src)
    depths, dims, is_v2 = infer_arch(state)
    if arch is None:  # the checkpoint's own arch
        arch = dict(depths=depths, dims=dims, v2=is_v2)
    model = ConvNeXtBackbone(arch)
    missing = check_compatible(model, state, src)
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in state.items()},
                'meta': {'source': str(src), 'source_layout': layout, 'arch': arch,
                         'ignored': ignored, 'missing': missing}}, dst)
    print(f'{src} ({layout}, looks like {describe_arch(depths, dims, is_v2)}) -> {dst}: '
          f'{len(state)} tensors, {len(ignored)} ignored, {len(missing)} missing '
          f'(kept at initialisation).')
    if verify:
        max_diff = verify_outputs(src, dst, arch)
        print(f'verify: outputs of SRC and DST agree (max abs diff {max_diff:.2e}).')
    return arch


def verify_outputs(src, dst, arch, atol=1e-5):
    """Load SRC and DST into fresh backbones and compare their outputs."""
    outputs = []
    for path in (src, dst):
        torch.manual_seed(0)  # the same initialisation of anything the files lack
        model = ConvNeXtBackbone(arch).eval()
        model.init_weights()
        load_pretrained(model, path)
        torch.manual_seed(0)
        with torch.no_grad():
            outputs.append(model(torch.randn(1, model.in_channels, 64, 64)))
    max_diff = max((a - b).abs().max().item() for a, b in zip(*outputs))
    if max_diff > atol:
        raise SystemExit(f'verify FAILED: outputs differ by {max_diff:.2e} (> {atol}).')
    return max_diff


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint in any layout (official, timm, '
                        'torchvision, mmpretrain; V1 or V2)')
    parser.add_argument('dst', help='output .pth (mmengine checkpoint)')
    parser.add_argument('--arch', default=None,
                        help='expected arch name (e.g. tiny, v2-nano) or dict literal; '
                             'default: inferred from the checkpoint')
    parser.add_argument('--verify', action='store_true',
                        help='reload DST and check its outputs equal those of SRC')
    args = parser.parse_args(argv)
    try:
        convert(args.src, args.dst, args.arch and arch_from_string(args.arch), args.verify)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        raise SystemExit(f'convert_checkpoint: error: {err}')


if __name__ == '__main__':
    sys.exit(main())
