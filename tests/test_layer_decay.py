"""The layer-decay constructor against mmdet's and mmseg's own, and for odd depths."""
import pytest
import torch
from helpers import load_config
from torch import nn

from convnext_backbone import ConvNeXtBackbone, ConvNeXtLayerDecayOptimizerConstructor
from convnext_backbone.engine.layer_decay import layer_id

OPTIM = dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))


class Detector(nn.Module):
    """Backbone plus a neck-like layer, named as in mmdet/mmseg models."""

    def __init__(self, arch):
        super().__init__()
        self.backbone = ConvNeXtBackbone(arch)
        self.neck = nn.Conv2d(self.backbone.dims[-1], 8, 1)


def lr_and_wd_per_param(optim_wrapper, model):
    names = {id(p): n for n, p in model.named_parameters()}
    result = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            result[names[id(p)]] = (group['lr'], group['weight_decay'])
    return result


@pytest.mark.parametrize('library,arch,decay_type,num_layers,rate', [
    ('mmdet', 'tiny', 'layer_wise', 6, 0.95),
    ('mmdet', 'small', 'layer_wise', 12, 0.7),
    ('mmseg', 'tiny', 'stage_wise', 6, 0.9),
    ('mmseg', 'base', 'stage_wise', 12, 0.9),
])
def test_same_groups_as_openmmlab(library, arch, decay_type, num_layers, rate):
    if library == 'mmdet':
        from mmdet.engine.optimizers import LearningRateDecayOptimizerConstructor
    else:
        from mmseg.engine.optimizers import LearningRateDecayOptimizerConstructor
    model = Detector(arch)
    paramwise = dict(decay_rate=rate, decay_type=decay_type, num_layers=num_layers)
    theirs = lr_and_wd_per_param(
        LearningRateDecayOptimizerConstructor(OPTIM, paramwise)(model), model)
    ours = lr_and_wd_per_param(ConvNeXtLayerDecayOptimizerConstructor(OPTIM, paramwise)(model),
                               model)
    inferred = lr_and_wd_per_param(ConvNeXtLayerDecayOptimizerConstructor(
        OPTIM, dict(decay_rate=rate, decay_type=decay_type))(model), model)
    assert ours.keys() == theirs.keys() == dict(model.named_parameters()).keys()
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-12), name
        assert inferred[name] == pytest.approx(theirs[name], rel=1e-12), name


@pytest.mark.parametrize('arch', ['v2-nano', 'v2-atto', 'v2-huge',
                                  dict(depths=[2, 2, 5, 2], dims=[8, 16, 24, 32])])
def test_ids_rise_monotonically_and_stay_in_range(arch):
    with torch.device('meta'):
        backbone = ConvNeXtBackbone(arch)
    for num_layers in (None, 4, 6, 12):
        from convnext_backbone.engine.layer_decay import infer_num_layers
        layers = num_layers or infer_num_layers(backbone.depths)
        block_ids = [layer_id(f'backbone.stages.{s}.{b}.dwconv.weight', backbone.depths, layers)
                     for s in range(4) for b in range(backbone.depths[s])]
        assert block_ids == sorted(block_ids)
        assert min(block_ids) == 1 and max(block_ids) == layers
        downsample_ids = [layer_id(f'backbone.downsample_layers.{i}.1.weight',
                                   backbone.depths, layers) for i in range(4)]
        assert downsample_ids == sorted(downsample_ids) and downsample_ids[-1] == layers
        assert layer_id('neck.conv.weight', backbone.depths, layers) == layers + 1


def test_no_weight_decay_for_norms_biases_layer_scales_and_grn():
    model = Detector(dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], v2=True))
    model.backbone.stages[0][0].gamma = nn.Parameter(torch.ones(8))
    wrapper = ConvNeXtLayerDecayOptimizerConstructor(OPTIM, dict(decay_rate=0.8))(model)
    norm_weights = {f'{m}.weight' for m, module in model.named_modules()
                    if isinstance(module, nn.LayerNorm)}
    for name, (_, wd) in lr_and_wd_per_param(wrapper, model).items():
        no_decay = (name.endswith('.bias') or name in norm_weights or '.grn.' in name
                    or name.endswith('gamma'))
        assert wd == (0.0 if no_decay else 0.05), name


@pytest.mark.parametrize('paramwise,pattern', [
    (dict(decay_type='block_wise'), 'decay_type must be one of'),
    (dict(decay_rate=1.5), r'decay_rate must be in \(0, 1\]'),
    (dict(num_layers=2), 'num_layers must be an int >= 4'),
    (dict(decay_rates=0.9), 'unknown paramwise_cfg keys'),
])
def test_bad_paramwise_cfg(paramwise, pattern):
    with pytest.raises(ValueError, match=pattern):
        ConvNeXtLayerDecayOptimizerConstructor(OPTIM, paramwise)


def test_registered_for_mmdet_configs():
    from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
    assert OPTIM_WRAPPER_CONSTRUCTORS.get('ConvNeXtLayerDecayOptimizerConstructor') is \
        ConvNeXtLayerDecayOptimizerConstructor


