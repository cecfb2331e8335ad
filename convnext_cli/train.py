"""Train a detector or segmentor from a config (mmdet's and mmseg's CLI).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Works for detection (mmdet) and segmentation (mmseg) configs; multi-GPU and multi-node
runs go through tools/dist_train.sh / tools/slurm_train.sh and mmengine's launchers.
"""
import argparse
import logging
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .arguments import add_common_args, inner_model, load_config
from .preflight import (
    adapt_amp_to_device,
    check_datasets,
    check_pretrained,
    from_scratch_layer_scale_problem,
    fsdp_launch_problem,
    layer_decay_problem,
    prepare_cpu_distributed,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or a segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint in the '
                             'work dir if no path is given')
    add_common_args(parser)
    return parser.parse_args(argv)


def build_cfg(args) -> Config:
    cfg = load_config(args, 'train.py')
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit('--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                             'config.')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def resume_checkpoint(cfg: Config):
    """The checkpoint a resumed run continues from, or None (not resuming, or ``--resume``
    without a path and no checkpoint in the work dir yet: a fresh start)."""
    if not cfg.get('resume'):
        return None
    if cfg.get('load_from'):
        if not osp.isfile(cfg.load_from):
            raise SystemExit(f'--resume {cfg.load_from}: no such checkpoint.')
        return cfg.load_from
    from mmengine.runner import find_latest_checkpoint
    return find_latest_checkpoint(cfg.work_dir)


def skip_pretrained(cfg: Config, resume_from: str) -> None:
    """A resumed run takes every weight from its checkpoint: the backbone's pretrained
    file is not read (it may have moved since the run started)."""
    model = inner_model(cfg)
    init_cfg = model.get('backbone', {}).get('init_cfg')
    if init_cfg:
        print_log(f'Resuming from {resume_from}: every weight comes from it; the backbone\'s '
                  f'pretrained file ({init_cfg.get("checkpoint")}) is not read.',
                  logger='current')
        model.backbone.init_cfg = None


def build_runner(args):
    """The checked config's runner: mmengine's ``Runner``, or the one ``runner_type`` names
    (``FlexibleRunner`` for FSDP configs)."""
    cfg = build_cfg(args)
    problem = fsdp_launch_problem(cfg, f'python tools/train.py {args.config}')
    if problem:
        raise SystemExit(problem)
    phases = ('train', 'val') if cfg.get('val_cfg') else ('train',)
    check_datasets(cfg, phases, f'python tools/train.py {args.config}')  # before building
    resume_from = resume_checkpoint(cfg)
    if resume_from:
        skip_pretrained(cfg, resume_from)
    else:
        check_pretrained(cfg)
    for problem in (layer_decay_problem(cfg),
                    None if resume_from else from_scratch_layer_scale_problem(cfg)):
        if problem:
            print_log(f'WARNING: {problem}', logger='current', level=logging.WARNING)
    adapt_amp_to_device(cfg)
    prepare_cpu_distributed(cfg)
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def main(argv=None):
    args = parse_args(argv)
    runner = build_runner(args)
    runner.train()
    final = {key[len('val/'):]: buffer.current()
             for key, buffer in runner.message_hub.log_scalars.items()
             if key.startswith('val/') and not key.endswith(('time', 'data_time'))}
    if final:
        runner.logger.info('Final validation: ' + '  '.join(
            f'{k} {v:.4f}' for k, v in final.items() if not k.endswith(('_s', '_m', '_l'))))
    last = osp.join(runner.work_dir, 'last_checkpoint')
    checkpoint = open(last).read().strip() if osp.isfile(last) else 'none saved'
    runner.logger.info(f'Done. Logs and checkpoints: {runner.work_dir}; '
                       f'last checkpoint: {checkpoint}')


if __name__ == '__main__':
    main()
