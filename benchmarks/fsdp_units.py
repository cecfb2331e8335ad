"""FSDP units per block or per stage (convnext_fsdp_wrap_policy): what each costs.

    python benchmarks/fsdp_units.py [--steps 8] [--out benchmarks/results/fsdp_units.json]

Two measurements:

- **Sizes** (every arch, built on the meta device, nothing allocated): how many units each
  choice makes and the parameters of the largest one: under FSDP a unit's weights (and,
  in backward, its gradients) are whole on every rank while it runs, so the largest unit
  bounds the memory that sharding cannot remove.
- **Speed** (two gloo processes on this CPU): a training step of a V2-nano backbone with
  AdamW under FSDP per block, per stage, and with the whole model as one unit; median of
  ``--steps`` after two warm-up steps. The CPU names itself in the output.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.machine import describe  # noqa: E402
from convnext_backbone import ARCH_SETTINGS, ConvNeXtBackbone  # noqa: E402
from convnext_backbone.engine.fsdp import WRAP_UNITS, convnext_fsdp_wrap_policy  # noqa: E402

SPEED_ARCH, SPEED_INPUT = 'v2-nano', (2, 3, 128, 128)


def unit_sizes() -> dict:
    """Per arch: total parameters and, per unit choice, unit count and largest unit."""
    sizes = {}
    for arch in ARCH_SETTINGS:
        with torch.device('meta'):
            model = ConvNeXtBackbone(arch)
        total = sum(p.numel() for p in model.parameters())
        entry = dict(params_m=round(total / 1e6, 1))
        for unit in WRAP_UNITS:
            units = [m for m in model.modules() if convnext_fsdp_wrap_policy(m, False, 0, unit)]
            inside = {id(p) for u in units for p in u.parameters()}
            root = sum(p.numel() for p in model.parameters() if id(p) not in inside)
            largest = max([sum(p.numel() for p in u.parameters()) for u in units] + [root])
            entry[unit] = dict(units=len(units) + 1, largest_unit_m=round(largest / 1e6, 1))
        sizes[arch] = entry
    return sizes


def _speed_worker(rank, world_size, port, steps, out):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    torch.set_num_threads(1)
    try:
        for unit in (*WRAP_UNITS, 'whole model'):
            torch.manual_seed(0)
            policy = None if unit == 'whole model' else partial(convnext_fsdp_wrap_policy,
                                                                unit=unit)
            model = FSDP(ConvNeXtBackbone(SPEED_ARCH), auto_wrap_policy=policy,
                         device_id=torch.device('cpu'), use_orig_params=True)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            x = torch.randn(*SPEED_INPUT)
            times = []
            for step in range(steps + 2):
                start = time.perf_counter()
                loss = sum(o.float().square().mean() for o in model(x))
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                dist.barrier()
                times.append(time.perf_counter() - start)
            if rank == 0:
                out[unit] = round(statistics.median(times[2:]) * 1e3, 1)
    finally:
        dist.destroy_process_group()


def step_times(steps: int) -> dict:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = mp.Manager().dict()
    mp.spawn(_speed_worker, args=(2, port, steps, out), nprocs=2, join=True)
    return dict(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=8)
    parser.add_argument('--out', default='benchmarks/results/fsdp_units.json')
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    result = dict(machine=describe(), sizes=unit_sizes(),
                  speed=dict(arch=SPEED_ARCH, input=list(SPEED_INPUT), processes=2,
                             backend='gloo', step_ms_median=step_times(args.steps)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + '\n')
    for arch, entry in result['sizes'].items():
        print(f'{arch:<10} {entry["params_m"]:>7} M  ' + '  '.join(
            f'{u}: {entry[u]["units"]} units, largest {entry[u]["largest_unit_m"]} M'
            for u in WRAP_UNITS))
    print('step ms (median):', result['speed']['step_ms_median'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
