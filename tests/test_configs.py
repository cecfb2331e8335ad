"""Every config loads and builds its model with the registered backbone; the recipe values."""
from pathlib import Path

import pytest
import torch
from helpers import load_config

from convnext_backbone import ARCH_SETTINGS, ConvNeXtBackbone
from convnext_cli import model_zoo
from convnext_cli.test import enable_tta

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
ALL = sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts)
DETECTION = [p for p in ALL if 'rcnn' in p.name]
#: Metafile entries whose parameters and FLOPs we counted (none published), by config.
DERIVED = {m['Config']: m for m in model_zoo.load_models()
           if m.get('Config') and 'counted here' in m.get('Source', '')}


def build_model(cfg):
    scope = cfg.get('default_scope', 'mmdet')
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('path', ALL, ids=[p.stem for p in ALL])
def test_config_builds_model_with_convnext_backbone(path):
    cfg = load_config(str(path))
    model_cfg = cfg.model.get('module', cfg.model)  # multi-scale test: SegTTAModel
    model_cfg.backbone.pop('init_cfg', None)  # pretrained files are not shipped
    with torch.device('meta'):  # XL-size models without allocating their weights
        model = build_model(cfg)
    model = getattr(model, 'module', model)
    assert isinstance(model.backbone, ConvNeXtBackbone)
    ours = DERIVED.get(f'configs/{path.name}')  # parameters we counted, recorded exactly
    if ours is not None and 'Parameters (M)' in ours['Metadata']:
        mparams = sum(p.numel() for p in model.parameters()) / 1e6
        assert round(mparams, 2) == ours['Metadata']['Parameters (M)']
    neck = model_cfg.get('neck') or model_cfg.get('panoptic_head')  # or Mask2Former's head
    in_channels = neck['in_channels'] if neck else model_cfg.decode_head['in_channels']
    if isinstance(in_channels, int):  # a head on one stage (DeepLabV3+: the last, + a skip)
        head = model_cfg.decode_head
        assert in_channels == model.backbone.dims[head.in_index]
        assert head.c1_in_channels == model.backbone.dims[0]  # mmseg's skip reads stage 0
    else:  # the returned stages' widths (DINO 4-scale: stages 1-3)
        assert list(in_channels) == [model.backbone.dims[i] for i in model.backbone.out_indices]


# the V1 recipes (the V2 ones: tests/test_v2_recipes.py)
DETECTION_MODELS = {m['Name']: m for m in model_zoo.with_config('det')
                    if m['In Collection'] == 'ConvNeXt'}
SEGMENTATION_MODELS = {m['Name']: m for m in model_zoo.with_config('seg')
                       if m['In Collection'] == 'ConvNeXt' and m['Metadata']['Method'] == 'UperNet'}
ALL_MODELS = {m['Name']: m for task in ('det', 'seg') for m in model_zoo.with_config(task)}


#: The published V1 recipes, written out as the official configs state them
#: (facebookresearch/ConvNeXt object_detection/configs/convnext/*.py and
#: semantic_segmentation/configs/convnext/*.py; total batch 16, AdamW, wd 0.05):
#: ``name: (drop_path_rate, lr, lr-decay rate, num_layers)``. The 1x config shares the 3x's.
PUBLISHED_RECIPES = {
    'maskrcnn_convnext_t': (0.4, 1e-4, 0.95, 6),
    'maskrcnn_convnext_t_1x': (0.4, 1e-4, 0.95, 6),
    'cascade_maskrcnn_convnext_t': (0.4, 2e-4, 0.7, 6),
    'cascade_maskrcnn_convnext_s': (0.6, 2e-4, 0.7, 12),
    'cascade_maskrcnn_convnext_b': (0.7, 2e-4, 0.8, 12),
    'cascade_maskrcnn_convnext_l': (0.7, 1e-4, 0.7, 12),
    'cascade_maskrcnn_convnext_xl': (0.8, 1e-4, 0.7, 12),
    'upernet_convnext_t': (0.4, 1e-4, 0.9, 6),
    'upernet_convnext_s': (0.3, 1e-4, 0.9, 12),
    'upernet_convnext_b': (0.4, 1e-4, 0.9, 12),
    'upernet_convnext_b_640': (0.4, 1e-4, 0.9, 12),
    'upernet_convnext_l_640': (0.4, 1e-4, 0.9, 12),
    'upernet_convnext_xl_640': (0.4, 8e-5, 0.9, 12),
}


