"""Command-line arguments shared by the tools, and reading a config with them."""
from __future__ import annotations

import ast
import os
import os.path as osp
from typing import Union

from mmengine.config import Config, DictAction


def arch_from_string(text: str) -> Union[str, dict]:
    """A command-line arch: a name, or a literal such as ``dict(depths=[...], dims=[...])``."""
    text = text.strip()
    if text.startswith('dict('):
        node = ast.parse(text, mode='eval').body
        return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    if text.startswith('{'):
        return ast.literal_eval(text)
    return text


def inner_model(cfg) -> dict:
    """The detector's or segmentor's config: inside a test-time-augmentation wrapper
    (``DetTTAModel`` / ``SegTTAModel``, whose ``module`` it is) or the model itself."""
    model = cfg.get('model') or {}
    return model.get('module', model) if model.get('type') in (
        'DetTTAModel', 'SegTTAModel') else model


def add_common_args(parser) -> None:
    """The arguments tools/train.py and tools/test.py share (mmdet's and mmseg's CLI)."""
    parser.add_argument('--work-dir', help='where logs (and checkpoints) go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def read_config(path: str, prog: str) -> Config:
    """``Config.fromfile(path)``, or exit with one line naming the file and the problem."""
    if not osp.isfile(path):
        hint = ' (a folder: give the .py file inside)' if osp.isdir(path) else ''
        raise SystemExit(f'{prog}: error: config file {path!r} not found{hint}; the '
                         f'published ones are in configs/ (e.g. configs/maskrcnn_convnext_t.py).')
    try:
        return Config.fromfile(path)
    except (SyntaxError, ImportError, KeyError, ValueError, TypeError) as err:
        raise SystemExit(f'{prog}: error: config {path!r} cannot be read: '
                         f'{type(err).__name__}: {err}')


def load_config(args, prog: str = 'tools') -> Config:
    """Read the config, apply ``--cfg-options``, the launcher and the work dir."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = read_config(args.config, prog)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
