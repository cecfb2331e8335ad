"""Run a demo over several data and training seeds; print min / median / max of its metrics.

    python benchmarks/demo_spread.py seg [--data-seeds 0 13] [--train-seeds 0 7 21]
    python benchmarks/demo_spread.py det [--data-seeds 0 13] [--train-seeds 0 7 21]

Each (data seed D, training seed S) pair generates the demo set with
``tools/make_demo_data.py KIND DIR --seed D`` (once per D) and trains the demo config with
``--cfg-options randomness.seed=S``, which evaluates on the held-out split at the end.
Prints one row per run and the spread, and writes them to
``benchmarks/results/demo_spread_<kind>.json``. Not a test: a full run takes
(seeds x 3 min) for segmentation and (seeds x 11 min) for detection on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMOS = {
    'seg': dict(config='configs/demo/upernet_convnext_demo.py', data='ade',
                metrics=('mIoU', 'mAcc'), final=r'Final validation: (.*)'),
    'det': dict(config='configs/demo/maskrcnn_convnext_demo.py', data='coco',
                metrics=('coco/bbox_mAP', 'coco/segm_mAP'), final=r'Final validation: (.*)'),
}


def data_options(kind: str, root: Path) -> list:
    if kind == 'seg':
        return [f'{split}_dataloader.dataset.data_root={root}' for split in
                ('train', 'val', 'test')]
    return [f'{split}_dataloader.dataset.data_root={root}/' for split in
            ('train', 'val', 'test')] + [
        f'{split}_evaluator.ann_file={root}/annotations/instances_val.json'
        for split in ('val', 'test')]


def run_one(kind: str, data_root: Path, seed: int, work_dir: Path) -> dict:
    demo = DEMOS[kind]
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, 'tools/train.py', demo['config'], '--work-dir', str(work_dir),
         '--cfg-options', f'randomness.seed={seed}', *data_options(kind, data_root)],
        capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f'training failed (seed {seed}, data {data_root}):\n{log[-3000:]}')
    final = re.findall(demo['final'], log)[-1]
    values = dict(re.findall(r'(\S+) ([-\d.]+)', final))
    row = {m: float(values[m]) for m in demo['metrics']}
    per_class = re.findall(r'\|\s*(\w+)\s*\|\s*([\d.]+)\s*\|\s*[\d.]+\s*\|', log)
    if per_class:  # mmseg's per-class IoU table
        row['worst_class_iou'] = min(float(v) for _, v in per_class)
        row['worst_class'] = min(per_class, key=lambda kv: float(kv[1]))[0]
    row['train_seconds'] = round(seconds, 1)
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('kind', choices=sorted(DEMOS))
    parser.add_argument('--data-seeds', type=int, nargs='+', default=[0, 13])
    parser.add_argument('--train-seeds', type=int, nargs='+', default=[0, 7, 21])
    parser.add_argument('--work-dir', default='/tmp/demo_spread')
    args = parser.parse_args(argv)
    demo = DEMOS[args.kind]
    work = Path(args.work_dir)
    rows = []
    for data_seed in args.data_seeds:
        root = work / f'{args.kind}_data_{data_seed}'
        if not root.exists():
            subprocess.run([sys.executable, 'tools/make_demo_data.py', demo['data'],
                            str(root), '--seed', str(data_seed)], check=True, cwd=ROOT,
                           capture_output=True)
        for seed in args.train_seeds:
            row = dict(data_seed=data_seed, train_seed=seed,
                       **run_one(args.kind, root, seed,
                                 work / f'{args.kind}_run_{data_seed}_{seed}'))
            rows.append(row)
            print(json.dumps(row), flush=True)
    spread = {}
    for metric in list(demo['metrics']) + ['train_seconds']:
        values = [r[metric] for r in rows]
        spread[metric] = dict(min=min(values), median=statistics.median(values),
                              max=max(values))
    print(json.dumps(spread, indent=1))
    out = ROOT / 'benchmarks' / 'results' / f'demo_spread_{args.kind}.json'
    out.write_text(json.dumps(dict(runs=rows, spread=spread), indent=1) + '\n')
    print(f'Wrote {out}')


if __name__ == '__main__':
    main()
