"""Checks of a user's dataset before a config is written or a run starts.

Each problem is reported once with its count, the first few examples and what to do.
Fatal problems (the run would crash or train on the wrong thing) stop the command; the
others are warnings. COCO-format instance annotations and ADE20K-layout semantic label
maps are covered.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

EXAMPLES = 3


@dataclass
class Problem:
    """One kind of problem: what, how many, where (first few) and the fix."""
    what: str
    fix: str
    fatal: bool
    examples: List[str] = field(default_factory=list)
    count: int = 0

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)


class Report:
    """The problems found in a dataset, by kind, in the order they were first seen."""

    def __init__(self):
        self.problems: Dict[str, Problem] = {}

    def add(self, key: str, example: str, what: str, fix: str, fatal: bool) -> None:
        self.problems.setdefault(key, Problem(what, fix, fatal)).add(example)

    @property
    def fatal(self) -> List[Problem]:
        return [p for p in self.problems.values() if p.fatal]

    @property
    def warnings(self) -> List[Problem]:
        return [p for p in self.problems.values() if not p.fatal]

    def render(self) -> str:
        lines = []
        for problem in self.fatal + self.warnings:
            label = 'ERROR' if problem.fatal else 'warning'
            more = f' (and {problem.count - len(problem.examples)} more)' \
                if problem.count > len(problem.examples) else ''
            lines.append(f'{label}: {problem.count} {problem.what}, e.g. '
                         f'{"; ".join(problem.examples)}{more}.\n    Fix: {problem.fix}')
        return '\n'.join(lines)


def file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _read_image(path: Path, report: Report, decode: bool) -> Optional[Tuple[int, int]]:
    """(H, W) of an image, or None (reported) when it is missing or unreadable."""
    if not path.is_file():
        report.add('missing', str(path), 'image files listed but missing',
                   'check the image folder argument (it is joined with each file_name) '
                   'or remove those entries', True)
        return None
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            return image.size[1], image.size[0]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        report.add('unreadable', f'{path} ({err})', 'images that cannot be read',
                   're-export or remove them', True)
        return None


# --- COCO-format instance annotations -----------------------------------------------

@dataclass
class CocoSplit:
    """What the checks learn about one split: its categories (file order) and images."""
    categories: List[dict]
    num_images: int
    num_annotations: int
    digests: Dict[str, str]  # content hash -> file


def _polygon_area(flat: Sequence[float]) -> float:
    x, y = np.asarray(flat[0::2], float), np.asarray(flat[1::2], float)
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def check_coco(ann_file: str, image_dir: str, report: Report, split: str = 'train',
               decode: bool = True) -> Optional[CocoSplit]:
    """Check a COCO instance annotation file and its images; return what it holds."""
    path = Path(ann_file)
    try:
        data = json.loads(path.read_text())
        images, annotations, categories = (data['images'], data['annotations'],
                                           data['categories'])
    except FileNotFoundError:
        report.add('no-ann', str(path), f'{split} annotation file not found',
                   'check the path', True)
        return None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        report.add('bad-ann', f'{path} ({err!r})', f'{split} annotation files that are not '
                   'COCO instance JSON', 'it needs "images", "annotations" and "categories" '
                   '(https://cocodataset.org/#format-data)', True)
        return None
    names = [c['name'] for c in categories]
    for name in sorted({n for n in names if names.count(n) > 1}):
        report.add('dup-name', repr(name), 'category names used twice',
                   'give each category its own name (mmdet maps labels by name)', True)
    if not categories:
        report.add('no-cats', str(path), 'annotation files without categories',
                   'list the classes in "categories"', True)
    cat_ids = {c['id'] for c in categories}
    sizes: Dict[int, Tuple[int, int]] = {}
    digests: Dict[str, str] = {}
    root = Path(image_dir)
    for image in images:
        file = root / image['file_name']
        size = _read_image(file, report, decode)
        if size is None:
            continue
        digests[file_digest(file)] = str(file)
        declared = (image.get('height'), image.get('width'))
        if size != declared:
            report.add('size', f'{file}: {size[1]}x{size[0]} on disk, '
                       f'{declared[1]}x{declared[0]} in the file', 'images whose size differs '
                       'from the annotation file', 'fix width/height (boxes and polygons are '
                       'in the declared pixel grid)', True)
        sizes[image['id']] = declared
    used = {c: 0 for c in cat_ids}
    image_ids = {image['id'] for image in images}
    for ann in annotations:
        where = f'annotation {ann.get("id")} (image {ann.get("image_id")})'
        if ann.get('image_id') not in image_ids:
            report.add('orphan', where, 'annotations of an image id not in "images"',
                       'fix image_id or add the image', True)
            continue
        if ann.get('category_id') not in cat_ids:
            report.add('bad-cat', f'{where}: category {ann.get("category_id")}',
                       'annotations of a category id not in "categories"',
                       'fix category_id or add the category', True)
            continue
        used[ann['category_id']] += 1
        x, y, w, h = ann.get('bbox', (0, 0, 0, 0))
        if w < 1 or h < 1:
            report.add('tiny-box', f'{where}: bbox {ann.get("bbox")}', 'boxes narrower or '
                       'lower than 1 pixel (mmdet drops them)', 'fix or remove them', False)
        height, width = sizes.get(ann['image_id'], (None, None))
        if height and (x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1):
            report.add('outside', f'{where}: bbox {ann["bbox"]} in {width}x{height}',
                       'boxes reaching outside their image (mmdet clips them)',
                       'check the annotation tool\'s coordinate convention', False)
        segmentation = ann.get('segmentation')
        if isinstance(segmentation, list):
            bad = not segmentation or any(
                len(poly) < 6 or len(poly) % 2 or _polygon_area(poly) < 1e-6
                for poly in segmentation)
            if bad:
                report.add('polygon', where, 'empty or degenerate polygons (fewer than 3 '
                           'points, or no area)', 'fix or remove them: mask targets from them '
                           'are empty', False)
    for category in categories:
        if used.get(category['id']) == 0:
            report.add(f'unused-{split}', f'{category["name"]!r} (id {category["id"]})',
                       f'categories without any {split} annotation', 'annotate them or '
                       'remove them from "categories" (the head still predicts them)', False)
    return CocoSplit(categories, len(images), len(annotations), digests)


# --- ADE20K-layout semantic segmentation ---------------------------------------------

@dataclass
class SegSplit:
    num_images: int
    present: set  # class indices seen (after reduce_zero_label)
    digests: Dict[str, str]


def check_segmentation(image_dir: str, label_dir: str, num_classes: int,
                       reduce_zero_label: bool, report: Report, split: str = 'training',
                       img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                       decode: bool = True) -> Optional[SegSplit]:
    """Check image / label-map pairs: pairing, readability, sizes and label values."""
    images_root, labels_root = Path(image_dir), Path(label_dir)
    for root in (images_root, labels_root):
        if not root.is_dir():
            report.add(f'no-dir-{root}', str(root), f'{split} folders not found',
                       'the ADE20K layout is ROOT/images/{training,validation} and '
                       'ROOT/annotations/{training,validation}', True)
    if report.fatal:
        return None
    images = {p.relative_to(images_root).as_posix()[:-len(img_suffix)]: p
              for p in sorted(images_root.rglob(f'*{img_suffix}'))}
    labels = {p.relative_to(labels_root).as_posix()[:-len(seg_map_suffix)]: p
              for p in sorted(labels_root.rglob(f'*{seg_map_suffix}'))}
    for stem in sorted(set(images) - set(labels)):
        report.add('no-label', str(images[stem]), f'{split} images without a label map',
                   f'add {labels_root}/{stem}{seg_map_suffix} or remove the image', True)
    for stem in sorted(set(labels) - set(images)):
        report.add('no-image', str(labels[stem]), f'{split} label maps without an image',
                   f'add {images_root}/{stem}{img_suffix} or remove the label map', True)
    if not images:
        report.add('empty', str(images_root), f'{split} folders without images',
                   f'put the {img_suffix} images there (or pass --img-suffix)', True)
    # Without reduce_zero_label, 0..K-1 are classes; with it, 0 is ignored and 1..K are.
    valid = set(range(1, num_classes + 1)) | {0} if reduce_zero_label \
        else set(range(num_classes))
    valid |= {255}  # the ignore index
    present, digests = set(), {}
    for stem in sorted(set(images) & set(labels)):
        size = _read_image(images[stem], report, decode)
        if size is None:
            continue
        digests[file_digest(images[stem])] = str(images[stem])
        try:
            with Image.open(labels[stem]) as label_image:
                mode = label_image.mode
                label = np.asarray(label_image)
        except (OSError, SyntaxError, ValueError) as err:
            report.add('unreadable', f'{labels[stem]} ({err})', 'label maps that cannot be '
                       'read', 're-export or remove them', True)
            continue
        if label.ndim != 2:
            report.add('color-labels', f'{labels[stem]} ({mode})', 'label maps that are not '
                       'single-channel class indices', 'convert colour-coded maps to one '
                       'uint8 class index per pixel (mode L or P)', True)
            continue
        if label.shape != size:
            report.add('seg-size', f'{labels[stem]}: {label.shape[1]}x{label.shape[0]}, '
                       f'image {size[1]}x{size[0]}', 'label maps whose size differs from '
                       'their image', 'export labels at the image size', True)
        values = set(np.unique(label).tolist())
        outside = sorted(values - valid)
        if outside:
            hint = ('values 1..K with 0 for "unlabelled" need --reduce-zero-label'
                    if not reduce_zero_label and 0 in values and max(outside) == num_classes
                    else f'give all {max(outside) + (0 if reduce_zero_label else 1)} classes '
                         f'in --classes, or map those values to 255 (ignored)')
            report.add('label-range', f'{labels[stem]}: {outside}',
                       f'label maps with values outside the {num_classes} classes',
                       hint, True)
        kept = (values & valid) - {255}
        present |= {v - 1 for v in kept if v > 0} if reduce_zero_label else kept
    return SegSplit(len(images), present, digests)


def check_overlap(train: Dict[str, str], val: Dict[str, str], report: Report,
                  fatal: bool = True) -> None:
    """Images (by content) that are in both the training and the validation split."""
    for digest in sorted(set(train) & set(val)):
        report.add('overlap', f'{train[digest]} = {val[digest]}', 'validation images that '
                   'are also training images (the validation numbers would not be held out)',
                   'remove them from one split (or pass --allow-overlap to accept it)', fatal)
