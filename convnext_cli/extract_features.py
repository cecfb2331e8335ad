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
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch

from convnext_backbone import ConvNeXtBackbone, load_pretrained

from .demo_data.drawing import make_demo_picture
from .extraction import images as img
from .extraction import outputs
from .extraction.distributed import init_distributed
from .extraction.settings import ExtractionError, ExtractionSettings, check_amp
from .extraction.writer import Writer

__all__ = ['ExtractionError', 'ExtractionSettings', 'check_amp', 'extract', 'init_distributed',
           'main']


def extract(settings: ExtractionSettings, log: Callable[[str], None] = print, *,
            rank: int = 0, world_size: int = 1, barrier: Callable[[], None] = lambda: None,
            progress: bool = True) -> Dict[str, object]:
    """Run (or continue) an extraction; return what this rank did.

    ``{'written': [output paths], 'skipped': [sources], 'converted': [sources],
    'done_before': [sources], 'seconds': float}``. ``rank``/``world_size``/``barrier``
    split the work across processes (each takes every ``world_size``-th image).
    """
    s = settings
    s.validate()
    out = Path(s.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recorded_settings = s.record()
    problem = outputs.check_settings(out, recorded_settings, s.overwrite)
    if problem:
        raise ExtractionError(problem)
    if rank == 0:
        if s.overwrite:
            outputs.remove_manifest(out)
        outputs.save_settings(out, recorded_settings)
    barrier()
    # Every rank reads the same file list and manifest before anyone appends to it.
    paths = img.find_images(s.inputs, exclude=out)
    names = outputs_of(paths, s.fmt)
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
    model = build_model(s.arch, s.checkpoint, s.out_indices, s.device)
    strides = [4 * 2 ** i for i in model.out_indices]
    writer = Writer(out, s.fmt, part, strides)
    writer.start()
    try:
        with img.pil_pixel_limit(s.max_pixels):
            probes = img.probe_all(todo, s.size, s.max_size, s.max_pixels)
        for item in probes:
            if item.reason:
                skip(item, item.reason, report, writer, log)
        good = [i for i, item in enumerate(probes) if not item.reason]
        loader = img.make_loader(img.ImageDataset(probes, s.max_pixels),
                                 img.size_batches(probes, good, s.batch_size), s.workers,
                                 pin_memory=torch.device(s.device).type == 'cuda')
        bar = None
        if progress and rank == 0 and good:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(good))
        autocast = torch.autocast(torch.device(s.device).type,
                                  dtype={'bf16': torch.bfloat16, 'fp16': torch.float16}[s.amp],
                                  enabled=True) if s.amp else None
        with torch.inference_mode():
            for batch in loader:
                for failed in batch.failed:
                    skip(probes[failed.index], failed.reason, report, writer, log)
                if batch.images is None:
                    continue
                x = img.normalize(batch.images.to(s.device, non_blocking=True))
                if autocast is not None:
                    with autocast:
                        feats = model(x)
                else:
                    feats = model(x)
                # Pooled and cast to the stored dtype on the model's device, so that only
                # what is written crosses to the host (half of it with --dtype float16).
                feats = [(f.float().mean(dim=(2, 3)) if s.pool else f)
                         .to(getattr(torch, s.dtype)).cpu() for f in feats]
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
                                  dtype=s.dtype, note=note)
                    writer.put(dict(record=record, arrays=arrays,
                                    picture=(item.path, item.target) if s.visualize else None))
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


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ExtractionSettings.add_arguments(parser)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights when no --checkpoint is given')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (torchrun is detected without it)')
    parser.add_argument('--demo', action='store_true',
                        help='extract from a generated image with a ConvNeXt-T')
    args = parser.parse_args(argv)
    if not args.inputs and not args.demo:
        parser.error('give images, folders or globs (or --demo)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = ExtractionSettings.from_args(args)
    if args.demo:
        out = Path(settings.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        image = out / 'demo_image.png'
        make_demo_picture(image)
        settings = replace(settings, inputs=(str(image),), visualize=True, overwrite=True)
    rank, world_size, device, barrier = init_distributed(args.launcher, settings.device)
    settings = replace(settings, device=device)
    if not args.checkpoint:
        torch.manual_seed(args.seed)  # every rank (and every rerun) has the same weights
        if rank == 0 and not args.demo:
            print(f'No --checkpoint: random weights (seed {args.seed}).')
    log = print if rank == 0 else (lambda msg: print(f'[rank {rank}] {msg}'))
    try:
        report = extract(settings, log, rank=rank, world_size=world_size, barrier=barrier)
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
