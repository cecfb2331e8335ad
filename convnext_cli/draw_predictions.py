"""Draw a trained model's predictions on a few images into one PNG, with the library's own
visualizer (mmdet's DetInferencer: boxes, masks, class names and scores; mmseg's
MMSegInferencer: class masks).

    python tools/draw_predictions.py CONFIG CHECKPOINT IMAGES... --out PNG [--num 6]
        [--score-thr 0.5] [--columns 3]

IMAGES are files or folders (the first ``--num`` images, sorted). Each image is drawn by the
inferencer; this tool only tiles them into one picture (nothing provides that) and prints
its path.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

import numpy as np
import torch
from PIL import Image

from .arguments import read_config
from .extraction.images import find_images


def draw(config: str, checkpoint: str, images: List[str], score_thr: float,
         device: str, upscale: float = 1.0) -> List[np.ndarray]:
    """One RGB array per image, drawn by mmdet's or mmseg's inferencer.

    ``upscale`` enlarges each image before it goes in (the test pipeline resizes it back
    for the model), so small images get readable labels.
    """
    import cv2
    scope = read_config(config, 'draw_predictions.py').get('default_scope', 'mmdet')
    if upscale != 1.0:  # BGR arrays, as the inferencers read files
        images = [cv2.resize(cv2.imread(path), None, fx=upscale, fy=upscale,
                             interpolation=cv2.INTER_LINEAR) for path in images]
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(model=config, weights=checkpoint, device=device)
        result = inferencer(images, return_vis=True, no_save_vis=True,
                            pred_score_thr=score_thr)
    else:
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model=config, weights=checkpoint, device=device)
        result = inferencer(images, return_vis=True)
    drawn = result['visualization']
    return list(drawn) if isinstance(drawn, (list, tuple)) else [drawn]


def tile(pictures: List[np.ndarray], columns: int, gap: int = 4) -> np.ndarray:
    """Pictures of one size on a white grid."""
    h, w = pictures[0].shape[:2]
    rows = -(-len(pictures) // columns)
    canvas = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3),
                     255, np.uint8)
    for i, picture in enumerate(pictures):
        r, c = divmod(i, columns)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = \
            picture[:h, :w, :3]
    return canvas


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--num', type=int, default=6, help='how many images')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='detection: draw predictions above this score')
    parser.add_argument('--columns', type=int, default=3)
    parser.add_argument('--upscale', type=float, default=1.0,
                        help='enlarge the images before drawing (readable labels on small '
                             'images)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args(argv)
    read_config(args.config, 'draw_predictions.py')  # a wrong path: one line, before the images
    paths = [str(p) for p in find_images(args.images) if p.is_file()][:args.num]
    if not paths:
        parser.error(f'no images found in {args.images}')
    pictures = draw(args.config, args.checkpoint, paths, args.score_thr, args.device,
                    args.upscale)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(tile(pictures, args.columns)).save(out)
    print(f'Predictions of {args.checkpoint} on {len(paths)} images: {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
