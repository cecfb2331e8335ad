"""DeepLabV3+ with a dilated ConvNeXt: the derived recipe's values (no published result to
check against: configs/_base_/deeplabv3plus_convnext.py says what it was derived from),
and a short training run with evaluation on the generated ADE20K-layout set."""
import math
from pathlib import Path

import pytest
from helpers import load_config, logged_losses, without_scope

from convnext_cli import train

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
#: ``config: (output_stride, ASPP dilations)``: the DeepLabV3+ paper's rates at stride 16,
#: mmseg's ResNet d8 recipe's at stride 8.
DERIVED = {'deeplabv3plus_convnext_t_ade20k': (16, (1, 6, 12, 18)),
           'deeplabv3plus_convnext_t_os8_ade20k': (8, (1, 12, 24, 36))}


@pytest.mark.parametrize('name', sorted(DERIVED))
def test_recipe_values(name):
    cfg = load_config(str(CONFIGS / f'{name}.py'))
    import mmseg
    resnet = load_config(Path(mmseg.__file__).parent / '.mim/configs/deeplabv3plus/'
                         'deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py')
    output_stride, dilations = DERIVED[name]
    model = cfg.model
    assert model.backbone.type == 'ConvNeXtBackbone'
    assert (model.backbone.arch, model.backbone.output_stride) == ('tiny', output_stride)
    assert model.backbone.drop_path_rate == 0.4  # the UperNet ConvNeXt-T recipe's
    head, aux = model.decode_head, model.auxiliary_head
    assert (head.type, head.in_index, head.in_channels, head.c1_in_channels) == (
        'DepthwiseSeparableASPPHead', 3, 768, 96)
    assert head.dilations == dilations
    # Everything else of the heads, the data and the schedule is mmseg's ResNet recipe.
    cfg, resnet = without_scope(cfg.to_dict()), without_scope(resnet.to_dict())
    model, head, aux = cfg['model'], cfg['model']['decode_head'], cfg['model']['auxiliary_head']
    for key in ('channels', 'c1_channels', 'dropout_ratio', 'num_classes', 'norm_cfg',
                'loss_decode'):
        assert head[key] == resnet['model']['decode_head'][key], key
    assert (aux['in_index'], aux['in_channels']) == (2, 384)
    assert aux['loss_decode'] == resnet['model']['auxiliary_head']['loss_decode']
    for key in ('train_dataloader', 'val_dataloader', 'train_cfg', 'val_evaluator'):
        assert cfg[key] == resnet[key], key
    assert model['test_cfg'] == resnet['model']['test_cfg']
    # ConvNeXt's optimizer (the UperNet recipe's) instead of ResNet's SGD.
    opt = cfg['optim_wrapper']
    assert (opt['type'], opt['optimizer']['type'], opt['optimizer']['lr'],
            opt['optimizer']['weight_decay']) == ('AmpOptimWrapper', 'AdamW', 1e-4, 0.05)
    assert opt['paramwise_cfg'] == dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6)
    assert cfg['train_dataloader']['batch_size'] * 4 == cfg['auto_scale_lr'][
        'base_batch_size'] == 16


@pytest.mark.e2e
def test_trains_with_a_falling_loss_and_evaluates(tmp_path):
    from convnext_cli.demo_data.ade import make_ade_demo
    ade = make_ade_demo(str(tmp_path / 'ade'), num_train=2, num_val=2)
    options = [
        # V2-A (at the config's output stride 16), narrower heads, 96x96 images.
        'model.backbone.arch=v2-atto', 'model.backbone.init_cfg=None',
        'model.decode_head.in_channels=320',
        'model.decode_head.c1_in_channels=40', 'model.decode_head.channels=64',
        'model.auxiliary_head.in_channels=160',  # V2-A's stage 2
        'model.auxiliary_head.channels=32', 'model.data_preprocessor.size=(96,96)',
        f'train_dataloader.dataset.data_root={ade}', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        f'val_dataloader.dataset.data_root={ade}', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'val_dataloader.dataset.pipeline.1.scale=(192,96)',
        # Nothing random, so that the loss of 8 steps on the same two images must fall:
        # mmseg's ADE20K pipeline without its randomness (resize to 96x96, the crop takes
        # it whole, no flip, no colour change), no drop path or dropout, a constant lr.
        'train_dataloader.dataset.pipeline.2.scale=(192,96)',
        'train_dataloader.dataset.pipeline.2.ratio_range=(1.0,1.0)',
        'train_dataloader.dataset.pipeline.3.crop_size=(96,96)',
        'train_dataloader.dataset.pipeline.4.prob=0.0',
        'train_dataloader.dataset.pipeline.5.brightness_delta=0',
        'train_dataloader.dataset.pipeline.5.contrast_range=(1.0,1.0)',
        'train_dataloader.dataset.pipeline.5.saturation_range=(1.0,1.0)',
        'train_dataloader.dataset.pipeline.5.hue_delta=1',  # its least (0 is refused)
        'model.backbone.drop_path_rate=0.0', 'model.decode_head.dropout_ratio=0.0',
        'model.auxiliary_head.dropout_ratio=0.0', 'randomness.seed=0',
        'param_scheduler=[]', 'optim_wrapper.optimizer.lr=2e-4',
        'train_cfg.max_iters=8', 'train_cfg.val_interval=8',
        'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=8']
    train.main([str(CONFIGS / 'deeplabv3plus_convnext_t_ade20k.py'),
                '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options])
    log = next((tmp_path / 'work').rglob('*.log')).read_text()
    losses = logged_losses(log)
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses), losses
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert 'mIoU' in log.split('Iter(val)')[-1]


def test_make_config_takes_it_as_a_base(tmp_path):
    from convnext_cli import make_config
    from convnext_cli.demo_data.ade import make_ade_demo
    root = make_ade_demo(str(tmp_path / 'ade'), num_train=2, num_val=1)
    out = tmp_path / 'mine.py'
    make_config.main([str(CONFIGS / 'deeplabv3plus_convnext_t_ade20k.py'), '--out', str(out),
                      '--data-root', str(root), '--classes', 'sky', 'ground', 'disc', 'box',
                      'triangle', '--reduce-zero-label'])  # read back and compared inside
    mine = load_config(out)
    assert mine.model.decode_head.num_classes == mine.model.auxiliary_head.num_classes == 5
    assert mine.model.backbone.output_stride == 16
