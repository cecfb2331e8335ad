"""A seeded synthetic COCO-format instance-segmentation set (the embedded detection demo).

Each image shows a textured background and a few textured shapes of four classes that
may overlap; later shapes occlude earlier ones, and each instance's mask (RLE) is what
stays visible. The layout is COCO's: ``annotations/instances_{split}.json`` and
``{split}/*.png``, so mmdet's ``CocoDataset`` and ``CocoMetric`` read it unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .drawing import background, shape_mask, texture

CLASSES = ('circle', 'box', 'triangle', 'cross')
#: Base colours (RGB) per class; each instance varies around its class colour.
CLASS_COLORS = ((220, 60, 60), (60, 170, 80), (70, 90, 220), (230, 200, 50))
MIN_VISIBLE_FRACTION = 0.4
MIN_AREA = 40


def make_image(rng: np.random.Generator, size: Tuple[int, int],
               max_objects: int) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Return an RGB uint8 image and ``[(category_index, visible_mask), ...]``."""
    h, w = size
    image = background(rng, h, w)
    placed: List[Tuple[int, np.ndarray, int]] = []
    for _ in range(rng.integers(1, max_objects + 1)):
        label = int(rng.integers(len(CLASSES)))
        r = rng.uniform(0.09, 0.2) * min(h, w)
        cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
        mask = shape_mask(CLASSES[label], h, w, cy, cx, r, rng.uniform(0, np.pi),
                           rng.uniform(0.6, 1.0))
        if mask.sum() < MIN_AREA:
            continue
        image[mask] = texture(rng, h, w, CLASS_COLORS[label])[mask]
        placed.append((label, mask, int(mask.sum())))
    instances = []
    covered = np.zeros((h, w), bool)
    for label, mask, full_area in reversed(placed):  # the last drawn is on top
        visible = mask & ~covered
        covered |= mask
        if visible.sum() >= max(MIN_AREA, MIN_VISIBLE_FRACTION * full_area):
            instances.append((label, visible))
    return image.astype(np.uint8), instances[::-1]


def write_split(root: Path, split: str, num_images: int, seed: int,
                size: Tuple[int, int], max_objects: int) -> Dict:
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        image, instances = make_image(rng, size, max_objects)
        file_name = f'{index:05d}.png'
        cv2.imwrite(str(root / split / file_name), image[..., ::-1])
        images.append(dict(id=index + 1, file_name=file_name, height=size[0], width=size[1]))
        for label, visible in instances:
            rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
            x, y, bw, bh = mask_utils.toBbox(rle).tolist()
            rle['counts'] = rle['counts'].decode('ascii')
            annotations.append(dict(id=len(annotations) + 1, image_id=index + 1,
                                    category_id=label + 1, segmentation=rle,
                                    area=float(mask_utils.area(rle)), bbox=[x, y, bw, bh],
                                    iscrowd=0))
    coco = dict(images=images, annotations=annotations,
                categories=[dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)])
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
        json.dump(coco, f)
    return coco


def make_coco_demo(root: str, num_train: int = 400, num_val: int = 60, seed: int = 0,
                   size: Tuple[int, int] = (128, 128), max_objects: int = 4) -> Path:
    """Write ``train`` and ``val`` splits under ``root`` (different seeds: held out)."""
    root_path = Path(root)
    write_split(root_path, 'train', num_train, seed, size, max_objects)
    write_split(root_path, 'val', num_val, seed + 10_000, size, max_objects)
    return root_path
