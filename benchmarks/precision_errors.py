"""Relative errors of reduced precision against the official formulation in fp32.

    python benchmarks/precision_errors.py [--portable]

Model ``dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])``, 2x3x128x128 input, loss = the
sum of the four outputs times fixed random tensors (times 64, as a loss scaler would).
For each layer-scale setting and precision mode it prints the relative (L2) error against
the fp32 gradients of the official formulation, for ``ConvNeXtBackbone`` and for the
official formulation run in the same mode, plus the worst ratio over every parameter's
gradient and every output (the test's bound: ours <= 1.5 x official + 1e-3).
"""
import argparse
import contextlib
import copy

import torch

from convnext_backbone import ConvNeXtBackbone, OfficialConvNeXt

ARCH = dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])
SHOWN = ('stages.0.0.pwconv1.weight', 'stages.0.0.dwconv.weight')


def models(gammas, cpu_kernels):
    torch.manual_seed(0)
    ours = ConvNeXtBackbone(ARCH, cpu_kernels=cpu_kernels)  # V1: gamma 1e-6
    if gammas == 'trained':
        with torch.no_grad():
            for name, param in ours.named_parameters():
                if name.endswith('.gamma'):
                    param.copy_(10 ** torch.empty_like(param).uniform_(-4, 0))
    official = OfficialConvNeXt(ours.depths, ours.dims, layer_scale=1.0)
    official.load_state_dict(ours.state_dict())
    return ours, official


def run(model, mode, x, projections):
    model = copy.deepcopy(model).train()
    context = contextlib.nullcontext()
    if mode in ('half', 'bfloat16'):
        model, x = getattr(model, mode)(), getattr(x, mode)()
    elif mode != 'fp32':
        dtype = torch.float16 if mode == 'autocast fp16' else torch.bfloat16
        context = torch.autocast('cpu', dtype=dtype)
    with context:
        loss = sum((o.float() * p).sum() for o, p in zip(model(x), projections))
    (loss * 64).backward()
    with torch.no_grad(), context:
        outs = [o.float() for o in model(x)]
    grads = {n: p.grad.float() / 64 for n, p in model.named_parameters()}
    return outs, grads


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--portable', action='store_true', help='cpu_kernels=False')
    args = parser.parse_args(argv)
    print('| layer-scale gamma | precision | gradient | rel. error: ours | official order |'
          ' worst ours / (1.5 official + 1e-3) |')
    print('|---|---|---|---|---|---|')
    for gammas, label in (('init', '1e-6 (V1 default)'), ('trained', '10^U(-4, 0)')):
        ours, official = models(gammas, not args.portable)
        torch.manual_seed(1)
        x = torch.randn(2, 3, 128, 128)
        with torch.no_grad():
            projections = [torch.randn(o.shape) for o in official(x)]
        ref_outs, ref = run(official, 'fp32', x, projections)
        for mode in ('autocast fp16', 'autocast bf16', 'half', 'bfloat16'):
            off_outs, off = run(official, mode, x, projections)
            our_outs, mine = run(ours, mode, x, projections)
            worst = max(
                [rel(mine[n], ref[n]) / (1.5 * rel(off[n], ref[n]) + 1e-3) for n in ref]
                + [rel(a, r) / (1.5 * rel(b, r) + 1e-3)
                   for a, b, r in zip(our_outs, off_outs, ref_outs)])
            for name in SHOWN:
                print(f'| {label} | {mode} | `{name}` | {rel(mine[name], ref[name]):.2g} | '
                      f'{rel(off[name], ref[name]):.2g} | {worst:.2f} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
