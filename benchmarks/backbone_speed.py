"""Speed and memory of ConvNeXtBackbone against the official formulation (and timm).

    python benchmarks/backbone_speed.py                       # CPU, T, 1x3x512x512, fp32
    python benchmarks/backbone_speed.py --arch tiny --batch 2 --size 800 1216 \
        --dtype fp32 bf16 --memory-format contiguous channels_last --compile --with-cp \
        --device cuda --json results.json
    python benchmarks/backbone_speed.py --device cuda --dtype bf16 fp16 \
        --memory-format channels_last --compile     # the GPU comparison (timm if importable)

For every combination of arch, input size, batch, dtype (fp32, or bf16/fp16 autocast), memory
format, eager/compiled and with_cp, it measures after warm-up, taking medians:
forward-only throughput (no grad), forward+backward throughput, and peak memory of a
training step (CUDA max allocated on GPU; on CPU the peak resident-set growth, sampled
from /proc while the step runs). Each implementation gets the same weights, and the
outputs are checked against the baseline before anything is timed.

Implementations: ``ours`` (ConvNeXtBackbone), ``official`` (convnext_backbone/models/official.py:
hand-written channels-first LayerNorm, NCHW permutes, Linear pointwise layers) and, where
timm imports, ``timm`` (``convnext_*`` with ``features_only=True`` plus per-stage norms).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from convnext_backbone import ConvNeXtBackbone, OfficialConvNeXt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, label  # noqa: E402


class TimmWithNorms(nn.Module):
    """timm's features_only ConvNeXt plus per-stage LayerNorms, like a detection backbone."""

    def __init__(self, arch: str, dims):
        super().__init__()
        import timm
        self.body = timm.create_model(f'convnext_{arch}', features_only=True, pretrained=False)
        self.norms = nn.ModuleList(nn.LayerNorm(d, eps=1e-6) for d in dims)

    def forward(self, x):
        return [F.layer_norm(f.permute(0, 2, 3, 1), n.normalized_shape, n.weight, n.bias,
                             n.eps).permute(0, 3, 1, 2)
                for f, n in zip(self.body(x), self.norms)]


def build(impl: str, arch: str, with_cp: bool, state_dict=None):
    torch.manual_seed(0)
    ours = ConvNeXtBackbone(arch, layer_scale_init_value=1.0, with_cp=with_cp)
    if state_dict is not None:
        ours.load_state_dict(state_dict)
    if impl == 'ours':
        return ours
    if impl == 'official':
        model = OfficialConvNeXt(ours.depths, ours.dims, layer_scale=1.0,
                                 use_grn=ours.use_grn)
        model.load_state_dict(ours.state_dict())
        return model
    if impl == 'timm':
        return TimmWithNorms(arch, ours.dims)
    raise ValueError(impl)


def timm_available() -> bool:
    try:
        import timm  # noqa: F401
        return True
    except Exception:  # timm imports torchvision, which fails on some machines
        return False


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def autocast(device, dtype):
    if dtype in ('bf16', 'fp16'):
        low = torch.bfloat16 if dtype == 'bf16' else torch.float16
        return torch.autocast(device.type, dtype=low)
    return contextlib.nullcontext()


def make_steps(model, x, device, dtype):
    """``{'fwd': forward without grad, 'train': forward + backward}`` closures."""
    def forward_only():
        with torch.no_grad(), autocast(device, dtype):
            model.eval()
            model(x)

    def train_step():
        model.train()
        with autocast(device, dtype):
            outs = model(x)
            loss = sum(o.float().mean() for o in outs)
        loss.backward()
        for p in model.parameters():
            p.grad = None

    return {'fwd': forward_only, 'train': train_step}


