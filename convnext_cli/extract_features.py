"""Extract ConvNeXt feature pyramids (strides 4, 8, 16, 32) from images.

    python tools/extract_features.py IMAGES... --out-dir feats [--arch tiny]
        [--checkpoint PATH] [--out-indices 0 1 2 3] [--pool] [--size H W]
        [--batch-size 8] [--device cpu] [--visualize]
    python tools/extract_features.py --demo      # a generated image, prints the shapes

IMAGES are files, folders (searched recursively) or globs. Each image gives one
``<name>.npz`` (readable with numpy alone) with:

- ``stage{i}``: float32 ``(C_i, H_i, W_i)`` feature map of stage i after its output norm,
  ``H_i = floor(H / 2**(i+2))``; with ``--pool``, the ``(C_i,)`` mean over the map instead;
- ``image_size``: int ``(H, W)`` of the network input; ``strides``: the strides of the
  stored stages.

Images are converted to RGB (grayscale is replicated, alpha is dropped; both are
reported), normalised with the ImageNet mean and std, and batched by size. Files that are
not readable images are reported and skipped; the rest of their batch is kept.
"""
from __future__ import annotations

import argparse
import glob
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from convnext_backbone import ConvNeXtBackbone, load_pretrained

from .arguments import arch_from_string
from .demo_data.drawing import make_demo_picture

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif'}


