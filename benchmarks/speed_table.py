"""The CPU speed table of docs/speed.md, generated from ``backbone_speed.py --json`` results.

    python benchmarks/speed_table.py benchmarks/results/cpu_*.json

One block per file: the command that wrote it, the CPU it ran on (with the AVX2
emulation's variables where set), and each row with its speed-up over the official
formulation of the same setting (and over timm where timm ran).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import label  # noqa: E402


def table(paths) -> str:
    lines = ['| result (command) | CPU, torch | input | impl | fwd img/s | fwd+bwd img/s | '
             'fwd x official | fwd+bwd x official | fwd x timm | fwd+bwd x timm |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for path in paths:
        data = json.loads(Path(path).read_text())
        machine = data.get('machine')
        where = f"{label(machine)}, torch {machine['torch']}" if machine else 'not recorded'
        command = data.get('command', '').replace(str(Path.cwd()) + '/', '')
        first = True
        for r in data['rows']:
            def peer(name, step):
                match = [p for p in data['rows'] if p['impl'] == name and all(
                    p[k] == r[k] for k in ('arch', 'batch', 'size', 'dtype', 'memory_format',
                                           'compiled'))]
                return f"{match[0][f'{step}_ms'] / r[f'{step}_ms']:.2f}" if match else '-'
            setting = (f"{r['batch']}x3x{r['size']} {r['dtype']}, {r['memory_format']}"
                       + (', compiled' if r['compiled'] else ''))
            head = f"`{Path(path).name}` (`{command}`) | {where}" if first else ' | '
            first = False
            lines.append(f"| {head} | {setting} | {r['impl']} | {r['fwd_img_s']:.2f} | "
                         f"{r['train_img_s']:.2f} | {peer('official', 'fwd')} | "
                         f"{peer('official', 'train')} | {peer('timm', 'fwd')} | "
                         f"{peer('timm', 'train')} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    print(table(sys.argv[1:]), end='')
