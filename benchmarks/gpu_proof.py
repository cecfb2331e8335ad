"""The GPU proof: one command for a short GPU window (about 8 minutes of run time).

On the GPU machine (after ``tools/prepare_gpu_proof.sh`` here, which fetches the wheels):

    bash benchmarks/run_gpu_proof.sh OUT_DIR            # installs .gpu_wheels, then:
    python benchmarks/gpu_proof.py --out OUT_DIR [--budget-s 420]

CPU dry run (seconds; every field the GPU run fills, run by ``make test``):

    python benchmarks/gpu_proof.py --device cpu --quick --out DIR

In order of value, each phase writing ``OUT_DIR/gpu_proof.json`` and ``gpu_proof.md`` as
it ends (a run cut short keeps what it measured):

1. ``pytest -m cuda`` on ``tests/test_cuda.py``: each test's outcome;
2. eager timings of ConvNeXt-T (and -B after the compiled throughput input): ours, the
   official formulation and timm's ``features_only`` model (plus per-stage norms), forward
   and forward+backward, at 128x3x224x224 (the papers' throughput setting) and
   2x3x800x1216 (detection), in fp32, TF32, AMP fp16 and AMP bf16, contiguous and
   channels_last (CUDA events, warm-up, medians);
3. peak CUDA memory of a detection-scale training step with and without ``with_cp``;
4. feature extraction (``tools/extract_features.py``'s ``extract``) against the backbone's
   forward alone, images per second;
5. a profile of the detection input's AMP bf16 steps and its fp32 steps on a contiguous
   model (ours, official, timm; top kernels);
6. ``torch.compile`` of each implementation under AMP bf16, channels_last (compile time,
   graph breaks, timings): the throughput input after ConvNeXt-T's eager phases, the
   detection input last.

A measurement that would start after ``--budget-s`` is recorded as skipped, with why.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'benchmarks')]

import backbone_speed  # noqa: E402
from backbone_speed import timm_available  # noqa: E402
from kernels_seen import kernels_seen  # noqa: E402
from machine import describe  # noqa: E402

from convnext_backbone import ConvNeXtBackbone  # noqa: E402

#: Numeric modes: (autocast dtype or None, TF32 allowed).
MODES = {'fp32': (None, False), 'tf32': (None, True),
         'amp_fp16': (torch.float16, False), 'amp_bf16': (torch.bfloat16, False)}
FORMATS = ('contiguous', 'channels_last')
IMPLS = ('ours', 'official', 'timm')
#: Full run: (name, N, H, W). The papers' throughput setting and a detection input.
SHAPES = {'cls': (128, 224, 224), 'det': (2, 800, 1216)}
QUICK_SHAPES = {'cls': (2, 64, 64), 'det': (1, 64, 96)}
ARCHS = ('tiny', 'base')
#: The dry run's arch: ConvNeXt's structure at a fraction of T's cost.
QUICK_ARCHS = ('quick',)
ARCH_SPECS = {'quick': dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])}


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def set_mode(mode: str) -> contextlib.AbstractContextManager:
    dtype, tf32 = MODES[mode]
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return contextlib.nullcontext() if dtype is None else torch.autocast(DEVICE.type, dtype=dtype)


def backbone(arch: str, **kwargs) -> ConvNeXtBackbone:
    return ConvNeXtBackbone(ARCH_SPECS.get(arch, arch), layer_scale_init_value=1.0, **kwargs)


def build(impl: str, arch: str, state: dict, with_cp: bool = False) -> torch.nn.Module:
    return backbone_speed.build(impl, ARCH_SPECS.get(arch, arch), with_cp, state)


def sync():
    backbone_speed.sync(DEVICE)


def timed(fn, repeats: int) -> float:
    """Median milliseconds of ``fn`` (CUDA events on the GPU, perf_counter on the CPU)."""
    times = []
    for _ in range(repeats):
        if DEVICE.type == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def steps(model, x, mode):
    def fwd():
        with torch.no_grad(), set_mode(mode):
            model(x)

    def train():
        with set_mode(mode):
            loss = sum(o.float().mean() for o in model(x))
        loss.backward()
        for p in model.parameters():
            p.grad = None
    return fwd, train


def measure(model, x, mode, warmup: int, min_repeats: int, target_s: float) -> dict:
    row = {}
    for name, fn in zip(('fwd', 'train'), steps(model, x, mode)):
        model.train(name == 'train')
        t0 = time.perf_counter()
        fn()
        sync()
        first = time.perf_counter() - t0
        for _ in range(warmup):
            fn()
        sync()
        estimate = timed(fn, 1)
        repeats = max(min_repeats, min(20, math.ceil(target_s * 1000 / max(estimate, 1e-3))))
        ms = timed(fn, repeats)
        row[f'{name}_ms'] = ms
        row[f'{name}_img_s'] = x.shape[0] * 1000 / ms
        row[f'{name}_first_call_s'] = first
        row[f'{name}_repeats'] = repeats
        # one more untimed call, observed: which CPU-only kernels ran (none on CUDA)
        row['cpu_kernel_calls'] = row.get('cpu_kernel_calls', 0) + sum(kernels_seen(fn).values())
    return row


class Proof:
    def __init__(self, args):
        self.args, self.out = args, Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.budget = Budget(args.budget_s)
        self.quick = args.quick
        self.shapes = QUICK_SHAPES if self.quick else SHAPES
        self.archs = QUICK_ARCHS if self.quick else tuple(args.archs or ARCHS)
        self.modes = tuple(args.modes or MODES)
        self.impls = tuple(args.impls or IMPLS)
        # The dry run traces (dynamo, AOT autograd, graph breaks) without generating code.
        self.compile_backend = 'aot_eager' if self.quick else 'inductor'
        self.timm = timm_available()
        self.data = dict(command=' '.join(sys.argv), device=str(DEVICE), quick=self.quick,
                         budget_s=args.budget_s, machine=describe(), timm=self._timm_version(),
                         phases={}, pytest_cuda=[], timings=[], compiled=[], memory=[],
                         extraction=[], findings=[])
        self.started = time.monotonic()

    def _timm_version(self):
        if not timm_available():
            return None
        import timm
        return timm.__version__

    def save(self):
        self.data['elapsed_s'] = round(time.monotonic() - self.started, 1)
        (self.out / 'gpu_proof.json').write_text(json.dumps(self.data, indent=1))
        (self.out / 'gpu_proof.md').write_text(markdown(self.data))

    def phase(self, name, fn):
        t0 = time.monotonic()
        status = 'done'
        try:
            fn()
        except Exception as err:  # record and go on: the other phases are still worth it
            import traceback
            status = f'failed: {type(err).__name__}: {err}'
            self.data['findings'].append(f'{name}: {status}')
            traceback.print_exc()
        self.data['phases'][name] = dict(status=status, seconds=round(time.monotonic() - t0, 1))
        print(f'== {name}: {status} ({time.monotonic() - t0:.0f} s; '
              f'{self.budget.left():.0f} s of budget left)', flush=True)
        self.save()

    # 1 -----------------------------------------------------------------------------------
    def pytest_cuda(self):
        junit = self.out / 'pytest_cuda.xml'
        cmd = [sys.executable, '-m', 'pytest', '-m', 'cuda', '-q', '-p', 'no:cacheprovider',
               f'--junitxml={junit}', 'tests/test_cuda.py']
        timeout = max(30.0, min(240.0, self.budget.left() * 0.4))
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            tail = (proc.stdout + proc.stderr)[-3000:]
        except subprocess.TimeoutExpired as err:
            tail = f'timed out after {timeout:.0f} s\n' + str(err.stdout or '')[-2000:]
        print(tail, flush=True)
        self.data['pytest_cuda_tail'] = tail
        if not junit.is_file():
            raise RuntimeError('pytest wrote no report')
        for case in ET.parse(junit).getroot().iter('testcase'):
            outcome, message = 'passed', ''
            for kind in ('failure', 'error', 'skipped'):
                node = case.find(kind)
                if node is not None:
                    outcome = {'failure': 'failed', 'error': 'error'}.get(kind, kind)
                    message = (node.get('message') or '')[:500]
            self.data['pytest_cuda'].append(dict(test=case.get('name'), outcome=outcome,
                                                 seconds=float(case.get('time', 0)),
                                                 message=message))
            if outcome in ('failed', 'error'):
                self.data['findings'].append(f"pytest -m cuda: {case.get('name')} {outcome}")

    # 2 -----------------------------------------------------------------------------------
    def eager(self, arch):
        state = backbone(arch).state_dict()
        for shape_name, (n, h, w) in self.shapes.items():
            x0 = torch.randn(n, 3, h, w, device=DEVICE)
            for fmt in FORMATS:
                x = x0.contiguous(memory_format=torch.channels_last) if fmt == FORMATS[1] else x0
                for impl in self.impls:
                    key = dict(arch=arch, shape=shape_name, input=f'{n}x3x{h}x{w}',
                               format=fmt, impl=impl, compiled=False)
                    if impl == 'timm' and (not self.timm or arch in ARCH_SPECS):
                        for mode in self.modes:
                            self.data['timings'].append(dict(key, mode=mode,
                                                             skipped='timm not importable'
                                                             if not self.timm else 'no timm arch'))
                        continue
                    model = build(impl, arch, state).to(DEVICE)
                    if fmt == 'channels_last':
                        model = model.to(memory_format=torch.channels_last)
                    for mode in self.modes:
                        row = dict(key, mode=mode)
                        if self.budget.left() < 5:
                            row['skipped'] = 'time budget'
                        else:
                            row.update(measure(model, x, mode, *self.reps))
                        self.data['timings'].append(row)
                        if 'skipped' not in row:
                            print(f"{arch} {shape_name} {fmt:13s} {mode:8s} {impl:8s} "
                                  f"fwd {row['fwd_img_s']:8.1f} img/s  "
                                  f"train {row['train_img_s']:8.1f} img/s", flush=True)
                    del model
                    if DEVICE.type == 'cuda':
                        torch.cuda.empty_cache()
        self.check_outputs(arch, state)

    def check_outputs(self, arch, state):
        """fp32 (TF32 off): ours against the official formulation on the detection input."""
        n, h, w = self.shapes['det']
        x = torch.randn(n, 3, h, w, device=DEVICE)
        with torch.no_grad(), set_mode('fp32'):
            a = build('ours', arch, state).to(DEVICE).eval()(x)
            b = build('official', arch, state).to(DEVICE).eval()(x)
        rel = max(((p - q).norm() / q.norm()).item() for p, q in zip(a, b))
        self.data.setdefault('equivalence', []).append(
            dict(arch=arch, input=f'{n}x3x{h}x{w}', max_relative_error_fp32=rel))
        if rel > 1e-4:
            self.data['findings'].append(f'{arch}: ours differs from official by {rel:.1e}')

    # 3 -----------------------------------------------------------------------------------
    def memory(self):
        n, h, w = self.shapes['det']
        for arch in self.archs:
            state = backbone(arch).state_dict()
            for mode in ('fp32', 'amp_fp16'):
                for with_cp in (False, True):
                    row = dict(arch=arch, input=f'{n}x3x{h}x{w}', mode=mode, with_cp=with_cp)
                    if self.budget.left() < 5:
                        self.data['memory'].append(dict(row, skipped='time budget'))
                        continue
                    model = build('ours', arch, state, with_cp=with_cp).to(DEVICE).train()
                    x = torch.randn(n, 3, h, w, device=DEVICE)
                    train = steps(model, x, mode)[1]
                    train()
                    sync()
                    if DEVICE.type == 'cuda':
                        torch.cuda.reset_peak_memory_stats()
                        base = torch.cuda.memory_allocated()
                    train()
                    sync()
                    peak = ((torch.cuda.max_memory_allocated() - base) / 2 ** 20
                            if DEVICE.type == 'cuda' else None)
                    row.update(peak_mib=peak, train_ms=timed(train, self.reps[1]))
                    self.data['memory'].append(row)
                    print(f'memory {row}', flush=True)
                    del model

    # 4 -----------------------------------------------------------------------------------
    def extraction(self):
        from dataclasses import replace

        import numpy as np
        from PIL import Image

        from convnext_cli.extract_features import ExtractionSettings, extract
        count, size, batch = (4, 64, 2) if self.quick else (512, 512, 32)
        arch = ARCH_SPECS.get(self.archs[0], self.archs[0])
        with tempfile.TemporaryDirectory() as tmp:
            images = Path(tmp) / 'images'
            images.mkdir()
            rng = np.random.default_rng(0)
            for i in range(count):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                    images / f'{i:05d}.jpg', quality=90)
            for amp in (None, 'bf16', 'fp16'):
                row = dict(images=count, size=size, batch=batch, amp=amp, dtype='float16')
                if DEVICE.type == 'cpu' and amp is not None:
                    self.data['extraction'].append(dict(row, skipped='CUDA autocast only'))
                    continue
                if self.budget.left() < 10:
                    self.data['extraction'].append(dict(row, skipped='time budget'))
                    continue
                out = Path(tmp) / f'out_{amp}'
                set_mode('fp32')  # TF32 off for the fp32 rows: extraction and forward alike
                workers = min(8, os.cpu_count() or 1)
                settings = ExtractionSettings(
                    inputs=(str(images),), out_dir=str(out), arch=arch, device=str(DEVICE),
                    batch_size=batch, workers=workers, amp=amp, dtype='float16')
                # first run: warm-up (cudnn, workers)
                extract(settings, log=lambda *_: None, progress=False)
                report = extract(replace(settings, overwrite=True), log=lambda *_: None,
                                 progress=False)
                model = ConvNeXtBackbone(arch).to(DEVICE).eval()
                x = torch.randn(batch, 3, size, size, device=DEVICE)
                mode = {None: 'fp32', 'bf16': 'amp_bf16', 'fp16': 'amp_fp16'}[amp]
                fwd = steps(model, x, mode)[0]
                fwd()
                sync()
                ms = timed(fwd, self.reps[1])
                row.update(workers=workers, extract_img_s=count / report['seconds'],
                           backbone_fwd_img_s=batch * 1000 / ms)
                row['ratio'] = row['extract_img_s'] / row['backbone_fwd_img_s']
                self.data['extraction'].append(row)
                print(f'extraction {row}', flush=True)

    # profile -----------------------------------------------------------------------------
    def profile(self):
        """The kernels behind the slowest comparisons seen at the detection input: AMP bf16
        (ours contiguous and channels_last, the official formulation and timm channels_last)
        and fp32 on a contiguous model, where the H200 runs measured ours (and timm) at
        0.81x the official formulation's training step."""
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile
        n, h, w = self.shapes['det']
        arch = self.archs[0]
        state = backbone(arch).state_dict()
        cases = [('ours', 'contiguous', 'amp_bf16'), ('ours', 'channels_last', 'amp_bf16'),
                 ('official', 'channels_last', 'amp_bf16'), ('timm', 'channels_last', 'amp_bf16'),
                 ('ours', 'contiguous', 'fp32'), ('official', 'contiguous', 'fp32'),
                 ('timm', 'contiguous', 'fp32')]
        activity = ProfilerActivity.CUDA if DEVICE.type == 'cuda' else ProfilerActivity.CPU
        self.data['profile'] = []
        for impl, fmt, mode in cases:
            if impl == 'timm' and (not self.timm or arch in ARCH_SPECS):
                continue
            for what in ('fwd', 'train'):
                model = build(impl, arch, state).to(DEVICE)
                x = torch.randn(n, 3, h, w, device=DEVICE)
                if fmt == 'channels_last':
                    model = model.to(memory_format=torch.channels_last)
                    x = x.contiguous(memory_format=torch.channels_last)
                fn = dict(zip(('fwd', 'train'), steps(model, x, mode)))[what]
                model.train(what == 'train')
                for _ in range(2):
                    fn()
                sync()
                with torch_profile(activities=[activity]) as prof:
                    for _ in range(3):
                        fn()
                    sync()
                events = []
                for e in prof.key_averages():
                    us = getattr(e, 'self_device_time_total', None)
                    if us is None or DEVICE.type == 'cpu':
                        us = e.self_cpu_time_total
                    events.append((us / 3, e.count // 3, e.key[:120]))
                events.sort(reverse=True)
                top = [dict(us_per_step=round(us, 1), calls=c, kernel=k)
                       for us, c, k in events[:15]]
                total = sum(us for us, _, _ in events)
                self.data['profile'].append(dict(impl=impl, format=fmt, step=what, mode=mode,
                                                 input=f'{n}x3x{h}x{w}', arch=arch,
                                                 total_us=round(total, 1), top=top))
                print(f'profile {impl} {fmt} {mode} {what}: {total / 1000:.1f} ms/step; top: '
                      + '; '.join(f"{t['kernel'][:60]} {t['us_per_step']:.0f}us"
                                  for t in top[:6]), flush=True)
                del model

    # 5 -----------------------------------------------------------------------------------
    def compiled(self, shape_names):
        import torch._dynamo
        mode, fmt = ('amp_bf16', 'channels_last') if DEVICE.type == 'cuda' else ('fp32',
                                                                                 'contiguous')
        for arch in self.archs:
            state = backbone(arch).state_dict()
            for shape_name in shape_names:
                n, h, w = self.shapes[shape_name]
                x = torch.randn(n, 3, h, w, device=DEVICE)
                if fmt == 'channels_last':
                    x = x.contiguous(memory_format=torch.channels_last)
                for impl in self.args.compile_impls or self.impls:
                    row = dict(arch=arch, shape=shape_name, input=f'{n}x3x{h}x{w}',
                               format=fmt, impl=impl, compiled=True, mode=mode)
                    if impl == 'timm' and (not self.timm or arch in ARCH_SPECS):
                        self.data['compiled'].append(dict(row, skipped='timm not importable'
                                                          if not self.timm else 'no timm arch'))
                        continue
                    if self.budget.left() < (20 if self.quick else 90):
                        self.data['compiled'].append(dict(row, skipped='time budget'))
                        continue
                    torch._dynamo.reset()
                    torch._dynamo.utils.counters.clear()
                    model = build(impl, arch, state).to(DEVICE)
                    if fmt == 'channels_last':
                        model = model.to(memory_format=torch.channels_last)
                    compiled = torch.compile(model, backend=self.compile_backend)
                    row['backend'] = self.compile_backend
                    row.update(measure(compiled, x, mode, *self.reps))
                    row['graph_breaks'] = sum(torch._dynamo.utils.counters['graph_break'].values())
                    self.data['compiled'].append(row)
                    print(f"compiled {arch} {shape_name} {impl:8s} fwd {row['fwd_img_s']:8.1f} "
                          f"train {row['train_img_s']:8.1f} img/s (compile "
                          f"{row['fwd_first_call_s']:.0f}+{row['train_first_call_s']:.0f} s, "
                          f"{row['graph_breaks']} graph breaks)", flush=True)
                    if impl == 'ours' and row['graph_breaks']:
                        self.data['findings'].append(f'compile: ours has {row["graph_breaks"]} '
                                                     f'graph breaks')
                    del model, compiled

    def run(self):
        # (warm-up runs, minimum repeats, target seconds of timed runs per measurement)
        self.reps = (1, 2, 0.0) if self.quick else (2, 5, 0.3)
        if DEVICE.type == 'cuda':
            torch.backends.cudnn.benchmark = True
        phases = [('pytest_cuda', self.pytest_cuda),
                  (f'eager_{self.archs[0]}', lambda: self.eager(self.archs[0])),
                  ('memory', self.memory), ('extraction', self.extraction),
                  ('profile', self.profile),
                  ('compiled_cls', lambda: self.compiled(['cls']))]
        phases += [(f'eager_{arch}', functools.partial(self.eager, arch))
                   for arch in self.archs[1:]]
        if not self.quick:  # the dry run compiles once: it checks the plumbing
            phases.append(('compiled_det', lambda: self.compiled(['det'])))
        for name, fn in phases:
            if not self.args.phases or name in self.args.phases:
                self.phase(name, fn)
        self.summarise()
        self.save()
        print(markdown(self.data))

    def summarise(self):
        """Ours against the official formulation and timm, per setting: the findings."""
        rows = [r for r in self.data['timings'] + self.data['compiled'] if 'skipped' not in r]
        by_key = {}
        for r in rows:
            by_key.setdefault((r['arch'], r['shape'], r['format'], r['mode'], r['compiled']),
                              {})[r['impl']] = r
        ratios = []
        for key, impls in by_key.items():
            if 'ours' not in impls:
                continue
            for peer in ('official', 'timm'):
                if peer in impls:
                    for what in ('fwd', 'train'):
                        ratio = impls[peer][f'{what}_ms'] / impls['ours'][f'{what}_ms']
                        ratios.append(dict(arch=key[0], shape=key[1], format=key[2],
                                           mode=key[3], compiled=key[4], peer=peer, step=what,
                                           ours_over_peer=round(ratio, 3)))
                        if ratio < 0.95 and not self.quick:
                            self.data['findings'].append(
                                f'{what} slower than {peer}: {ratio:.2f}x at {key}')
        self.data['speed_ratios'] = ratios


def markdown(data: dict) -> str:
    m = data['machine']
    lines = [f"# GPU proof ({data['device']}{', quick dry run' if data['quick'] else ''})", '',
             f"{m.get('gpu', 'no GPU')}; torch {m['torch']}, CUDA {m.get('cuda')}, "
             f"cuDNN {m.get('cudnn')}, timm {data['timm']}; CPU {m['cpu']} "
             f"({m['cpu_capability']}). `{data['command']}`, {data.get('elapsed_s')} s.", '']
    tests = data['pytest_cuda']
    lines.append(f"pytest -m cuda: {sum(t['outcome'] == 'passed' for t in tests)} passed, "
                 f"{sum(t['outcome'] in ('failed', 'error') for t in tests)} failed, "
                 f"{sum(t['outcome'] == 'skipped' for t in tests)} skipped.")
    lines += ['', '| arch | input | format | mode | compiled | impl | fwd img/s | '
              'fwd+bwd img/s |', '|---|---|---|---|---|---|---|---|']
    for r in data['timings'] + data['compiled']:
        if 'skipped' in r:
            continue
        lines.append(f"| {r['arch']} | {r['input']} | {r['format']} | {r['mode']} | "
                     f"{'yes' if r['compiled'] else 'no'} | {r['impl']} | "
                     f"{r['fwd_img_s']:.1f} | {r['train_img_s']:.1f} |")
    if data['memory']:
        lines += ['', '| arch | input | mode | with_cp | peak MiB | step ms |',
                  '|---|---|---|---|---|---|']
        for r in data['memory']:
            if 'skipped' not in r:
                peak = 'n/a' if r['peak_mib'] is None else f"{r['peak_mib']:.0f}"
                lines.append(f"| {r['arch']} | {r['input']} | {r['mode']} | {r['with_cp']} | "
                             f"{peak} | {r['train_ms']:.1f} |")
    if data['extraction']:
        lines += ['', '| extraction amp | images | extract img/s | backbone fwd img/s | ratio |',
                  '|---|---|---|---|---|']
        for r in data['extraction']:
            if 'skipped' not in r:
                lines.append(f"| {r['amp']} | {r['images']}x{r['size']}^2 | "
                             f"{r['extract_img_s']:.1f} | {r['backbone_fwd_img_s']:.1f} | "
                             f"{r['ratio']:.2f} |")
    ratios = {}
    for r in data.get('speed_ratios', []):
        key = (r['arch'], r['shape'], r['format'], r['mode'], r['compiled'])
        ratios.setdefault(key, {})[(r['peer'], r['step'])] = r['ours_over_peer']
    if ratios:
        lines += ['', 'Ours over each peer (time ratio: >1 means ours is faster):', '',
                  '| arch | input | format | mode | compiled | fwd vs official | fwd+bwd vs '
                  'official | fwd vs timm | fwd+bwd vs timm |',
                  '|---|---|---|---|---|---|---|---|---|']
        for (arch, shape, fmt, mode, compiled), r in ratios.items():
            cells = [f"{r[k]:.2f}" if k in r else '-' for k in (
                ('official', 'fwd'), ('official', 'train'), ('timm', 'fwd'), ('timm', 'train'))]
            lines.append(f"| {arch} | {shape} | {fmt} | {mode} | {'yes' if compiled else 'no'} | "
                         + ' | '.join(cells) + ' |')
    lines += ['', 'Findings:' if data['findings'] else 'Findings: none.']
    lines += [f'- {f}' for f in data['findings']]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', help='folder for gpu_proof.json / .md')
    parser.add_argument('--table', metavar='JSON',
                        help='print the markdown tables of a saved gpu_proof.json and exit')
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--quick', action='store_true',
                        help='tiny inputs, one compile: the CPU dry run of every field')
    parser.add_argument('--budget-s', type=float, default=420.0,
                        help='no new measurement starts after this many seconds')
    parser.add_argument('--phases', nargs='+', help='run only these phases (names as printed)')
    parser.add_argument('--archs', nargs='+', help=f'default: {" ".join(ARCHS)}')
    parser.add_argument('--modes', nargs='+', choices=list(MODES))
    parser.add_argument('--impls', nargs='+', choices=list(IMPLS))
    parser.add_argument('--compile-impls', nargs='+', choices=list(IMPLS),
                        help='implementations to compile (default: --impls)')
    args = parser.parse_args(argv)
    if args.table:
        print(markdown(json.loads(Path(args.table).read_text())), end='')
        return
    if not args.out:
        parser.error('--out is required')
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('gpu_proof: no CUDA device here; for the CPU dry run use '
                         '--device cpu --quick')
    Proof(args).run()


DEVICE = torch.device('cpu')

if __name__ == '__main__':
    main()
