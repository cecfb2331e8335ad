"""Extract ConvNeXt feature pyramids (strides 4, 8, 16, 32) from images, at dataset scale.

    python tools/extract_features.py IMAGES... --out-dir feats [--arch tiny]
        [--checkpoint PATH] [--out-indices 0 1 2 3] [--pool] [--size H W | --max-size N]
        [--batch-size 8] [--workers 2] [--amp bf16|fp16] [--format npz|safetensors]
        [--dtype float32|float16] [--max-pixels N] [--overwrite] [--visualize]
    torchrun --nproc-per-node N tools/extract_features.py IMAGES... --out-dir feats ...
    python tools/extract_features.py --demo      # a generated image, prints the shapes

IMAGES are files, folders (searched recursively) or globs. Each image gives one file
whose path mirrors the input's path below the inputs' common folder (``a/x.jpg`` ->
``feats/a/x.npz``), with:

- ``stage{i}``: ``(C_i, H_i, W_i)`` feature map of stage i after its output norm,
  ``H_i = floor(H / 2**(i+2))``; with ``--pool``, the ``(C_i,)`` mean over the map instead;
- ``image_size``: int ``(H, W)`` of the network input; ``strides``: the stored stages'.

Images are decoded by DataLoader workers, converted to RGB (grayscale replicated, alpha
dropped; both reported), normalised with the ImageNet mean and std, batched by size and
written as they come out, so memory does not grow with the number of images. Every image
gets a line in ``feats/manifest.jsonl`` (source, output, sizes, stored shapes, status and
why it was skipped). Running the same command again continues where it stopped;
``--overwrite`` redoes everything. Under torchrun (or ``--launcher slurm``) each rank takes
every N-th image and rank 0 merges the manifest at the end.
"""
from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from convnext_backbone import ConvNeXtBackbone, load_pretrained
from convnext_backbone.cpu import native_bf16

from .arguments import arch_from_string
from .demo_data.drawing import make_demo_picture
from .extraction import images as img
from .extraction import outputs


class ExtractionError(RuntimeError):
    """A problem with the inputs or the settings that the user can fix (message says how)."""


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


def check_amp(amp: Optional[str], device: str) -> None:
    """Refuse autocast where it would be slower than fp32 or is not supported."""
    if amp is None:
        return
    if torch.device(device).type == 'cpu':
        if amp == 'fp16':
            raise ExtractionError('--amp fp16 is for CUDA devices; on the CPU use --amp bf16 '
                                  '(on CPUs with native bf16) or leave --amp out.')
        if not native_bf16():
            raise ExtractionError('--amp bf16 needs a CPU with native bf16 instructions '
                                  '(AVX512-BF16 or AMX on x86, BF16 on Arm); this one has '
                                  'none, and emulated bf16 is slower than fp32. Leave --amp '
                                  'out.')


