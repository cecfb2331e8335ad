"""A seeded synthetic panoptic-segmentation set in COCO's panoptic layout.

The scenes of the ADE20K-layout demo (``ade.make_scene``: sky above a wavy horizon,
textured ground, discs, boxes and triangles, small clutter): the shapes are *things*
(each connected region of a class one instance), sky and ground are *stuff*, clutter is
void (id 0). The layout is COCO's, so mmdet's ``CocoPanopticDataset``,
``CocoPanopticMetric`` (PQ) and ``CocoMetric`` (box and mask AP of the things) read it
unchanged: ``{split}/*.jpg``, ``annotations/panoptic_{split}.json``,
``annotations/panoptic_{split}/*.png`` (segment id = R + 256 G + 256² B) and
``annotations/instances_{split}.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .ade import CLASSES as SCENE_CLASSES
from .ade import make_scene

THING_CLASSES = ('disc', 'box', 'triangle')
STUFF_CLASSES = ('sky', 'ground')
#: Things first, then stuff, as COCO's 80 + 53 and mmdet's metainfo order them.
CLASSES = THING_CLASSES + STUFF_CLASSES
MIN_AREA = 20  # smaller regions are void


def _segments(labels: np.ndarray):
    """``[(category index in CLASSES, mask), ...]``: one per stuff class present, one per
    connected region of each thing class."""
    out = []
    for index, name in enumerate(CLASSES):
        mask = labels == SCENE_CLASSES.index(name) + 1
        if name in STUFF_CLASSES:
            regions = [mask]
        else:
            count, components = cv2.connectedComponents(mask.astype(np.uint8))
            regions = [components == i for i in range(1, count)]
        out += [(index, region) for region in regions if region.sum() >= MIN_AREA]
    return out


def write_split(root: Path, split: str, num_images: int, seed: int,
                size: Tuple[int, int]) -> dict:
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / 'annotations' / f'panoptic_{split}').mkdir(parents=True, exist_ok=True)
    categories = [dict(id=i + 1, name=n, isthing=int(n in THING_CLASSES))
                  for i, n in enumerate(CLASSES)]
    images, panoptic, instances = [], [], []
    for index in range(num_images):
        image, labels = make_scene(rng, size)
        stem = f'{index:05d}'
        cv2.imwrite(str(root / split / f'{stem}.jpg'), image[..., ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=index + 1, file_name=f'{stem}.jpg', height=size[0],
                           width=size[1]))
        ids = np.zeros(size, np.int64)
        segments_info = []
        for segment_id, (category, mask) in enumerate(_segments(labels), start=1):
            ids[mask] = segment_id
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            area = float(mask_utils.area(rle))
            segments_info.append(dict(id=segment_id, category_id=category + 1, iscrowd=0,
                                      bbox=bbox, area=area))
            if CLASSES[category] in THING_CLASSES:
                rle['counts'] = rle['counts'].decode('ascii')
                instances.append(dict(id=len(instances) + 1, image_id=index + 1,
                                      category_id=category + 1, segmentation=rle,
                                      area=area, bbox=bbox, iscrowd=0))
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
        cv2.imwrite(str(root / 'annotations' / f'panoptic_{split}' / f'{stem}.png'),
                    rgb[..., ::-1])
        panoptic.append(dict(image_id=index + 1, file_name=f'{stem}.png',
                             segments_info=segments_info))
    with open(root / 'annotations' / f'panoptic_{split}.json', 'w') as f:
        json.dump(dict(images=images, annotations=panoptic, categories=categories), f)
    with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
        json.dump(dict(images=images, annotations=instances,
                       categories=[c for c in categories if c['isthing']]), f)
    return dict(images=images, annotations=panoptic)


def make_coco_panoptic_demo(root: str, num_train: int = 300, num_val: int = 50,
                            seed: int = 0, size: Tuple[int, int] = (128, 128)) -> Path:
    """Write ``train`` and ``val`` splits under ``root`` (different seeds: held out)."""
    root_path = Path(root)
    write_split(root_path, 'train', num_train, seed, size)
    write_split(root_path, 'val', num_val, seed + 10_000, size)
    return root_path