def find_images(inputs: Sequence[str]) -> List[Path]:
    """Expand files, folders (recursively; image suffixes only) and globs, in order."""
    found: List[Path] = []
    for item in inputs:
        matches = [Path(p) for p in sorted(glob.glob(item, recursive=True))] or [Path(item)]
        for path in matches:
            if path.is_dir():
                found += sorted(p for p in path.rglob('*')
                                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            else:
                found.append(path)  # reported later if it is missing or not an image
    return list(dict.fromkeys(found))


def read_rgb(path: Path) -> Tuple[Optional[np.ndarray], str]:
    """Return ``(HxWx3 uint8 array or None, message)``; the message is '' when clean."""
    if not path.is_file():
        return None, f'skipped {path}: no such file'
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            rgb = image.convert('RGB')
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return None, f'skipped {path}: not a readable image ({err})'
    note = ''
    if mode in ('L', 'I', 'I;16', 'F', '1'):
        note = f'converted {path}: grayscale ({mode}) replicated to RGB'
    elif mode in ('RGBA', 'LA', 'PA') or (mode == 'P' and 'transparency' in image.info):
        note = f'converted {path}: alpha channel ({mode}) dropped'
    elif mode != 'RGB':
        note = f'converted {path}: {mode} to RGB'
    return np.asarray(rgb), note


def to_tensor(rgb: np.ndarray, size: Optional[Tuple[int, int]]) -> torch.Tensor:
    """uint8 HxWx3 -> normalised float 3xHxW, resized to ``size`` (H, W) if given."""
    if size is not None and rgb.shape[:2] != tuple(size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def output_name(path: Path, used: Dict[str, int]) -> str:
    name = path.stem
    used[name] += 1
    return name if used[name] == 1 else f'{name}_{used[name] - 1}'


def batches(items: List[Tuple[str, Path, torch.Tensor]],
            batch_size: int) -> Iterator[List[Tuple[str, Path, torch.Tensor]]]:
    """Group equally sized images into batches (a batch needs one size)."""
    by_size: Dict[Tuple[int, int], list] = defaultdict(list)
    for item in items:
        by_size[tuple(item[2].shape[1:])].append(item)
    for group in by_size.values():
        for start in range(0, len(group), batch_size):
            yield group[start:start + batch_size]


def energy_maps(features: Sequence[torch.Tensor], size: Tuple[int, int]) -> List[np.ndarray]:
    """Channel-wise L2 norm of each map, upsampled to ``size`` and scaled to [0, 1]."""
    maps = []
    for feat in features:
        energy = feat.float().norm(dim=0)[None, None]
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


def extract(inputs: Sequence[str], out_dir: str, arch='tiny', checkpoint=None,
            out_indices=(0, 1, 2, 3), pool=False, size=None, batch_size=8, device='cpu',
            visualize=False, log=print) -> Dict[str, List]:
    """Run the extraction; return ``{'written': [...], 'skipped': [...], 'converted': [...]}``."""
    model = ConvNeXtBackbone(arch, out_indices=out_indices)
    model.init_weights()
    if checkpoint:
        load_pretrained(model, checkpoint)
    model = model.to(device).eval()
    strides = [4 * 2 ** i for i in model.out_indices]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    report: Dict[str, List] = {'written': [], 'skipped': [], 'converted': []}
    items, used = [], defaultdict(int)
    for path in find_images(inputs):
        rgb, note = read_rgb(path)
        if rgb is None:
            report['skipped'].append(str(path))
            log(note)
            continue
        if note:
            report['converted'].append(str(path))
            log(note)
        if min(size or rgb.shape[:2]) < 32:
            report['skipped'].append(str(path))
            log(f'skipped {path}: {rgb.shape[1]}x{rgb.shape[0]} is smaller than 32 pixels; '
                f'pass --size H W to resize')
            continue
        items.append((output_name(path, used), path, to_tensor(rgb, size)))
    if not items:
        log('No readable images found.')
        return report

    from mmengine.utils import ProgressBar
    progress = ProgressBar(len(items))
    with torch.inference_mode():
        for batch in batches(items, batch_size):
            x = torch.stack([t for _, _, t in batch]).to(device)
            feats = model(x)
            for b, (name, path, tensor) in enumerate(batch):
                per_image = [f[b].float().cpu() for f in feats]
                arrays = {f'stage{i}': (f.mean(dim=(1, 2)) if pool else f).numpy()
                          for i, f in zip(model.out_indices, per_image)}
                target = out / f'{name}.npz'
                np.savez(target, image_size=np.array(tensor.shape[1:]),
                         strides=np.array(strides), **arrays)
                report['written'].append(str(target))
                if visualize:
                    rgb = np.asarray(read_rgb(path)[0])
                    if size is not None:
                        rgb = np.asarray(Image.fromarray(rgb).resize((size[1], size[0])))
                    save_visualization(out / f'{name}_features.png', rgb,
                                       energy_maps(per_image, rgb.shape[:2]), strides)
                progress.update()
    sys.stdout.write('\n')
    log(f'Wrote {len(report["written"])} feature files to {out}/ '
        f'({len(report["skipped"])} skipped, {len(report["converted"])} converted).')
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', nargs='*', help='image files, folders or globs')
    parser.add_argument('--out-dir', default='work_dirs/features')
    parser.add_argument('--arch', default='tiny',
                        help='e.g. tiny, v2-nano, or "dict(depths=[...], dims=[...])"')
    parser.add_argument('--checkpoint', help='any checkpoint layout the loader takes')
    parser.add_argument('--out-indices', type=int, nargs='+', default=[0, 1, 2, 3])
    parser.add_argument('--pool', action='store_true', help='store mean-pooled vectors')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize every image to H x W (default: keep each size)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--visualize', action='store_true',
                        help='also write <name>_features.png: input and stage energies')
    parser.add_argument('--demo', action='store_true',
                        help='extract from a generated image with a ConvNeXt-T')
    args = parser.parse_args(argv)
    if args.demo:
        torch.manual_seed(0)
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        image = out / 'demo_image.png'
        make_demo_picture(image)
        args.inputs, args.visualize = [str(image)], True
    if not args.inputs:
        parser.error('give images, folders or globs (or --demo)')
    report = extract(args.inputs, args.out_dir, arch_from_string(args.arch), args.checkpoint,
                     tuple(args.out_indices), args.pool, args.size, args.batch_size,
                     args.device, args.visualize)
    if args.demo and report['written']:
        with np.load(report['written'][0]) as data:
            print(f'ConvNeXt-{args.arch} feature pyramid of {image} '
                  f"(input {tuple(int(v) for v in data['image_size'])}):")
            for key, stride in zip(sorted(k for k in data if k.startswith('stage')),
                                   data['strides']):
                print(f'  {key} stride {stride:2d}: {tuple(data[key].shape)}')
        print(f'Picture: {args.out_dir}/demo_image_features.png')
    return 0 if report['written'] else 1


if __name__ == '__main__':
    sys.exit(main())