def extract(inputs: Sequence[str], out_dir: str, arch='tiny', checkpoint=None,
            out_indices=(0, 1, 2, 3), pool=False, size=None, batch_size=8, device='cpu',
            visualize=False, log: Callable[[str], None] = print, *,
            max_size: Optional[int] = None, max_pixels: int = img.DEFAULT_MAX_PIXELS,
            workers: int = 2, amp: Optional[str] = None, fmt: str = 'npz',
            dtype: str = 'float32', overwrite: bool = False, rank: int = 0,
            world_size: int = 1, barrier: Callable[[], None] = lambda: None,
            progress: bool = True) -> Dict[str, object]:
    """Run (or continue) an extraction; return what this rank did.

    ``{'written': [output paths], 'skipped': [sources], 'converted': [sources],
    'done_before': [sources], 'seconds': float}``. ``rank``/``world_size``/``barrier``
    split the work across processes (each takes every ``world_size``-th image).
    """
    if fmt not in outputs.FORMATS:
        raise ExtractionError(f'--format {fmt!r}: choose one of {sorted(outputs.FORMATS)}.')
    if dtype not in ('float32', 'float16'):
        raise ExtractionError(f'--dtype {dtype!r}: choose float32 or float16.')
    if fmt == 'safetensors':
        try:
            import safetensors  # noqa: F401
        except ImportError as err:
            raise ExtractionError('--format safetensors needs the safetensors package: '
                                  'pip install safetensors') from err
    check_amp(amp, device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(arch=arch, checkpoint=checkpoint and (
        checkpoint if '://' in checkpoint else os.path.abspath(checkpoint)),
        out_indices=list(out_indices), pool=pool, size=list(size) if size else None,
        max_size=max_size, format=fmt, dtype=dtype, amp=amp)
    problem = outputs.check_settings(out, settings, overwrite)
    if problem:
        raise ExtractionError(problem)
    if rank == 0:
        if overwrite:
            outputs.remove_manifest(out)
        outputs.save_settings(out, settings)
    barrier()
    # Every rank reads the same file list and manifest before anyone appends to it.
    paths = img.find_images(inputs, exclude=out)
    names = outputs_of(paths, fmt)
    recorded = outputs.read_manifest(out)
    barrier()

    report: Dict[str, object] = {'written': [], 'skipped': [], 'converted': [],
                                 'done_before': []}
    todo: List[Path] = []
    for path in paths[rank::world_size]:
        record = recorded.get(str(path))
        if record and record['status'] == 'written':
            if (out / record['output']).is_file():
                report['done_before'].append(str(path))
                continue
            log(f'redoing {path}: the manifest lists {record["output"]}, which is missing')
        todo.append(path)
    if report['done_before']:
        log(f'{len(report["done_before"])} images already done (manifest); '
            f'{len(todo)} to go on rank {rank}.')
    if not paths:
        log('No images found.')

    outputs.clear_tmp(out, rank)
    part = outputs.ManifestPart(out, rank)
    start = time.perf_counter()
    model = build_model(arch, checkpoint, out_indices, device)
    strides = [4 * 2 ** i for i in model.out_indices]
    writer = Writer(out, fmt, part, strides)
    writer.start()
    try:
        with img.pil_pixel_limit(max_pixels):
            probes = img.probe_all(todo, size, max_size, max_pixels)
        for item in probes:
            if item.reason:
                skip(item, item.reason, report, writer, log)
        good = [i for i, item in enumerate(probes) if not item.reason]
        loader = img.make_loader(img.ImageDataset(probes, max_pixels),
                                 img.size_batches(probes, good, batch_size), workers,
                                 pin_memory=torch.device(device).type == 'cuda')
        bar = None
        if progress and rank == 0 and good:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(good))
        autocast = torch.autocast(torch.device(device).type,
                                  dtype={'bf16': torch.bfloat16, 'fp16': torch.float16}[amp],
                                  enabled=True) if amp else None
        with torch.inference_mode():
            for batch in loader:
                for failed in batch.failed:
                    skip(probes[failed.index], failed.reason, report, writer, log)
                if batch.images is None:
                    continue
                x = img.normalize(batch.images.to(device, non_blocking=True))
                if autocast is not None:
                    with autocast:
                        feats = model(x)
                else:
                    feats = model(x)
                # Pooled and cast to the stored dtype on the model's device, so that only
                # what is written crosses to the host (half of it with --dtype float16).
                feats = [(f.float().mean(dim=(2, 3)) if pool else f)
                         .to(getattr(torch, dtype)).cpu() for f in feats]
                for b, (index, note) in enumerate(zip(batch.indices, batch.notes)):
                    item = probes[index]
                    if note:
                        report['converted'].append(str(item.path))
                        log(f'converted {item.path}: {note}')
                    arrays = {f'stage{i}': f[b].numpy()
                              for i, f in zip(model.out_indices, feats)}
                    arrays['image_size'] = np.array(item.target)
                    arrays['strides'] = np.array(strides)
                    record = dict(source=str(item.path), output=names[item.path],
                                  status='written', input_size=list(item.size),
                                  network_size=list(item.target),
                                  shapes={k: list(v.shape) for k, v in arrays.items()
                                          if k.startswith('stage')},
                                  dtype=dtype, note=note)
                    writer.put(dict(record=record, arrays=arrays,
                                    picture=(item.path, item.target) if visualize else None))
                    report['written'].append(str(out / names[item.path]))
                    if bar is not None:
                        bar.update()
        writer.finish()
    finally:
        part.close()
    report['seconds'] = time.perf_counter() - start
    if bar is not None:
        sys.stdout.write('\n')
    barrier()
    if rank == 0:
        merged = outputs.merge_manifest(out)
        counts = {}
        for record in merged.values():
            counts[record['status']] = counts.get(record['status'], 0) + 1
        log(f'{out}/manifest.jsonl: ' + ', '.join(f'{n} {s}' for s, n in sorted(counts.items()))
            + f'. This run wrote {len(report["written"])} on rank 0 '
            f'({len(report["skipped"])} skipped, {len(report["converted"])} converted) in '
            f'{report["seconds"]:.1f} s; peak resident memory {peak_rss_mib()} MiB.')
    return report


def peak_rss_mib() -> int:
    """This process's peak resident memory (its DataLoader workers are separate)."""
    import resource
    scale = 1 if sys.platform == 'darwin' else 1024  # bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2 ** 20)


def outputs_of(paths: Sequence[Path], fmt: str) -> Dict[Path, str]:
    """Output path (relative to the out dir, POSIX) of each input."""
    return {path: name.as_posix() + outputs.FORMATS[fmt]
            for path, name in img.output_names(paths).items()}


