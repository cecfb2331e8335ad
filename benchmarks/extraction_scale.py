"""Feature extraction at scale: peak memory and end-to-end speed against the backbone alone.

    python benchmarks/extraction_scale.py [--counts 500 2000] [--batch-size 8]
        [--workers 2] [--amp-images 256] [--amp-repeats 3] [--amp-only]
        [--work-dir /tmp/extraction_bench]

For each count, generates that many 640x480 JPEGs, runs ``tools/extract_features.py``
(ConvNeXt-T, the default maps) in a subprocess, and records the peak resident set of that
process (the kernel's high-water mark) and, sampled every second, the proportional set
size (PSS: shared pages counted once) of it and its DataLoader workers together. Then it
times the backbone's own forward pass on random 3x480x640 batches of the same size in
this process, with the machine otherwise idle. With ``--amp-images N`` it also extracts
N images with ``--amp bf16`` and reports the speed-up (the median over ``--amp-repeats``
pairs of runs) and the error against fp32
(``--amp-only``: only that, replacing it in the committed results). The default N, 256,
keeps the fixed costs of a run (building the model, starting the workers) small beside
the extraction itself.
Prints a table and writes the numbers to ``benchmarks/results/extraction_<device>.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from convnext_backbone import ConvNeXtBackbone
from convnext_cli.demo_data.drawing import make_demo_picture

ROOT = Path(__file__).resolve().parents[1]
SIZE = (480, 640)


def make_images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f'{i:05d}.jpg'
        if not path.exists():
            make_demo_picture(path, size=SIZE, seed=i)


def tree_pss_mib(pid: int) -> float:
    """PSS of a process and its descendants, in MiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            text = Path(f'/proc/{current}/smaps_rollup').read_text()
            total += int(re.search(r'^Pss:\s+(\d+) kB', text, re.M).group(1))
            for task in Path(f'/proc/{current}/task').iterdir():
                todo += [int(c) for c in (task / 'children').read_text().split()]
        except (OSError, AttributeError):
            continue
    return total / 1024


def run_extraction(images: Path, out: Path, batch_size: int, workers: int,
                   extra=()) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, str(ROOT / 'tools' / 'extract_features.py'), str(images),
               '--out-dir', str(out), '--arch', 'tiny', '--batch-size', str(batch_size),
               '--workers', str(workers), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT)
    peak = [0.0]

    def sample():  # reading smaps costs CPU time: once a second keeps it under 1%
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss_mib(proc.pid))
            time.sleep(1.0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    log = proc.communicate()[0]
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f'extraction failed:\n{log}')
    count = len(list(images.glob('*.jpg')))
    seconds = float(re.search(r' in ([\d.]+) s; peak', log).group(1))
    peak_rss = int(re.search(r'peak resident memory ([\d]+) MiB', log).group(1))
    return dict(images=count, peak_rss_mib=peak_rss, peak_tree_pss_mib=round(peak[0]),
                seconds=round(seconds, 1),
                images_per_s=round(count / seconds, 3), process_wall_s=round(wall, 1),
                disk_mib=round(sum(p.stat().st_size for p in out.rglob('*.npz')) / 2 ** 20))


def forward_only(batch_size: int, batches: int = 6) -> float:
    """Images/s of ConvNeXt-T's forward pass alone on random 3x480x640 batches."""
    torch.manual_seed(0)
    model = ConvNeXtBackbone('tiny').eval()
    x = torch.randn(batch_size, 3, *SIZE)
    with torch.inference_mode():
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
    return batch_size * batches / (time.perf_counter() - start)


def relative_errors(out_a: Path, out_b: Path) -> dict:
    """Largest per-image relative L2 error of each stage between two extractions."""
    worst = {}
    for path in sorted(out_a.rglob('*.npz')):
        with np.load(path) as a, np.load(out_b / path.relative_to(out_a)) as b:
            for key in (k for k in a if k.startswith('stage')):
                err = float(np.linalg.norm(a[key] - b[key]) / np.linalg.norm(b[key]))
                worst[key] = max(worst.get(key, 0.0), err)
    return {k: f'{v:.2e}' for k, v in sorted(worst.items())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--counts', type=int, nargs='+', default=[500, 2000])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--amp-images', type=int, default=256,
                        help='images for the bf16 comparison (0: skip it)')
    parser.add_argument('--amp-repeats', type=int, default=3,
                        help='fp32 / bf16 pairs of runs; the speed-up is their median')
    parser.add_argument('--amp-only', action='store_true',
                        help='run only the bf16 comparison; keep the other committed results')
    parser.add_argument('--work-dir', default='/tmp/extraction_bench')
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    target = ROOT / 'benchmarks' / 'results' / f'extraction_{device}.json'
    results = dict(machine=f'{platform.processor() or platform.machine()}, '
                           f'{torch.get_num_threads()} threads', torch=torch.__version__,
                   batch_size=args.batch_size, workers=args.workers, runs=[])
    if args.amp_only:
        args.counts, results = [], json.loads(target.read_text())
    for count in args.counts:
        images = work / f'images_{count}'
        make_images(images, count)
        run = run_extraction(images, work / 'out', args.batch_size, args.workers)
        shutil.rmtree(work / 'out', ignore_errors=True)  # 14 MiB per image at fp32
        results['runs'].append(run)
        print(json.dumps(run), flush=True)
    if not args.amp_only:
        results['forward_only_images_per_s'] = round(forward_only(args.batch_size), 3)
    for run in results['runs']:
        run['vs_forward_only'] = round(run['images_per_s']
                                       / results['forward_only_images_per_s'], 3)
    if args.amp_images:
        images = work / f'images_amp_{args.amp_images}'
        make_images(images, args.amp_images)
        pairs = []  # fp32 then bf16, repeated: the spread of a shared VM shows in each pair
        for _ in range(args.amp_repeats):
            pairs.append([run_extraction(images, work / name, args.batch_size, args.workers,
                                         extra)['images_per_s']
                          for name, extra in (('fp32', []), ('bf16', ['--amp', 'bf16']))])
        speedups = [round(bf16 / fp32, 3) for fp32, bf16 in pairs]
        results['amp_bf16'] = dict(
            images=args.amp_images, fp32_images_per_s=[fp32 for fp32, _ in pairs],
            bf16_images_per_s=[bf16 for _, bf16 in pairs], speedups=speedups,
            speedup=round(statistics.median(speedups), 2),
            relative_l2_error_worst_image=relative_errors(work / 'bf16', work / 'fp32'))
    print(json.dumps(results, indent=1))
    target.write_text(json.dumps(results, indent=1) + '\n')
    print(f'Wrote {target}')


if __name__ == '__main__':
    main()
