"""Export the backbone to ONNX (dynamic batch and spatial size) and check it with onnxruntime.

    python tools/export_onnx.py --arch tiny [--checkpoint CKPT] --out convnext_t.onnx

The graph takes ``input`` (N, 3, H, W) with H, W >= 32 and returns ``stage{i}`` for each
of ``--out-indices``. After export, onnxruntime runs it on inputs of other sizes than the
one traced and the outputs are compared with PyTorch's (``--atol``, default 1e-4).
"""
import argparse
import sys

import numpy as np
import torch

from convnext_backbone import ConvNeXtBackbone, load_pretrained

CHECK_SHAPES = ((1, 3, 224, 224), (2, 3, 160, 256), (1, 3, 100, 70))


def export(model: ConvNeXtBackbone, path: str, example_hw=(224, 224)) -> None:
    x = torch.randn(2, model.in_channels, *example_hw)
    batch = torch.export.Dim('batch', min=1, max=1024)
    height = torch.export.Dim('height', min=32, max=8192)
    width = torch.export.Dim('width', min=32, max=8192)
    torch.onnx.export(model, (x,), path, input_names=['input'],
                      output_names=[f'stage{i}' for i in model.out_indices],
                      dynamic_shapes={'x': {0: batch, 2: height, 3: width}},
                      dynamo=True, external_data=False)


def check(model: ConvNeXtBackbone, path: str, shapes=CHECK_SHAPES) -> float:
    """Max abs difference between onnxruntime and PyTorch over ``shapes``."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    worst = 0.0
    for shape in shapes:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = [o.numpy() for o in model(x)]
        got = session.run(None, {'input': x.numpy()})
        if len(got) != len(expected):
            raise SystemExit(f'{path} gives {len(got)} outputs, the backbone {len(expected)} '
                             f'(out_indices {list(model.out_indices)}): re-export it.')
        for e, g in zip(expected, got):
            if e.shape != g.shape:
                raise SystemExit(f'shape mismatch at input {shape}: {g.shape} vs {e.shape}')
            worst = max(worst, float(np.abs(e - g).max()))
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--checkpoint', help='any layout the loader takes')
    parser.add_argument('--out-indices', type=int, nargs='+', default=[0, 1, 2, 3])
    parser.add_argument('--out', default='convnext_backbone.onnx')
    parser.add_argument('--atol', type=float, default=1e-4)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = ConvNeXtBackbone(args.arch, out_indices=args.out_indices)
    model.init_weights()
    if args.checkpoint:
        load_pretrained(model, args.checkpoint)
    model.eval()
    export(model, args.out)
    diff = check(model, args.out)
    status = 'OK' if diff <= args.atol else 'FAILED'
    print(f'{args.out}: onnxruntime vs PyTorch on inputs {list(CHECK_SHAPES)}: '
          f'max abs diff {diff:.2e} (atol {args.atol}) {status}')
    return 0 if diff <= args.atol else 1


if __name__ == '__main__':
    sys.exit(main())
