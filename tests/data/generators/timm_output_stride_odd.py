"""Writes convnext_v{1,2}/timm_output_stride_odd.pth: timm's dilated outputs on inputs whose
sides are not multiples of 32 (the shared fixture holds one 96x128 input only).

Run where timm is installed (not a dependency of this project), from tests/data:
    python generators/timm_output_stride_odd.py
Written with timm 1.0.31 and torch 2.14.1 (the file records both).
"""
import json
from pathlib import Path

import timm
import torch

HERE = Path(__file__).resolve().parents[1]
SIZES = [(97, 131), (75, 109)]  # odd sides, and sides that are not multiples of 8 either

for folder in ('convnext_v1', 'convnext_v2'):
    spec = json.loads((HERE / folder / 'spec.json').read_text())
    name = 'convnextv2_tiny' if spec['v2'] else 'convnext_tiny'
    weights = torch.load(HERE / folder / 'timm_features.pth', map_location='cpu')
    generator = torch.Generator().manual_seed(7)
    inputs = [torch.randn(1, 3, h, w, generator=generator) for h, w in SIZES]
    out = {'inputs': inputs, 'timm': timm.__version__, 'torch': str(torch.__version__),
           'weights': 'timm_features.pth'}
    for stride in (32, 16, 8):
        model = timm.create_model(name, features_only=True, out_indices=(0, 1, 2, 3),
                                  depths=spec['depths'], dims=spec['dims'],
                                  output_stride=stride, pretrained=False).eval()
        model.load_state_dict(weights, strict=True)
        with torch.no_grad():
            out[f'output_stride_{stride}'] = [[o.clone() for o in model(x)] for x in inputs]
    torch.save(out, HERE / folder / 'timm_output_stride_odd.pth')
    print(folder, {k: [[tuple(o.shape) for o in outs] for outs in v]
                   for k, v in out.items() if k.startswith('output_stride')})
