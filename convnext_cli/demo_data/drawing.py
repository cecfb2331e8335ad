"""Seeded drawing of the synthetic demo pictures: shapes, textures, backgrounds.

Shared by the detection set (``coco``), the segmentation set (``ade``) and the picture the
feature-extraction demo uses. Needs numpy and OpenCV (and PIL for the extraction picture).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image


def shape_mask(kind: str, h: int, w: int, cy: float, cx: float, r: float,
               angle: float, aspect: float) -> np.ndarray:
    canvas = np.zeros((h, w), np.uint8)
    if kind == 'circle':
        cv2.ellipse(canvas, (int(cx), int(cy)), (int(r), int(r * aspect)), np.degrees(angle),
                    0, 360, 1, -1)
        return canvas.astype(bool)
    if kind == 'box':
        pts = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]]) * r
    elif kind == 'triangle':
        pts = np.array([[0, -1.15], [1.0, 0.65], [-1.0, 0.65]]) * r
    else:  # cross
        a, b = 1.0, 0.36
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a],
                        [-b, a], [-b, b], [-a, b], [-a, -b], [-b, -b]]) * r
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = pts @ rot.T + [cx, cy]
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


def texture(rng: np.random.Generator, h: int, w: int, color: Sequence[int]) -> np.ndarray:
    """Colour with stripes and noise, so that shapes are not flat patches."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta, freq = rng.uniform(0, np.pi), rng.uniform(0.2, 0.6)
    stripes = np.sin(freq * (xx * np.cos(theta) + yy * np.sin(theta)))[..., None]
    jitter = rng.integers(-35, 36, 3)
    noise = rng.normal(0, 8, (h, w, 3))
    return np.clip(np.array(color) + jitter + 22 * stripes + noise, 0, 255)


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.integers(70, 180, 3).astype(np.float32)
    gradient = rng.uniform(-0.4, 0.4, (2, 3))
    image = base + yy[..., None] * gradient[0] + xx[..., None] * gradient[1]
    blobs = cv2.GaussianBlur(rng.normal(0, 25, (h, w, 3)).astype(np.float32), (0, 0), 4)
    return np.clip(image + blobs + rng.normal(0, 6, (h, w, 3)), 0, 255)


def make_demo_picture(path: Path, size=(384, 512), seed=0) -> None:
    """A seeded synthetic picture: a gradient sky, discs and boxes with texture."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([80 + 100 * yy / h, 120 + 60 * xx / w, 200 - 80 * yy / h], -1)
    for _ in range(6):
        cy, cx, r = rng.integers(40, h - 40), rng.integers(40, w - 40), rng.integers(20, 70)
        color = rng.integers(0, 255, 3)
        if rng.random() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        else:
            mask = (abs(yy - cy) < r) & (abs(xx - cx) < r * 0.7)
        image[mask] = color + 25 * np.sin(xx[mask] / 3.0)[:, None]
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
