"""Evaluate a checkpoint with a detection or segmentation config (mmdet's/mmseg's CLI).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from convnext_backbone.runtime import check_datasets, prepare_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a detector or a segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation logs go')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint not found: {args.checkpoint}')
    check_datasets(cfg, ('test',))
    prepare_cpu_distributed(cfg)
    # The checkpoint holds every weight: skip the backbone's pretrained init.
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    if args.out:
        cfg.test_evaluator = (cfg.test_evaluator if isinstance(cfg.test_evaluator, list)
                              else [cfg.test_evaluator])
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
