"""Finding, probing, decoding and batching the input images of a feature extraction.

The decoding runs in ``torch.utils.data.DataLoader`` workers and hands over uint8
tensors (a quarter of the bytes of float ones); normalisation happens on the model's
device in one batched operation (``normalize``).
"""
from __future__ import annotations

import glob
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif'}
MIN_SIDE = 32  # one pixel at stride 32
# PIL's own default for its decompression-bomb warning (it refuses at twice this).
DEFAULT_MAX_PIXELS = 89_478_485
# What PIL raises for files that are not (complete, valid) images.
DECODE_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
                 ValueError, EOFError)


def find_images(inputs: Sequence[str], exclude: Optional[Path] = None) -> List[Path]:
    """Expand files, folders (recursively; image suffixes only) and globs, sorted per input.

    Paths are made absolute. Files that folders or globs find under ``exclude`` (the
    output folder) are left out, so a rerun never reads its own visualisations as inputs.
    """
    exclude = Path(os.path.abspath(exclude)) if exclude is not None else None

    def keep(path: Path) -> bool:
        return exclude is None or exclude not in Path(os.path.abspath(path)).parents

    found: List[Path] = []
    for item in inputs:
        matches = sorted(glob.glob(item, recursive=True))
        if not matches:
            found.append(Path(item))  # reported later: no such file
            continue
        for path in map(Path, matches):
            if path.is_dir():
                found += sorted(p for p in path.rglob('*') if keep(p) and p.is_file()
                                and p.suffix.lower() in IMAGE_SUFFIXES)
            elif path.as_posix() == Path(item).as_posix() or keep(path):
                found.append(path)  # a named file is taken wherever it is
    return list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))


def output_names(paths: Sequence[Path]) -> Dict[Path, Path]:
    """Relative output path (without extension) of each input, mirroring the input tree.

    ``root/a/x.jpg`` -> ``a/x`` where ``root`` is the inputs' common folder. Two inputs that
    differ only by extension (``x.jpg``, ``x.png``) keep it (``x.jpg``, ``x.png``), so no
    two inputs can share an output.
    """
    if not paths:
        return {}
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    stems: Dict[Path, List[Path]] = {}
    for path in paths:
        stems.setdefault(path.relative_to(root).with_suffix(''), []).append(path)
    names = {}
    for stem, group in stems.items():
        for path in group:
            names[path] = stem if len(group) == 1 else path.relative_to(root)
    return names


def target_size(size: Tuple[int, int], fixed: Optional[Tuple[int, int]],
                max_size: Optional[int]) -> Tuple[int, int]:
    """The network input size (H, W) of an image of ``size`` (H, W)."""
    if fixed is not None:
        return tuple(fixed)
    h, w = size
    if max_size and max(h, w) > max_size:
        scale = max_size / max(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))
    return h, w


@dataclass
class Probe:
    """What the header of an image says, before decoding it."""
    path: Path
    size: Optional[Tuple[int, int]] = None  # (H, W) as stored
    target: Optional[Tuple[int, int]] = None  # (H, W) fed to the network
    reason: str = ''  # why it is skipped; '' when it goes on


def probe(path: Path, fixed: Optional[Tuple[int, int]], max_size: Optional[int],
          max_pixels: int) -> Probe:
    """Read the header only: size, and the reasons to skip the image without decoding it."""
    if not path.is_file():
        return Probe(path, reason='no such file')
    if path.stat().st_size == 0:
        return Probe(path, reason='empty file (0 bytes)')
    try:
        with Image.open(path) as image:
            w, h = image.size
    except Image.DecompressionBombError as err:
        return Probe(path, reason=f'decompression bomb refused by PIL ({err})')
    except DECODE_ERRORS as err:
        return Probe(path, reason=f'not a readable image ({err})')
    if h * w > max_pixels:
        return Probe(path, (h, w), reason=f'{w}x{h} = {h * w} pixels is over --max-pixels '
                                          f'{max_pixels}; raise it to extract this image')
    target = target_size((h, w), fixed, max_size)
    if min(target) < MIN_SIDE:
        return Probe(path, (h, w), target,
                     reason=f'{target[1]}x{target[0]} is smaller than {MIN_SIDE} pixels; '
                            f'pass --size H W to resize')
    return Probe(path, (h, w), target)