def published_recipe(name):
    """``(arch, drop_path, lr, decay_rate, num_layers)`` of a config: the arch from the
    metafile, the hyperparameters from the table above."""
    meta = {**DETECTION_MODELS, **SEGMENTATION_MODELS}[name]['Metadata']
    return (meta['Arch'], *PUBLISHED_RECIPES[name])


def test_every_v1_config_has_a_published_recipe_row():
    assert set(PUBLISHED_RECIPES) == set(DETECTION_MODELS) | set(SEGMENTATION_MODELS)


@pytest.mark.parametrize('name', sorted(DETECTION_MODELS))
def test_detection_recipe_values(name):
    cfg = load_config(str(CONFIGS / f'{name}.py'))
    arch, drop_path, lr, decay, num_layers = published_recipe(name)
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.drop_path_rate, backbone.layer_scale_init_value) == (
        arch, drop_path, 1.0)
    assert backbone.init_cfg.type == 'Pretrained' and backbone.init_cfg.checkpoint
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    assert opt.constructor == 'ConvNeXtLayerDecayOptimizerConstructor'
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay) == (
        'AdamW', lr, 0.05)
    assert opt.paramwise_cfg == dict(decay_rate=decay, decay_type='layer_wise',
                                     num_layers=num_layers)
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    three_x = not name.endswith('_1x')
    assert cfg.train_cfg.max_epochs == (36 if three_x else 12)
    pipeline_types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert ('RandomChoice' in pipeline_types) == three_x
    if name.startswith('cascade'):
        for head in cfg.model.roi_head.bbox_head:
            assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
            assert head.norm_cfg.type == 'SyncBN' and head.loss_bbox.type == 'GIoULoss'


@pytest.mark.parametrize('name', sorted(SEGMENTATION_MODELS))
def test_segmentation_recipe_values(name):
    cfg = load_config(str(CONFIGS / f'{name}.py'))
    arch, drop_path, lr, _, num_layers = published_recipe(name)
    crop = SEGMENTATION_MODELS[name]['Metadata']['Crop']
    stride = crop * 2 // 3  # the official sliding window: 2/3 of the crop (341, 426)
    model = cfg.model
    assert (model.backbone.arch, model.backbone.drop_path_rate) == (arch, drop_path)
    assert model.data_preprocessor.size == (crop, crop)
    assert model.decode_head.type == 'UPerHead' and model.decode_head.channels == 512
    assert model.decode_head.norm_cfg.type == 'SyncBN'
    assert model.auxiliary_head.type == 'FCNHead'
    assert model.auxiliary_head.loss_decode.loss_weight == 0.4
    assert model.test_cfg == dict(mode='slide', crop_size=(crop, crop), stride=(stride, stride))
    crops = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'RandomCrop']
    assert crops[0]['crop_size'] == (crop, crop)
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size == 2
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper' and opt.optimizer.lr == lr
    assert opt.paramwise_cfg == dict(decay_rate=0.9, decay_type='stage_wise',
                                     num_layers=num_layers)
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.end, poly.type, poly.end) == ('LinearLR', 1500, 'PolyLR', 160000)
    ms = load_config(str(CONFIGS / f'{name}.py'))
    enable_tta(ms, 'mmseg')  # what tools/test.py --tta does
    assert ms.model.type == 'SegTTAModel' and ms.model.module.backbone.arch == arch
    assert ms.test_dataloader.dataset.pipeline[1]['type'] == 'TestTimeAug'


@pytest.mark.parametrize('path', sorted((CONFIGS / '_base_' / 'backbones').glob('*.py')),
                         ids=lambda p: p.stem)
def test_size_fragments_state_the_arch_tables_channels(path):
    cfg = load_config(str(path))
    assert cfg.convnext_channels == list(ARCH_SETTINGS[cfg.convnext_arch][1])


@pytest.mark.parametrize('name', sorted(ALL_MODELS))
def test_config_pretrained_file_is_the_published_one(name):
    entry = ALL_MODELS[name]
    cfg = load_config(str(CONFIGS.parent / entry['Config']))
    published = entry['Pretrained'].rsplit('/', 1)[1]
    assert Path(cfg.model.backbone.init_cfg.checkpoint).name == published


