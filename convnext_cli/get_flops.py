"""Parameters and FLOPs (multiply-adds, as papers count them) with mmengine's counter.

    python tools/get_flops.py --arch tiny --shape 224 224         # the backbone alone
    python tools/get_flops.py CONFIG --shape 800 1333              # a config's backbone + neck
    python tools/get_flops.py CONFIG --whole [--shape 800 1280]    # the whole model

``--whole`` counts what the official detection and segmentation READMEs count (mmdet/mmseg
2.x ``forward_dummy``): for detectors the backbone, neck, RPN head and the RoI heads on
1000 fixed proposals (the mask heads on the first 100; in Cascade every stage on the same
proposals); for segmentors the backbone and the decode head (not the auxiliary head).
Parameters are those of the whole model, auxiliary head included. Without ``--shape`` it
uses the input the published number was measured at (``configs/metafile.yml``: 1280x800
for COCO, 2048x512 / 2560x640 for ADE20K). Mask2Former: the backbone, pixel decoder and
transformer decoder; DINO: backbone, neck, transformer and box head (no published counts
to match; the deformable attention's sampling, ``grid_sample``, is not counted, as
RoIAlign is not). Counting uses
``mmengine.analysis.FlopAnalyzer`` (fvcore's jit-trace counter: one multiply-add is one
flop; RoIAlign is not counted, as in mmcv's old counter). Counting is made cheap without
changing a count (``whole_gflops``): weights are not initialised, the backbone is counted
at a fraction of the input's side and the RoI heads on a few RoIs, each scaled exactly.
"""
import argparse
import inspect
import math
import os.path as osp

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.structures import BaseDataElement
from torch import nn

from convnext_backbone import ConvNeXtBackbone

from .arguments import arch_from_string, inner_model, read_config
from .model_zoo import load_models

NUM_PROPOSALS = 1000
NUM_MASK_PROPOSALS = 100
SAMPLE_ROIS = 10  # divides both numbers, so the scaled RoI-head counts are exact


class ExtractFeat(nn.Module):
    """A detector's or segmentor's backbone + neck as one module to trace."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.extract_feat(x)


class WholeDetector(nn.Module):
    """A two-stage detector as mmdet 2.x's ``forward_dummy`` ran it: fixed proposals, the
    box heads on ``num_rois`` of them and the mask heads on the first ``num_mask_rois``."""

    def __init__(self, model: nn.Module, num_rois: int = NUM_PROPOSALS,
                 num_mask_rois: int = NUM_MASK_PROPOSALS):
        super().__init__()
        self.model = model
        self.num_rois = num_rois
        self.num_mask_rois = num_mask_rois

    def forward(self, x):
        from mmdet.structures.bbox import bbox2roi
        feats = self.model.extract_feat(x)
        rpn_outs = self.model.rpn_head(feats)
        generator = torch.Generator().manual_seed(0)
        h, w = x.shape[-2:]
        corner = torch.rand(self.num_rois, 2, generator=generator) * x.new_tensor(
            [0.8 * w, 0.8 * h])
        size = torch.rand(self.num_rois, 2, generator=generator) * x.new_tensor(
            [0.2 * w, 0.2 * h]) + 8
        rois = bbox2roi([torch.cat([corner, corner + size], 1)])
        head = self.model.roi_head
        stages = [(i,) for i in range(head.num_stages)] if hasattr(head, 'num_stages') else [()]
        outs = [head._bbox_forward(*stage, feats, rois)['cls_score'] for stage in stages]
        if head.with_mask:
            outs += [head._mask_forward(*stage, feats, rois[:self.num_mask_rois])['mask_preds']
                     for stage in stages]
        return rpn_outs, outs


class WholeSegmentor(nn.Module):
    """An encoder-decoder segmentor's backbone and decode head (mmseg 2.x's count)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.decode_head(self.model.extract_feat(x))


