"""The docs' checkpoint-layout tables, made from the library's layout entries.

    python -m convnext_cli.layout_table       # print the tables docs/checkpoints.md carries
"""
from __future__ import annotations

from convnext_backbone.checkpoint.layouts import LAYOUTS, wrapper_rows


def render_tables() -> str:
    lines = ['| layout | written by | what it looks like | ignored | `--to` |',
             '|---|---|---|---|---|']
    for layout in LAYOUTS:
        to = layout.export_name
        lines.append(f'| `{layout.name}` | {layout.library} | {layout.example} | '
                     f'{layout.ignored_why or "-"} | {f"`{to}`" if to else "-"} |')
    lines += ['', '| wrapper taken off first | written by | other keys (ignored, reported) |',
              '|---|---|---|']
    lines += [f'| `{prefix}` | {who} | {rest} |' for prefix, who, rest in wrapper_rows()]
    return '\n'.join(lines)


def main(argv=None) -> int:
    print(render_tables())
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
