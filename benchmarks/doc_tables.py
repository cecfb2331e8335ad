"""The docs' measurement tables, made from the committed results in benchmarks/results/.

    python benchmarks/doc_tables.py         # print each table and the page that carries it

Tests check that the pages carry exactly these tables, so a table changes only with its
JSON (the speed tables: benchmarks/speed_table.py; the GPU proof: benchmarks/gpu_proof.py).
"""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / 'results'


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def demo_spread_table() -> str:
    """Held-out metrics of the demos over 3 training x 2 data seeds (docs/results.md)."""
    seg, det = _load('demo_spread_seg.json')['spread'], _load('demo_spread_det.json')['spread']

    def row(name, metric, spread, key, seconds):
        s = spread[key]
        return f"| {name} | {metric} | {s['min']} | {s['median']} | {s['max']} | {seconds} |"

    def wall(spread):
        return f"{spread['train_seconds']['min']:.0f}-{spread['train_seconds']['max']:.0f} s"
    return '\n'.join([
        '| demo | metric | min | median | max | wall time per run (training + final '
        'evaluation) |',
        '|---|---|---|---|---|---|',
        row('segmentation (UperNet)', 'held-out mIoU', seg, 'mIoU', wall(seg)),
        row('detection (Mask R-CNN)', 'held-out bbox mAP', det, 'coco/bbox_mAP', wall(det)),
        row('detection (Mask R-CNN)', 'held-out segm mAP', det, 'coco/segm_mAP',
            '(the same runs)'),
    ])


def extraction_table() -> str:
    """Extraction at dataset scale against the backbone's forward alone (docs/extraction.md)."""
    data = _load('extraction_cpu.json')
    forward = data['forward_only_images_per_s']
    lines = ['| images | peak RSS, extraction process | peak PSS with its workers | end to '
             'end | backbone forward alone | ratio |', '|---|---|---|---|---|---|']
    for run in data['runs']:
        lines.append(f"| {run['images']:,} | {run['peak_rss_mib']} MiB | "
                     f"{run['peak_tree_pss_mib']} MiB | {run['images_per_s']:.2f} images/s | "
                     f"{forward:.2f} images/s | {run['vs_forward_only']:.2f} |")
    return '\n'.join(lines)


#: Each table and the page that carries it.
TABLES = {'docs/results.md': demo_spread_table, 'docs/extraction.md': extraction_table}


def main() -> int:
    for page, make in TABLES.items():
        print(f'{page}:\n{make()}\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