def skip(item: img.Probe, reason: str, report: dict, writer: Writer, log) -> None:
    report['skipped'].append(str(item.path))
    log(f'skipped {item.path}: {reason}')
    writer.put(dict(record=dict(source=str(item.path), output=None, status='skipped',
                                reason=reason,
                                input_size=list(item.size) if item.size else None)))


def build_model(arch, checkpoint, out_indices, device) -> ConvNeXtBackbone:
    import logging

    from mmengine.logging import MMLogger
    model = ConvNeXtBackbone(arch, out_indices=out_indices)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # not mmengine's per-parameter init report
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    if checkpoint:
        load_pretrained(model, checkpoint)
    return model.to(device).eval()


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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', nargs='*', help='image files, folders or globs')
    parser.add_argument('--out-dir', default='work_dirs/features')
    parser.add_argument('--arch', default='tiny',
                        help='e.g. tiny, v2-nano, or "dict(depths=[...], dims=[...])"')
    parser.add_argument('--checkpoint', help='any checkpoint layout the loader takes')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights when no --checkpoint is given')
    parser.add_argument('--out-indices', type=int, nargs='+', default=[0, 1, 2, 3])
    parser.add_argument('--pool', action='store_true', help='store mean-pooled vectors')
    resize = parser.add_mutually_exclusive_group()
    resize.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize every image to H x W (default: keep each size)')
    resize.add_argument('--max-size', type=int, metavar='N',
                        help='resize images whose longer side is over N to N (aspect kept)')
    parser.add_argument('--max-pixels', type=int, default=img.DEFAULT_MAX_PIXELS,
                        help='skip (and report) images with more pixels than this '
                             '(default: PIL\'s decompression-bomb limit)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2, help='DataLoader decoding workers')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--amp', choices=['bf16', 'fp16'],
                        help='compute under autocast (bf16: CPUs with native bf16 or '
                             'CUDA; fp16: CUDA)')
    parser.add_argument('--format', choices=sorted(outputs.FORMATS), default='npz',
                        help='npz (numpy only) or safetensors (one file per image)')
    parser.add_argument('--dtype', choices=['float32', 'float16'], default='float32',
                        help='stored precision of the features')
    parser.add_argument('--overwrite', action='store_true',
                        help='redo every image instead of continuing from the manifest')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (torchrun is detected without it)')
    parser.add_argument('--visualize', action='store_true',
                        help='also write <name>_features.png: input and stage energies')
    parser.add_argument('--demo', action='store_true',
                        help='extract from a generated image with a ConvNeXt-T')
    args = parser.parse_args(argv)
    if not args.inputs and not args.demo:
        parser.error('give images, folders or globs (or --demo)')
    for name in ('batch_size', 'max_size', 'max_pixels'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    if args.workers < 0:
        parser.error('--workers must be 0 (decode in the main process) or more')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.demo:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        image = out / 'demo_image.png'
        make_demo_picture(image)
        args.inputs, args.visualize, args.overwrite = [str(image)], True, True
    rank, world_size, device, barrier = init_distributed(args.launcher, args.device)
    if not args.checkpoint:
        torch.manual_seed(args.seed)  # every rank (and every rerun) has the same weights
        if rank == 0 and not args.demo:
            print(f'No --checkpoint: random weights (seed {args.seed}).')
    log = print if rank == 0 else (lambda msg: print(f'[rank {rank}] {msg}'))
    try:
        report = extract(args.inputs, args.out_dir, arch_from_string(args.arch),
                         args.checkpoint, tuple(args.out_indices), args.pool, args.size,
                         args.batch_size, device, args.visualize, log,
                         max_size=args.max_size, max_pixels=args.max_pixels,
                         workers=args.workers, amp=args.amp, fmt=args.format,
                         dtype=args.dtype, overwrite=args.overwrite, rank=rank,
                         world_size=world_size, barrier=barrier)
    except ExtractionError as err:
        print(f'extract_features: {err}', file=sys.stderr)
        return 2
    finally:
        if world_size > 1:
            torch.distributed.destroy_process_group()
    if args.demo and report['written']:
        with np.load(report['written'][0]) as data:
            print(f'ConvNeXt-{args.arch} feature pyramid of {image} '
                  f"(input {tuple(int(v) for v in data['image_size'])}):")
            for key, stride in zip(sorted(k for k in data if k.startswith('stage')),
                                   data['strides']):
                print(f'  {key} stride {stride:2d}: {tuple(data[key].shape)}')
        print(f'Picture: {args.out_dir}/demo_image_features.png')
    return 0 if report['written'] or report['done_before'] or not report['skipped'] else 1


if __name__ == '__main__':
    sys.exit(main())