def time_interleaved(variants, device, repeats, warmup):
    """Median ms per variant and mode; the variants take turns, so that drifting load on a
    shared machine hits all of them alike."""
    times = {name: {'fwd': [], 'train': []} for name in variants}
    for mode in ('fwd', 'train'):
        for steps in variants.values():
            for _ in range(warmup):
                steps[mode]()
        for _ in range(repeats):
            for name, steps in variants.items():
                sync(device)
                start = time.perf_counter()
                steps[mode]()
                sync(device)
                times[name][mode].append((time.perf_counter() - start) * 1000)
    return {name: {f'{mode}_ms': statistics.median(t) for mode, t in modes.items()}
            for name, modes in times.items()}


def peak_train_memory_mb(impl, arch, batch, h, w, dtype, fmt, with_cp, device) -> float:
    """Peak memory of one training step, in a fresh process on CPU (peak RSS growth)."""
    if device.type == 'cuda':
        model = build(impl, arch, with_cp).to(device)
        x = torch.randn(batch, 3, h, w, device=device)
        if fmt == 'channels_last':
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(
                memory_format=torch.channels_last)
        step = make_steps(model, x, device, dtype)['train']
        step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    code = (f'import sys; sys.argv = ["x"]; sys.path.insert(0, {str(Path(__file__).parent)!r})\n'
            f'from backbone_speed import _child_peak_rss\n'
            f'print(_child_peak_rss({impl!r}, {arch!r}, {batch}, {h}, {w}, {dtype!r}, '
            f'{fmt!r}, {with_cp}))')
    # A fixed mmap threshold makes glibc return freed tensors to the OS at once, so the
    # resident set follows the live tensors (the default threshold adapts and hoards).
    env = {**os.environ, 'MALLOC_MMAP_THRESHOLD_': '131072'}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


def _child_peak_rss(impl, arch, batch, h, w, dtype, fmt, with_cp) -> float:
    torch.manual_seed(0)
    model = build(impl, arch, with_cp)
    x = torch.randn(batch, 3, h, w)
    if fmt == 'channels_last':
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(
            memory_format=torch.channels_last)
    with open('/proc/self/statm') as f:
        before = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    make_steps(model, x, torch.device('cpu'), dtype)['train']()
    # VmHWM is this address space's high-water mark (ru_maxrss would carry over the
    # parent's peak through fork + exec).
    with open('/proc/self/status') as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmHWM'))
    return (peak - before) / 2 ** 20


