"""FSDP (configs/_base_/fsdp.py: mmengine's FlexibleRunner and FSDPStrategy with our wrap
policy) in two gloo processes trains as one process does on the same total batch, holds
about half the bytes per rank, checkpoints the whole model and resumes."""
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import load_config, without_scope
from mmengine.config import Config
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel

from convnext_backbone import ConvNeXtBackbone
from convnext_backbone.engine.fsdp import clean_name, convnext_fsdp_wrap_policy
from convnext_cli import train
from convnext_cli.demo_data.ade import make_ade_demo

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
FSDP_CONFIGS = sorted((CONFIGS / 'fsdp').glob('*.py'))
ITERS = 3

#: The UperNet demo, made deterministic so that two ranks with one image each compute what
#: one process with both images does: no flip, drop path or dropout, a fixed order, GroupNorm
#: in the heads (BatchNorm's statistics would depend on how the batch is split).
#: Stage 0 is frozen (mixed requires_grad inside FSDP's root unit) and lr decay is on.
SMALL = """
_base_ = [{bases}]
data_root = '{data_root}'
norm = dict(type='GN', num_groups=4, requires_grad=True)
model = dict(backbone=dict(drop_path_rate=0.0, frozen_stages=1, with_cp={with_cp}),
             decode_head=dict(norm_cfg=norm, dropout_ratio=0.0),
             auxiliary_head=dict(norm_cfg=norm, dropout_ratio=0.0))
train_dataloader = dict(batch_size={batch}, sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(data_root=data_root, pipeline=[
                            dict(type='LoadImageFromFile'),
                            dict(type='LoadAnnotations', reduce_zero_label=True),
                            dict(type='PackSegInputs')]))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters}, val_interval=1000)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
val_cfg = val_dataloader = val_evaluator = None
test_cfg = test_dataloader = test_evaluator = None
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={iters}))
randomness = dict(seed=0)
load_from = '{init}'
"""


def write_config(path: Path, data_root: str, fsdp: bool, batch: int, iters: int,
                 with_cp: bool = False) -> str:
    """The small UperNet in one process (``fsdp=False``) or under FSDP, all runs starting
    from the same weights (``init.pth`` beside it: the runners draw random numbers in
    different orders before building the model)."""
    bases = [str(CONFIGS / 'demo' / 'upernet_convnext_demo.py')]
    if fsdp:
        bases.append(str(CONFIGS / '_base_' / 'fsdp.py'))
    path.write_text(SMALL.format(bases=', '.join(repr(b) for b in bases), data_root=data_root,
                                 batch=batch, iters=iters, with_cp=with_cp,
                                 init=path.parent / 'init.pth'))
    return str(path)


def save_initial_weights(config: str) -> None:
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), Path(config).parent / 'init.pth')


def losses(runner) -> list:
    return [float(v) for v in runner.message_hub.get_scalar('train/loss').data[0]]


def run_train(argv):
    runner = train.build_runner(train.parse_args(argv))
    runner.train()
    return runner


def bytes_per_rank(runner) -> dict:
    """Parameter and AdamW-state bytes this rank holds (FSDP: its shard of each)."""
    params = sum(p.numel() * p.element_size() for p in runner.model.parameters())
    state = runner.optim_wrapper.optimizer.state.values()
    optim = sum(t.numel() * t.element_size() for s in state for t in s.values()
                if torch.is_tensor(t) and t.dim() > 0)
    return dict(params=params, optimizer=optim)


def lr_and_weight_decay(runner) -> dict:
    """Each parameter's (lr, weight decay) in the layer-decay groups, by unwrapped name."""
    return {clean_name(name): (group['lr'], group.get('weight_decay'))
            for group in runner.optim_wrapper.optimizer.param_groups
            for name in group['param_names']}