def test_without_paramwise_cfg_norms_biases_and_gamma_still_get_no_weight_decay():
    # mmengine skips add_params when paramwise_cfg is empty; the constructor must not.
    model = Detector(dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32]))
    for paramwise in (None, {}):
        per_param = lr_and_wd_per_param(
            ConvNeXtLayerDecayOptimizerConstructor(OPTIM, paramwise)(model), model)
        assert len(per_param) == len(list(model.parameters()))
        params = dict(model.named_parameters())
        for name, (lr, wd) in per_param.items():
            assert lr == pytest.approx(1e-4), name  # decay_rate defaults to 1: no lr decay
            no_decay = params[name].ndim == 1  # norms, biases and layer scales
            assert wd == (0.0 if no_decay else 0.05), name
        assert per_param['backbone.norm0.weight'][1] == 0.0


def test_custom_keys_multiply_like_mmengines_own():
    """custom_keys on top of layer decay: each parameter's lr is the layer-decay lr times
    the lr_mult mmengine's DefaultOptimWrapperConstructor gives it (decay_mult likewise)."""
    from mmengine.optim import DefaultOptimWrapperConstructor
    model = Detector(dict(depths=[1, 1, 3, 1], dims=[8, 16, 24, 32]))
    custom_keys = {'neck': dict(lr_mult=10.0, decay_mult=0.0),
                   'backbone.stages.2': dict(lr_mult=0.5),
                   'backbone.stages.2.1': dict(lr_mult=2.0, decay_mult=3.0)}
    decay = dict(decay_rate=0.8, decay_type='layer_wise', num_layers=6)
    plain = lr_and_wd_per_param(ConvNeXtLayerDecayOptimizerConstructor(OPTIM, decay)(model),
                                model)
    ours = lr_and_wd_per_param(ConvNeXtLayerDecayOptimizerConstructor(
        OPTIM, dict(decay, custom_keys=custom_keys))(model), model)
    mmengine = lr_and_wd_per_param(DefaultOptimWrapperConstructor(
        OPTIM, dict(custom_keys=custom_keys))(model), model)
    params = dict(model.named_parameters())
    for name, (lr, wd) in ours.items():
        assert lr == pytest.approx(plain[name][0] * mmengine[name][0] / 1e-4), name
        decays = plain[name][1] > 0
        assert wd == pytest.approx(mmengine[name][1] if decays else 0.0), name
    assert ours['neck.weight'] == (pytest.approx(plain['neck.weight'][0] * 10), 0.0)
    assert ours['backbone.stages.2.1.pwconv1.weight'][1] == pytest.approx(0.15)
    assert params['backbone.stages.2.0.pwconv1.weight'].ndim == 2


def test_custom_keys_values_are_checked():
    with pytest.raises(ValueError, match=r"custom_keys\['neck'\] must be a dict"):
        ConvNeXtLayerDecayOptimizerConstructor(OPTIM, dict(custom_keys={'neck': 10}))


def test_param_groups_viewer_shows_what_training_uses():

    from convnext_cli.show_param_groups import build_model_on_meta, param_groups, render
    cfg = load_config('configs/maskrcnn_convnext_t.py')
    rows = param_groups(cfg)
    model = build_model_on_meta(load_config('configs/maskrcnn_convnext_t.py'))
    assert sum(r['params'] for r in rows) == sum(p.numel() for p in model.parameters())
    for row in rows:  # Mask R-CNN T: decay 0.95 over 6 layers, the rest (id 7) at 1
        layer = int(row['name'].split('_')[1])
        assert row['lr_mult'] == pytest.approx(0.95 ** (7 - layer))
        assert row['weight_decay'] == (0.05 if row['name'].endswith('_decay') and
                                       'no_decay' not in row['name'] else 0.0)
    assert '16 groups' in render(rows)


def test_openmmlab_constructor_with_too_few_layers_is_reported():
    """mmdet's own constructor, num_layers=6 on ConvNeXt-S: its groups really get an lr
    above the base lr (decay^-4), and the check says so with the fix."""

    from convnext_cli.preflight import layer_decay_problem
    from convnext_cli.show_param_groups import param_groups
    cfg = load_config('configs/maskrcnn_convnext_t.py')
    cfg.model.backbone.arch = 'small'
    cfg.optim_wrapper.constructor = 'mmdet.LearningRateDecayOptimizerConstructor'
    cfg.optim_wrapper.paramwise_cfg = dict(decay_rate=0.7, decay_type='layer_wise',
                                           num_layers=6)
    problem = layer_decay_problem(cfg)
    assert 'layer ids up to 11' in problem and 'num_layers=12' in problem
    assert max(r['lr_mult'] for r in param_groups(cfg)) == pytest.approx(0.7 ** -4)
    cfg.optim_wrapper.paramwise_cfg.num_layers = 12
    assert layer_decay_problem(cfg) is None
    assert max(r['lr_mult'] for r in param_groups(cfg)) == pytest.approx(1.0)
