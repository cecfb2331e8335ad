"""Several extraction processes: torchrun's or slurm's process group (each rank takes every
N-th image)."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Callable, Tuple

import torch


def _slurm_environment() -> None:
    """Set torch's rendezvous variables from slurm's, as mmengine's slurm launcher does."""
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')
               if k not in os.environ]
    if missing:
        raise SystemExit(f'--launcher slurm: {", ".join(missing)} not set; start the tool '
                         'with srun (tools/slurm_train.sh shows how) or use torchrun')
    if 'MASTER_ADDR' not in os.environ:
        import subprocess
        nodes = os.environ['SLURM_NODELIST']
        try:
            first = subprocess.run(['scontrol', 'show', 'hostnames', nodes],
                                   capture_output=True, text=True)
        except FileNotFoundError:
            first = None
        if first is None or first.returncode != 0 or not first.stdout.strip():
            raise SystemExit(f'--launcher slurm: scontrol could not name the first node of '
                             f'{nodes!r}; set MASTER_ADDR to it')
        os.environ['MASTER_ADDR'] = first.stdout.split()[0]
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']


def init_distributed(launcher: str, device: str) -> Tuple[int, int, str, Callable]:
    """Join the process group of torchrun or slurm; return (rank, world size, device, barrier).

    CUDA goes through mmengine's ``init_dist`` (nccl, one GPU per local rank); CPU-only
    processes use gloo (mmengine's launchers call ``torch.cuda.set_device``).
    """
    if launcher == 'none' and int(os.environ.get('WORLD_SIZE', '1')) > 1:
        launcher = 'pytorch'  # started by torchrun without --launcher
    if launcher == 'none':
        return 0, 1, device, lambda: None
    import torch.distributed as dist
    timeout = timedelta(hours=24)  # ranks finish their shares at different times
    if torch.device(device).type == 'cuda':
        from mmengine.dist import init_dist
        init_dist(launcher, backend='nccl', timeout=timeout.total_seconds())
        device = f'cuda:{torch.cuda.current_device()}'
    else:
        if launcher == 'slurm':
            _slurm_environment()
        dist.init_process_group('gloo', timeout=timeout)
    return dist.get_rank(), dist.get_world_size(), device, dist.barrier
