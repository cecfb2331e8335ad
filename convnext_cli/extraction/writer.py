"""Writing features behind the model: a thread that stores files, manifest lines and the
optional pictures in arrival order, at the lowest CPU priority."""
from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import images as img
from . import outputs


def energy_maps(features: Sequence[torch.Tensor], size: Tuple[int, int]) -> List[np.ndarray]:
    """Channel-wise L2 norm of each map, upsampled to ``size`` and scaled to [0, 1]."""
    maps = []
    for feat in features:
        energy = torch.as_tensor(feat).float().norm(dim=0)[None, None]
        energy = torch.nn.functional.interpolate(energy, size=size, mode='bilinear',
                                                 align_corners=False)[0, 0]
        energy = (energy - energy.min()) / (energy.max() - energy.min() + 1e-12)
        maps.append(energy.numpy())
    return maps


def save_visualization(path: Path, rgb: np.ndarray, maps: List[np.ndarray],
                       strides: Sequence[int]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(3.2 * (len(maps) + 1), 3.4))
    axes[0].imshow(rgb)
    axes[0].set_title('input')
    for ax, energy, stride in zip(axes[1:], maps, strides):
        ax.imshow(energy, cmap='inferno')
        ax.set_title(f'stride {stride}: feature energy')
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def lower_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux: nice 19 for this thread only).

    Decoding and writing then fill the gaps the model's threads leave instead of
    preempting them: a preempted OpenMP thread stalls every other one at the next barrier.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass  # not Linux: the default priority


class Writer(threading.Thread):
    """Writes feature files and manifest lines behind the model, in arrival order.

    Its queue holds at most ``depth`` jobs, so finished features never pile up in memory.
    A failure (a full disk, say) stops the run at the next ``put`` with the error.
    """

    def __init__(self, out: Path, fmt: str, part: outputs.ManifestPart,
                 strides: Sequence[int], depth: int = 16):
        super().__init__(daemon=True)
        self.out, self.fmt, self.part, self.strides = out, fmt, part, strides
        self.jobs: queue.Queue = queue.Queue(depth)
        self.error: Optional[BaseException] = None

    def put(self, job: Optional[dict]) -> None:
        if self.error is not None:
            raise self.error
        self.jobs.put(job)

    def finish(self) -> None:
        self.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        lower_priority()
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self._do(**job)
            except BaseException as err:  # noqa: BLE001 - handed to the main thread
                self.error = err

    def _do(self, record: dict, arrays: Optional[dict] = None,
            picture: Optional[Tuple[Path, Tuple[int, int]]] = None) -> None:
        if arrays is not None:
            outputs.write_features(self.out, record['output'], arrays, self.fmt,
                                   self.part.rank)
            if picture is not None:
                source, size = picture
                rgb = img.resize_rgb(img.decode_rgb(source)[0], size)
                maps = energy_maps([arrays[k] for k in sorted(arrays) if k[:5] == 'stage'],
                                   size)
                name = Path(record['output']).with_suffix('')
                save_visualization(self.out / f'{name}_features.png', rgb, maps,
                                   self.strides)
        self.part.add(**record)
