"""The published facts (configs/metafile.yml) and the model-zoo tables made from them.

    python -m convnext_cli.model_zoo          # print the tables docs/model_zoo.md carries
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import yaml

METAFILE = Path(__file__).resolve().parents[1] / 'configs' / 'metafile.yml'


def load_models(path: Path = METAFILE) -> List[dict]:
    """Every ``Models`` entry of the metafile."""
    with open(path) as f:
        return yaml.safe_load(f)['Models']


def classifiers(models: Optional[List[dict]] = None) -> Dict[str, dict]:
    """``arch -> entry`` of the ImageNet classifiers (the backbones' published sizes)."""
    return {m['Metadata']['Arch']: m for m in (models or load_models())
            if m['Results'] and m['Results'][0]['Task'] == 'Image Classification'}


#: The methods of each table: detection (COCO), segmentation (ADE20K), query-based.
METHODS = {'det': ('Mask R-CNN', 'Cascade Mask R-CNN'), 'seg': ('UperNet', 'DeepLabV3+'),
           'query': ('Mask2Former', 'DINO')}


def with_config(task: str, models: Optional[List[dict]] = None) -> List[dict]:
    """Entries with a config of ours, for ``'det'`` (COCO), ``'seg'`` (ADE20K) or
    ``'query'`` (Mask2Former and DINO, COCO and ADE20K)."""
    method = METHODS[task]
    return [m for m in (models or load_models())
            if m.get('Config') and m['Metadata'].get('Method') in method]


def published_precision(value) -> float:
    """Half a unit of the last digit a published number was written with (28.59 -> 0.005)."""
    text = repr(value)
    decimals = len(text.split('.')[1]) if '.' in text else 0
    return 0.5 * 10 ** -decimals


def _file(url: Optional[str]) -> str:
    return url.rsplit('/', 1)[1] if url else ''


def _metric(model: dict, name: str) -> str:
    """A published metric, from whichever of the entry's per-task results holds it."""
    results = model['Results']
    if not results:
        return 'not published'
    return next((str(r['Metrics'][name]) for r in results if name in r['Metrics']), '-')


def _first_metric(model: dict) -> str:
    """The first published metric with its name ('box AP 52.4'), or 'not published'."""
    if not model['Results']:
        return 'not published'
    name, value = next(iter(model['Results'][0]['Metrics'].items()))
    return f'{name} {value}'


def _source(model: dict) -> str:
    """The metafile's source, short: a link for a URL, else its text up to a parenthesis."""
    source = model.get('Source', '')
    if source.startswith('http'):
        url = source.split()[0]
        return f'[official README]({url})'
    return source.split(' (')[0]


def _size(meta: dict, key: str, unit: str) -> str:
    return f'{meta[key]}{unit}' if key in meta else '-'


def render_tables(models: Optional[List[dict]] = None) -> str:
    """The model-zoo tables of docs/model_zoo.md (markdown)."""
    models = models or load_models()
    size = {'tiny': 'T', 'small': 'S', 'base': 'B', 'large': 'L', 'xlarge': 'XL'}
    size.update({arch: f'V2-{arch[3].upper()}' for arch in
                 {m['Metadata']['Arch'] for m in models} if arch.startswith('v2-')})
    lines = ['| config | method | backbone | pretrained file | box AP | mask AP | '
             '#params | FLOPs | source |',
             '|---|---|---|---|---|---|---|---|---|']
    for m in with_config('det', models):
        meta = m['Metadata']
        params, flops = _size(meta, 'Parameters (M)', 'M'), _size(meta, 'FLOPs (G)', 'G')
        lines.append(f"| `{m['Config']}` | {meta['Method']} {meta['Schedule']} | "
                     f"{size[meta['Arch']]} ({meta['Pretraining']}) | `{_file(m['Pretrained'])}` | "
                     f"{_metric(m, 'box AP')} | {_metric(m, 'mask AP')} | {params} | {flops} | "
                     f"{_source(m)} |")
    lines += ['', '| config (ADE20K, 160k) | method | backbone | crop | pretrained file | '
              'mIoU | mIoU ms+flip (`--tta`) | #params | FLOPs | source |',
              '|---|---|---|---|---|---|---|---|---|---|']
    for m in with_config('seg', models):
        meta = m['Metadata']
        stride = (f", output stride {meta['Output stride']}" if 'Output stride' in meta
                  else '')
        lines.append(f"| `{m['Config']}` | {meta['Method']}{stride} | "
                     f"{size[meta['Arch']]} ({meta['Pretraining']}) | "
                     f"{meta['Crop']} | `{_file(m['Pretrained'])}` | {_metric(m, 'mIoU')} | "
                     f"{_metric(m, 'mIoU (ms+flip)')} | {_size(meta, 'Parameters (M)', 'M')} | "
                     f"{_size(meta, 'FLOPs (G)', 'G')} | {_source(m)} |")
    lines += ['', '| config | method | task | backbone | pretrained file | result | '
              '#params | FLOPs (input) | source |', '|---|---|---|---|---|---|---|---|---|']
    for m in with_config('query', models):
        meta = m['Metadata']
        detail = (f", {meta['Crop']} crops" if 'Crop' in meta else '') + (
            f", {meta['Scales']}-scale" if 'Scales' in meta else '')
        lines.append(f"| `{m['Config']}` | {meta['Method']} {meta['Schedule']}{detail} | "
                     f"{meta['Task']} | "
                     f"{size[meta['Arch']]} ({meta['Pretraining']}) | `{_file(m['Pretrained'])}` "
                     f"| {_first_metric(m)} | {_size(meta, 'Parameters (M)', 'M')} | "
                     f"{_size(meta, 'FLOPs (G)', 'G')} ({meta['Input']}) | {_source(m)} |")
    return '\n'.join(lines)


def main(argv=None) -> int:
    print(render_tables())
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