def probe_all(paths: Sequence[Path], fixed, max_size, max_pixels,
              threads: int = 8) -> List[Probe]:
    """``probe`` every path, in order, on a few threads (header reads wait on the disk)."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        return list(pool.map(lambda p: probe(p, fixed, max_size, max_pixels), paths))


@contextmanager
def pil_pixel_limit(max_pixels: int):
    """Make PIL's decompression-bomb check agree with ``--max-pixels`` (restored after).

    PIL warns above ``MAX_IMAGE_PIXELS`` and refuses above twice that; sizes over
    ``max_pixels`` are reported by ``probe`` first, so the warning is silenced.
    """
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def size_batches(probes: Sequence[Probe], indices: Iterable[int],
                 batch_size: int) -> List[List[int]]:
    """Batches of indices whose images share one network input size (a batch needs one)."""
    by_size: Dict[Tuple[int, int], List[int]] = {}
    for i in indices:
        by_size.setdefault(probes[i].target, []).append(i)
    return [group[start:start + batch_size] for group in by_size.values()
            for start in range(0, len(group), batch_size)]


def decode_rgb(path: Path) -> Tuple[np.ndarray, str]:
    """``(HxWx3 uint8, note)``; the note says what was converted ('' when it was RGB).

    Raises one of ``DECODE_ERRORS`` for a file that is not a complete, valid image.
    """
    with Image.open(path) as image:
        image.load()
        mode, info = image.mode, image.info
        rgb = image.convert('RGB')
    note = ''
    if mode in ('L', 'I', 'I;16', 'F', '1'):
        note = f'grayscale ({mode}) replicated to RGB'
    elif mode in ('RGBA', 'LA', 'PA') or (mode == 'P' and 'transparency' in info):
        note = f'alpha channel ({mode}) dropped'
    elif mode != 'RGB':
        note = f'{mode} converted to RGB'
    return np.asarray(rgb), note


def resize_rgb(rgb: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an HxWx3 uint8 array to ``size`` (H, W); a no-op at that size."""
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))


@dataclass
class Decoded:
    """One image out of the loader: a uint8 3xHxW tensor, or the reason it has none."""
    index: int
    image: Optional[torch.Tensor] = None
    note: str = ''
    reason: str = ''


class ImageDataset(torch.utils.data.Dataset):
    """Decodes probed images to uint8 3xHxW tensors at their network input size.

    A file that fails to decode (truncated, corrupt, changed since the probe) gives a
    ``Decoded`` with a reason instead of raising, so the rest of its batch goes on.
    """

    def __init__(self, probes: Sequence[Probe], max_pixels: int):
        self.probes = probes
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.probes)

    def __getitem__(self, index: int) -> Decoded:
        item = self.probes[index]
        try:
            with pil_pixel_limit(self.max_pixels):  # also in spawned worker processes
                rgb, note = decode_rgb(item.path)
        except DECODE_ERRORS as err:
            return Decoded(index, reason=f'not a readable image ({err})')
        if rgb.shape[:2] != tuple(item.size):
            return Decoded(index, reason=f'changed while running ({item.size} when probed, '
                                         f'{rgb.shape[:2]} when decoded)')
        rgb = resize_rgb(rgb, item.target)
        return Decoded(index, torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
                       note)


@dataclass
class Batch:
    """The decoded images of one batch (stacked) and the ones that failed."""
    indices: List[int] = field(default_factory=list)
    images: Optional[torch.Tensor] = None  # uint8 Bx3xHxW
    notes: List[str] = field(default_factory=list)
    failed: List[Decoded] = field(default_factory=list)

    def pin_memory(self) -> 'Batch':
        """Called by the DataLoader with ``pin_memory=True`` (CUDA): page-locked images
        let the copy to the GPU run asynchronously."""
        if self.images is not None:
            self.images = self.images.pin_memory()
        return self


def collate(items: List[Decoded]) -> Batch:
    batch = Batch()
    good = [item for item in items if item.image is not None]
    batch.failed = [item for item in items if item.image is None]
    batch.indices = [item.index for item in good]
    batch.notes = [item.note for item in good]
    if good:
        batch.images = torch.stack([item.image for item in good])
    return batch


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the model owns the cores; a worker decodes one image at a time
    try:  # and fills the gaps the model's threads leave rather than preempting them
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    except (AttributeError, OSError):
        pass

def make_loader(dataset: ImageDataset, batches: List[List[int]], workers: int,
                pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader over ``batches``; at most ``2 * workers`` batches are decoded ahead.
    ``pin_memory`` (for a CUDA model) hands over page-locked batches."""
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=2 if workers else None, persistent_workers=False,
        pin_memory=pin_memory)


def normalize(images: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 Bx3xHxW -> ImageNet-normalised float, in one pass on the images' device."""
    scale = torch.tensor([1 / (255 * s) for s in IMAGENET_STD], device=images.device)
    shift = torch.tensor([m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
                         device=images.device)
    x = images.to(dtype) * scale.view(1, 3, 1, 1).to(dtype)
    return x.sub_(shift.view(1, 3, 1, 1).to(dtype))