def _fsdp_worker(rank, world_size, port, configs, work_dirs, results):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        # ITERS - 1 iterations, a checkpoint, then the last iteration resumed from it with
        # gradient checkpointing on (the same gradients).
        first = run_train([configs['fsdp'], '--launcher', 'pytorch',
                           '--work-dir', work_dirs['fsdp']])
        assert type(first).__name__ == 'FlexibleRunner'
        wrapped = [m for m in first.model.modules()
                   if isinstance(m, FullyShardedDataParallel)]
        part = dict(losses=losses(first), bytes=bytes_per_rank(first), units=len(wrapped),
                    groups=lr_and_weight_decay(first))
        resumed = run_train([configs['fsdp_resume'], '--launcher', 'pytorch',
                             '--work-dir', work_dirs['fsdp'], '--resume'])
        # The history before the resume comes from the checkpoint (rank 0's): only the
        # last loss is this rank's.
        part['resumed_losses'] = losses(resumed)[-1:]
        results[rank] = part
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.e2e
def test_fsdp_two_processes_train_as_one_process_checkpoint_and_resume(tmp_path):
    data_root = make_ade_demo(str(tmp_path / 'ade'), num_train=2 * ITERS, num_val=1)
    configs = dict(
        single=write_config(tmp_path / 'single.py', data_root, False, 2, ITERS),
        fsdp=write_config(tmp_path / 'fsdp.py', data_root, True, 1, ITERS - 1),
        fsdp_resume=write_config(tmp_path / 'fsdp_resume.py', data_root, True, 1, ITERS,
                                 with_cp=True))
    work_dirs = dict(single=str(tmp_path / 'single'), fsdp=str(tmp_path / 'fsdp'))
    save_initial_weights(configs['single'])

    torch.manual_seed(0)
    single = run_train([configs['single'], '--work-dir', work_dirs['single']])
    reference = losses(single)
    unsharded = bytes_per_rank(single)

    results = mp.Manager().dict()
    mp.spawn(_fsdp_worker, args=(2, free_port(), configs, work_dirs, results), nprocs=2,
             join=True)
    ranks = [results[0], results[1]]

    # One unit per block (1+1+3+1) plus the root. Every parameter has the lr and weight
    # decay it has in one process, on both ranks: a parameter outside a rank's shard is
    # empty there, and its weight decay must still follow its real shape.
    assert ranks[0]['units'] == 7
    groups = lr_and_weight_decay(single)
    assert len({lr for lr, _ in groups.values()}) > 3 and {0.0, 0.05} <= {
        wd for _, wd in groups.values()}
    assert ranks[0]['groups'] == groups and ranks[1]['groups'] == groups
    # Each rank's loss is its image's; their mean is the loss of the two-image batch.
    fsdp = [(a + b) / 2 for a, b in zip(ranks[0]['losses'], ranks[1]['losses'])]
    resumed = [(a + b) / 2 for a, b in zip(ranks[0]['resumed_losses'],
                                           ranks[1]['resumed_losses'])]
    print(f'losses, one process (batch 2): {reference}\n'
          f'losses, FSDP 2 x 1: {fsdp} then resumed with with_cp: {resumed}')
    assert len(fsdp) == ITERS - 1 and len(resumed) == 1
    # fp32 sums in another order (reduce-scatter of the gradients): 1e-5 relative.
    assert fsdp + resumed == pytest.approx(reference, rel=1e-5)
    assert reference[0] != pytest.approx(reference[-1], rel=1e-3)  # it trained

    # Bytes per rank: about half of the unsharded parameters and AdamW state.
    for rank, part in enumerate(ranks):
        shares = {k: part['bytes'][k] / unsharded[k] for k in unsharded}
        print(f'rank {rank}: {part["bytes"]} bytes of {unsharded} unsharded: {shares}')
        for share in shares.values():
            assert 0.45 < share < 0.55

    # The checkpoint is the whole model: it loads into one process's model and into our
    # loader, and holds what the one-process run trained (to fp32 reduction order).
    ckpt = torch.load(Path(work_dirs['fsdp']) / f'iter_{ITERS}.pth', map_location='cpu',
                      weights_only=False)
    trained = {k: v.clone() for k, v in single.model.state_dict().items()}
    assert set(ckpt['state_dict']) == set(trained)
    single.model.load_state_dict(ckpt['state_dict'], strict=True)
    for name, tensor in trained.items():  # the one-process run's weights, kept above
        torch.testing.assert_close(ckpt['state_dict'][name], tensor, rtol=1e-4, atol=1e-5,
                                   msg=name)
    backbone = ConvNeXtBackbone(dict(depths=[1, 1, 3, 1], dims=[32, 64, 128, 256]),
                                init_cfg=dict(type='Pretrained', checkpoint=str(
                                    Path(work_dirs['fsdp']) / f'iter_{ITERS}.pth')))
    backbone.init_weights()
    torch.testing.assert_close(backbone.stages[2][0].pwconv1.weight,
                               trained['backbone.stages.2.0.pwconv1.weight'],
                               rtol=1e-4, atol=1e-5)


