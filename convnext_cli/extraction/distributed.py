"""Several extraction processes: torchrun's or slurm's process group (each rank takes every
N-th image)."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Callable, Tuple

import torch

from ..preflight import slurm_environment


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
            slurm_environment()
        dist.init_process_group('gloo', timeout=timeout)
    return dist.get_rank(), dist.get_world_size(), device, dist.barrier