def check_same_outputs(models, x, device, dtype):
    with torch.no_grad(), autocast(device, dtype):
        outs = {name: [o.float() for o in m.eval()(x)] for name, m in models.items()}
    ref = outs['official']
    tolerance = 1e-3 if dtype == 'fp32' else 0.1
    for name, out in outs.items():
        diff = max((a - b).abs().max().item() for a, b in zip(out, ref))
        if diff > tolerance:
            raise SystemExit(f'{name} differs from the official formulation by {diff:.2e}')
    return {name: max((a - b).abs().max().item() for a, b in zip(out, ref))
            for name, out in outs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', nargs='+', default=['tiny'])
    parser.add_argument('--size', nargs=2, type=int, action='append', metavar=('H', 'W'))
    parser.add_argument('--batch', nargs='+', type=int, default=[1])
    parser.add_argument('--dtype', nargs='+', default=['fp32'], choices=['fp32', 'bf16', 'fp16'],
                        help='fp32, or bf16 / fp16 autocast (fp16: as AmpOptimWrapper on CUDA)')
    parser.add_argument('--memory-format', nargs='+', default=['contiguous'],
                        choices=['contiguous', 'channels_last'])
    parser.add_argument('--compile', action='store_true', help='also torch.compile')
    parser.add_argument('--with-cp', action='store_true', help='also with_cp=True (ours)')
    parser.add_argument('--impl', nargs='+', default=['official', 'ours', 'timm'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--no-memory', action='store_true', help='skip peak memory')
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sizes = args.size or [(512, 512)]
    impls = [i for i in args.impl if i != 'timm' or timm_available()]
    rows = []
    for arch, (h, w), batch, dtype, fmt in itertools.product(
            args.arch, sizes, args.batch, args.dtype, args.memory_format):
        torch.manual_seed(0)
        reference = ConvNeXtBackbone(arch, layer_scale_init_value=1.0).state_dict()
        models = {impl: build(impl, arch, False, reference).to(device) for impl in impls}
        x = torch.randn(batch, 3, h, w, device=device)
        if fmt == 'channels_last':
            x = x.contiguous(memory_format=torch.channels_last)
            models = {k: m.to(memory_format=torch.channels_last) for k, m in models.items()}
        if 'official' in models:
            diffs = check_same_outputs({k: v for k, v in models.items() if k != 'timm'},
                                       x, device, dtype)
            print(f'outputs vs official ({dtype}): ' +
                  ', '.join(f'{k} {v:.1e}' for k, v in diffs.items()))
        variants = {(name, False, False): models[name] for name in models}
        if args.with_cp:
            variants[('ours', False, True)] = build('ours', arch, True, reference).to(device)
        if args.compile:
            variants.update({(name, True, False): torch.compile(m)
                             for name, m in models.items()})
        steps = {key: make_steps(m, x, device, dtype) for key, m in variants.items()}
        timings = time_interleaved(steps, device, args.repeats, args.warmup)
        for (name, compiled, with_cp), stats in timings.items():
            if not args.no_memory and not compiled:
                stats['peak_mb'] = peak_train_memory_mb(name, arch, batch, h, w, dtype, fmt,
                                                        with_cp, device)
            else:
                stats['peak_mb'] = float('nan')
            row = dict(impl=name, arch=arch, batch=batch, size=f'{h}x{w}', dtype=dtype,
                       memory_format=fmt, compiled=compiled, with_cp=with_cp,
                       fwd_img_s=batch * 1000 / stats['fwd_ms'],
                       train_img_s=batch * 1000 / stats['train_ms'], **stats)
            rows.append(row)
            print(f"{name:9s} {arch:6s} b{batch} {h}x{w} {dtype} {fmt:13s} "
                  f"{'compiled' if compiled else 'eager':8s} cp={int(with_cp)}  "
                  f"fwd {stats['fwd_ms']:8.1f} ms ({row['fwd_img_s']:7.2f} img/s)  "
                  f"fwd+bwd {stats['train_ms']:8.1f} ms ({row['train_img_s']:7.2f} img/s)  "
                  f"peak {stats['peak_mb']:8.1f} MB", flush=True)
    machine = describe()
    print(f'\nCPU: {label(machine)}')
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(device=str(device), machine=machine,
                                                   command=' '.join(sys.argv), rows=rows),
                                              indent=1))


def print_table(rows):
    """Markdown table with speed-ups against the official formulation of the same setting."""
    def key(r):
        return (r['arch'], r['batch'], r['size'], r['dtype'], r['memory_format'],
                r['compiled'])
    base = {key(r): r for r in rows if r['impl'] == 'official' and not r['with_cp']}
    print('\n| impl | arch | input | dtype | format | mode | with_cp | fwd img/s | '
          'fwd+bwd img/s | train peak MB | fwd x | fwd+bwd x |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        b = base.get(key(r))
        fx = f"{b['fwd_ms'] / r['fwd_ms']:.2f}" if b else '-'
        tx = f"{b['train_ms'] / r['train_ms']:.2f}" if b else '-'
        print(f"| {r['impl']} | {r['arch']} | {r['batch']}x3x{r['size']} | {r['dtype']} | "
              f"{r['memory_format']} | {'compiled' if r['compiled'] else 'eager'} | "
              f"{int(r['with_cp'])} | {r['fwd_img_s']:.2f} | {r['train_img_s']:.2f} | "
              f"{r['peak_mb']:.0f} | {fx} | {tx} |")


if __name__ == '__main__':
    main()