def test_every_config_has_a_metafile_entry():
    recorded = {m['Config'] for m in model_zoo.load_models() if m.get('Config')}
    leaves = {f'configs/{p.name}' for p in CONFIGS.glob('*.py')}
    assert leaves == recorded


def test_model_zoo_tables_come_from_the_metafile():
    zoo = (CONFIGS.parent / 'docs' / 'model_zoo.md').read_text()
    assert model_zoo.render_tables() in zoo, 'run: python -m convnext_cli.model_zoo'


SS_CONFIGS = sorted(CONFIGS.glob('upernet_*.py'))


@pytest.mark.parametrize('path', SS_CONFIGS, ids=[p.stem for p in SS_CONFIGS])
def test_tta_tests_whole_images_as_the_official_ms_configs(path):
    """--tta: whole images at each scale (ratios 0.5-1.75, flip), as the official *_ms
    configs; single-scale testing slides windows, as the official *_ss configs."""
    ss = load_config(str(path))
    ms = load_config(str(path))
    enable_tta(ms, 'mmseg')
    assert ms.model.type == 'SegTTAModel' and ms.model.module.test_cfg == dict(mode='whole')
    assert ss.model.test_cfg.mode == 'slide'
    assert ms.model.module.backbone == ss.model.backbone
    tta = ms.test_dataloader.dataset.pipeline[1]
    assert tta['type'] == 'TestTimeAug'
    assert [t['scale_factor'] for t in tta['transforms'][0]] == [0.5, 0.75, 1.0, 1.25, 1.5,
                                                                  1.75]


def test_v1_from_scratch_with_the_fine_tuning_layer_scale_is_reported():
    """The published configs' layer scale 1.0 is for fine-tuning; from scratch it is flagged
    with the fix, and the demos (from scratch, 1e-6), V2 and pretrained runs are not."""
    from convnext_cli.preflight import from_scratch_layer_scale_problem as problem
    cfg = load_config(str(CONFIGS / 'maskrcnn_convnext_t.py'))
    assert problem(cfg) is None  # a pretrained init_cfg replaces gamma
    cfg.model.backbone.init_cfg = None
    assert 'layer_scale_init_value=1e-6' in problem(cfg)
    cfg.load_from = 'work_dirs/some_detector.pth'  # a whole-model checkpoint brings gamma
    assert problem(cfg) is None
    for demo in sorted((CONFIGS / 'demo').glob('*.py')):
        assert problem(load_config(str(demo))) is None, demo.name
    v2 = load_config(str(CONFIGS / 'upernet_convnextv2_a.py'))
    v2.model.backbone.init_cfg = None
    assert problem(v2) is None


def test_metafile_follows_the_openmmlab_schema():
    """model-index.yml imports the metafile; Collections and Models as mmdet's and mmseg's
    metafiles write them (per-task Results), with no hyperparameters (those are the
    configs')."""
    import yaml
    root = CONFIGS.parent
    index = yaml.safe_load((root / 'model-index.yml').read_text())
    assert index == {'Import': ['configs/metafile.yml']}
    meta = yaml.safe_load((root / 'configs' / 'metafile.yml').read_text())
    assert set(meta) == {'Collections', 'Models'}
    collections = {c['Name'] for c in meta['Collections']}
    for c in meta['Collections']:
        assert c['Paper']['Title'] and c['Paper']['URL'].startswith('https://')
        assert c['Code']['URL'].startswith('https://') and (root / c['README']).is_file()
    tasks = {'Image Classification', 'Object Detection', 'Instance Segmentation',
             'Semantic Segmentation'}
    for m in meta['Models']:
        assert m['In Collection'] in collections, m['Name']
        assert 'Recipe' not in m['Metadata'], m['Name']
        assert m.get('Source'), m['Name']
        if m.get('Config'):
            assert (root / m['Config']).is_file(), m['Config']
        for result in m['Results']:
            assert result['Task'] in tasks and result['Dataset'], m['Name']
            if result['Task'] != 'Image Classification':
                assert result['Metrics'], m['Name']
        if m['Results'] and m['Metadata'].get('Method', '').endswith('Mask R-CNN'):
            assert [r['Task'] for r in m['Results']] == ['Object Detection',
                                                         'Instance Segmentation']