class WholeQueryModel(nn.Module):
    """A query-based model for one image: Mask2Former (mmdet's ``panoptic_head``, mmseg's
    ``decode_head``: backbone, pixel decoder, transformer decoder) or a DETR-style detector
    (DINO: backbone, neck, transformer encoder and decoder, box head; mmdet's
    ``_forward``, in eval mode, so without the training-only denoising queries)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        head = query_head(self.model)
        h, w = x.shape[-2:]
        sample = BaseDataElement(metainfo=dict(img_shape=(h, w), pad_shape=(h, w),
                                               batch_input_shape=(h, w)))
        if head is None:  # DETR-style
            return self.model._forward(x, [sample])
        return head(self.model.extract_feat(x), [sample])


def query_head(model: nn.Module):
    """The head of ``model`` that needs the data samples in its forward (Mask2Former's),
    or None."""
    head = getattr(model, 'panoptic_head', None) or getattr(model, 'decode_head', None)
    if head is not None and 'batch_data_samples' in inspect.signature(head.forward).parameters:
        return head
    return None


def backbone_complexity(arch, shape=(224, 224)):
    """``(gflops, mparams)`` of the backbone for one ``3 x H x W`` image."""
    return complexity(ConvNeXtBackbone(arch).eval(), shape)


def complexity(model: nn.Module, shape, params_of: nn.Module = None):
    """``(gflops, mparams)``: FLOPs of ``model`` on one image, parameters of ``params_of``."""
    flops = flops_by_module(model, shape)['']
    params = sum(p.numel() for p in (params_of or model).parameters())
    return flops / 1e9, params / 1e6


def flops_by_module(model: nn.Module, shape) -> dict:
    """FLOPs of ``model`` on one ``3 x H x W`` image, per module name ('' is the total)."""
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (x,))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analyzer.by_module()


class FixedFeatures(nn.Module):
    """Stands in for a backbone: zero feature maps of the shapes it would return."""

    def __init__(self, shapes):
        super().__init__()
        self.shapes = shapes

    def forward(self, x):
        return tuple(x.new_zeros(shape) for shape in self.shapes)


def output_shapes(module: nn.Module, shape) -> list:
    """The shapes of ``module``'s outputs for one ``3 x H x W`` image, computed on the meta
    device (no arithmetic)."""
    meta = {name: torch.empty_like(t, device='meta')
            for name, t in [*module.named_parameters(), *module.named_buffers()]}
    outs = torch.func.functional_call(module, meta, (torch.empty(1, 3, *shape, device='meta'),))
    return [tuple(out.shape) for out in outs]


def whole_gflops(model: nn.Module, shape, num_rois: int = NUM_PROPOSALS,
                 num_mask_rois: int = NUM_MASK_PROPOSALS) -> float:
    """GFLOPs of ``WholeSegmentor(model)`` or ``WholeDetector(model, num_rois,
    num_mask_rois)`` on one image, counted
    in two parts, each exactly and cheaply. The backbone at 1/k of each side, times k²:
    each of its maps is the input at a fixed stride, so its FLOPs scale with the pixels
    when both sides are multiples of 32k. The rest on zero features of the backbone's
    output shapes; for detectors the RoI heads on ``SAMPLE_ROIS`` RoIs, scaled, as each of
    their layers works on one RoI at a time."""
    assert num_rois % SAMPLE_ROIS == 0 and num_mask_rois % SAMPLE_ROIS == 0
    height, width = shape
    k = math.gcd(height // 32, width // 32) if height % 32 == width % 32 == 0 else 1
    backbone = model.backbone
    flops = flops_by_module(backbone, (height // k, width // k))[''] * k * k
    model.backbone = FixedFeatures(output_shapes(backbone, shape))
    try:
        if query_head(model) is not None or hasattr(model, 'forward_transformer'):
            flops += flops_by_module(WholeQueryModel(model), shape)['']
        elif hasattr(model, 'decode_head'):
            flops += flops_by_module(WholeSegmentor(model), shape)['']
        else:
            counts = flops_by_module(WholeDetector(model, SAMPLE_ROIS, SAMPLE_ROIS), shape)
            box = counts.get('model.roi_head.bbox_head', 0)
            mask = counts.get('model.roi_head.mask_head', 0)
            flops += (counts[''] - box - mask + box * (num_rois // SAMPLE_ROIS)
                      + mask * (num_mask_rois // SAMPLE_ROIS))
    finally:
        model.backbone = backbone
    return flops / 1e9


def build_model(path):
    """The detector or segmentor of a config, in eval mode, its weights zeros: built on the
    meta device and then allocated, since counting needs shapes, not values."""
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    cfg = read_config(path, 'get_flops.py')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = inner_model(cfg)
    model_cfg.backbone.pop('init_cfg', None)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    model = model.to_empty(device='cpu').eval()
    for tensor in [*model.parameters(), *model.buffers()]:
        tensor.detach().zero_()
    return model


def build_from_config(path):
    """Backbone + neck of a config, as one module to trace."""
    return ExtractFeat(build_model(path))


def whole_model_complexity(path, shape=None):
    """``(gflops, mparams, (H, W))`` of a config's whole model, counted as published."""
    if shape is None:
        shape = published_input(path)
    model = build_model(path)
    mparams = sum(p.numel() for p in model.parameters()) / 1e6
    return whole_gflops(model, shape), mparams, tuple(shape)


def published_input(path):
    """``(H, W)`` at which the metafile's whole-model FLOPs of a config were measured."""
    name = osp.splitext(osp.basename(path))[0]
    for model in load_models():
        if model['Name'] == name and 'Input' in model['Metadata']:
            w, h = (int(v) for v in model['Metadata']['Input'].split('x'))
            return h, w
    raise SystemExit(f'{path} has no published input size in configs/metafile.yml; '
                     f'pass --shape H W.')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='a config (default: the backbone alone)')
    parser.add_argument('--arch', default='tiny', help='backbone arch without a config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: 224 224; with --whole, the published one)')
    parser.add_argument('--whole', action='store_true',
                        help='count the whole model as the official READMEs do')
    args = parser.parse_args(argv)
    if args.config and args.whole:
        gflops, mparams, shape = whole_model_complexity(args.config, args.shape)
        what = f'{args.config} (whole model)'
    else:
        shape = tuple(args.shape or (224, 224))
        if args.config:
            model, what = build_from_config(args.config), f'{args.config} (backbone + neck)'
        else:
            model = ConvNeXtBackbone(arch_from_string(args.arch)).eval()
            what = f'ConvNeXt {args.arch} backbone'
        gflops, mparams = complexity(model, shape)
    print(f'{what}, input 3x{shape[0]}x{shape[1]}: {gflops:.2f} GFLOPs '
          f'(multiply-adds), {mparams:.2f} M parameters')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
