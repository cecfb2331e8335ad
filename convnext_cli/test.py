"""Evaluate a checkpoint with a detection or segmentation config (mmdet's/mmseg's CLI).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os.path as osp

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .arguments import add_common_args, load_config
from .preflight import check_datasets, prepare_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a detector or a segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint not found: {args.checkpoint}')
    check_datasets(cfg, ('test',), f'python tools/test.py {args.config} {args.checkpoint}')
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