def test_wrap_policy_units_are_blocks_or_stages():
    backbone = ConvNeXtBackbone(dict(depths=[1, 1, 3, 1], dims=[8, 16, 24, 32]))
    for unit, expected in (('block', 6), ('stage', 4)):
        units = [m for m in backbone.modules()
                 if convnext_fsdp_wrap_policy(m, False, 0, unit=unit)]
        assert len(units) == expected
        assert all(convnext_fsdp_wrap_policy(m, True, 0, unit=unit)
                   for m in backbone.modules())
    assert not convnext_fsdp_wrap_policy(nn.Sequential(), False, 0, unit='stage')
    with pytest.raises(ValueError, match="unit must be one of \\('block', 'stage'\\)"):
        convnext_fsdp_wrap_policy(backbone, False, 0, unit='layer')
    assert clean_name('backbone.stages.0.0._fsdp_wrapped_module._checkpoint_wrapped_module.'
                      'pwconv1.weight') == 'backbone.stages.0.0.pwconv1.weight'


@pytest.mark.parametrize('path', FSDP_CONFIGS, ids=[p.stem for p in FSDP_CONFIGS])
def test_fsdp_configs_are_their_recipe_with_the_fsdp_runner(path):
    """Each FSDP config is a recipe plus _base_/fsdp.py; XXL is XL's recipe with the XXL
    backbone (no published XXL recipe exists)."""
    cfg = load_config(str(path))
    fsdp = Config.fromfile(str(CONFIGS / '_base_' / 'fsdp.py'))
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy == fsdp.strategy
    recipe_name = path.name.replace('_fsdp.py', '.py').replace('_xxl', '_xl')
    recipe = load_config(str(CONFIGS / recipe_name))
    ours, theirs = without_scope(cfg.to_dict()), without_scope(recipe.to_dict())
    for key in ('runner_type', 'strategy'):
        ours.pop(key)
    if '_xxl' in path.name:
        assert ours['model']['backbone'].pop('arch') == 'xxlarge'
        theirs['model']['backbone'].pop('arch')
        for cfg_dict in (ours, theirs):
            cfg_dict['model']['backbone'].pop('init_cfg')
            cfg_dict.pop('pretrained')
            cfg_dict.pop('convnext_arch')
            channels = cfg_dict.pop('convnext_channels')
            head = cfg_dict['model'].get('neck') or cfg_dict['model']['decode_head']
            assert head.pop('in_channels') == channels
            cfg_dict['model'].get('auxiliary_head', {}).pop('in_channels', None)
        assert ours['optim_wrapper']['paramwise_cfg'].pop('num_layers') == 3 + 30 // 3
        theirs['optim_wrapper']['paramwise_cfg'].pop('num_layers')
    assert ours == theirs


def test_an_fsdp_config_without_a_launcher_is_refused_with_the_fix():
    with pytest.raises(SystemExit, match='needs a distributed launch. Run it with '
                                         'tools/dist_train.sh CONFIG NUM_GPUS'):
        train.build_runner(train.parse_args([str(FSDP_CONFIGS[0])]))
