"""A seeded synthetic semantic-segmentation set in the ADE20K layout (the UperNet demo).

``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png``.
As in ADE20K, label 0 is "other" and is ignored in training and evaluation
(``reduce_zero_label=True`` maps it to 255 and class k to k - 1). Scenes: a sky above a
wavy horizon, textured ground, and textured discs, boxes and triangles; small clutter
patches carry label 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from .drawing import shape_mask, texture

#: Class names for labels 1..5 (label 0 is "other", ignored).
CLASSES = ('sky', 'ground', 'disc', 'box', 'triangle')
PALETTE = ((70, 130, 220), (120, 160, 60), (220, 60, 60), (230, 200, 50), (150, 70, 200))
_OBJECTS = {3: 'circle', 4: 'box', 5: 'triangle'}


def make_scene(rng: np.random.Generator, size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Return an RGB uint8 image and its uint8 label map (0 = other, 1..5 classes)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    horizon = h * rng.uniform(0.3, 0.55) + h * 0.06 * np.sin(
        xx / w * rng.uniform(2, 7) + rng.uniform(0, 6))
    labels = np.where(yy < horizon, 1, 2).astype(np.uint8)
    sky = np.array(PALETTE[0]) + rng.integers(-30, 31, 3) - 60 * (yy / h)[..., None]
    sky = sky + rng.normal(0, 4, (h, w, 3))
    ground = texture(rng, h, w, PALETTE[1])
    ground += cv2.GaussianBlur(rng.normal(0, 30, (h, w, 1)).astype(np.float32), (0, 0),
                               2)[..., None]
    image = np.where((labels == 1)[..., None], sky, ground)
    for _ in range(rng.integers(1, 5)):
        label = int(rng.integers(3, 6))
        r = rng.uniform(0.08, 0.2) * min(h, w)
        mask = shape_mask(_OBJECTS[label], h, w, rng.uniform(r, h - r), rng.uniform(r, w - r),
                           r, rng.uniform(0, np.pi), rng.uniform(0.6, 1.0))
        image[mask] = texture(rng, h, w, PALETTE[label - 1])[mask]
        labels[mask] = label
    for _ in range(rng.integers(0, 3)):  # clutter: "other", ignored like ADE20K's 0
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(3, 8)
        clutter = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        image[clutter] = rng.integers(0, 255, 3)
        labels[clutter] = 0
    return np.clip(image, 0, 255).astype(np.uint8), labels


def make_ade_demo(root: str, num_train: int = 300, num_val: int = 50, seed: int = 0,
                  size: Tuple[int, int] = (128, 128)) -> Path:
    """Write the training and validation splits under ``root``."""
    root_path = Path(root)
    for split, count, split_seed in (('training', num_train, seed),
                                     ('validation', num_val, seed + 10_000)):
        rng = np.random.default_rng(split_seed)
        (root_path / 'images' / split).mkdir(parents=True, exist_ok=True)
        (root_path / 'annotations' / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image, labels = make_scene(rng, size)
            name = f'demo_{index:05d}'
            cv2.imwrite(str(root_path / 'images' / split / f'{name}.jpg'), image[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(root_path / 'annotations' / split / f'{name}.png'), labels)
    return root_path
