"""Parameters and FLOPs (multiply-adds, as papers count them) with mmengine's counter.

    python tools/get_flops.py --arch tiny --shape 224 224         # the backbone alone
    python tools/get_flops.py CONFIG --shape 800 1333              # a config's backbone + neck

For a config, the count covers ``model.extract_feat`` (backbone and neck); the RoI and
decode heads depend on the proposals and are left out. Counting uses
``mmengine.analysis.FlopAnalyzer`` (fvcore's jit-trace counter), which counts one
multiply-add as one flop.
"""
import argparse

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from torch import nn

from convnext_backbone import ConvNeXtBackbone


class ExtractFeat(nn.Module):
    """A detector's or segmentor's backbone + neck as one module to trace."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.extract_feat(x)


def backbone_complexity(arch, shape=(224, 224)):
    """``(gflops, mparams)`` of the backbone for one ``3 x H x W`` image."""
    return complexity(ConvNeXtBackbone(arch).eval(), shape)


def complexity(model: nn.Module, shape):
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (x,))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        flops = analyzer.total()
    return flops / 1e9, parameter_count(model)[''] / 1e6


def build_from_config(path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(path)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.get('module', cfg.model)
    model_cfg.backbone.pop('init_cfg', None)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return ExtractFeat(MODELS.build(model_cfg).eval())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='a config (default: the backbone alone)')
    parser.add_argument('--arch', default='tiny', help='backbone arch without a config')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    args = parser.parse_args(argv)
    if args.config:
        model, what = build_from_config(args.config), f'{args.config} (backbone + neck)'
    else:
        model, what = ConvNeXtBackbone(args.arch).eval(), f'ConvNeXt {args.arch} backbone'
    gflops, mparams = complexity(model, tuple(args.shape))
    print(f'{what}, input 3x{args.shape[0]}x{args.shape[1]}: {gflops:.2f} GFLOPs '
          f'(multiply-adds), {mparams:.2f} M parameters')


if __name__ == '__main__':
    main()
