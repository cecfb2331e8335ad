"""DINO with ConvNeXt (issue 26): the 4-scale configs are detrex's published recipe on
mmdet's DINO, the 5-scale ones mmdet's 5-scale recipe with the same backbone values; a
shrunk DINO trains on generated data and is evaluated for box AP by the test tool."""
from pathlib import Path

import pytest
from helpers import (
    FIXTURE_ARCH,
    FIXTURE_V1,
    PACK_DET_TEST,
    coco_layout_dataloaders,
    load_config,
    train_then_test,
    without_scope,
)

from convnext_cli.demo_data.coco import CLASSES, make_coco_demo

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
LIBRARY = {'4scale': 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
           '5scale': 'mmdet::dino/dino-5scale_swin-l_8xb2-12e_coco.py'}
SIZES = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}


def library_config(scales: str, tmp_path: Path):
    wrapper = tmp_path / f'library_{scales}.py'
    wrapper.write_text(f"_base_ = '{LIBRARY[scales]}'\n")
    return load_config(str(wrapper))


@pytest.mark.parametrize('size', sorted(SIZES))
def test_4_and_5_scale_configs_are_the_library_recipes_with_a_convnext(size, tmp_path):
    for scales, suffix in (('4scale', ''), ('5scale', '_5scale')):
        cfg = load_config(str(CONFIGS / f'dino_convnext_{size}{suffix}.py'))
        backbone = cfg.model.backbone
        assert backbone.arch == SIZES[size] and backbone.drop_path_rate == 0.0
        assert backbone.layer_scale_init_value == 1.0
        assert Path(backbone.init_cfg.checkpoint).name == f'convnext_{SIZES[size]}_22k_1k_384.pth'
        indices = (1, 2, 3) if scales == '4scale' else (0, 1, 2, 3)
        assert tuple(backbone.out_indices) == indices
        assert backbone.get('with_cp', False) == (scales == '5scale')  # as mmdet's Swin-L
        ours, theirs = (without_scope(c.to_dict()) for c in (
            cfg, library_config(scales, tmp_path)))
        channels = ours.pop('convnext_channels')
        assert ours['model']['neck'].pop('in_channels') == [channels[i] for i in indices]
        theirs['model']['neck'].pop('in_channels')
        for c in (ours, theirs):
            c['model'].pop('backbone')
            for key in ('custom_imports', 'pretrained', 'convnext_arch'):
                c.pop(key, None)
        assert ours == theirs  # optimizer (backbone lr x 0.1), schedule, data: the library's


ITERS = 4


@pytest.mark.e2e
def test_dino_trains_and_is_evaluated_for_box_ap(tmp_path):
    root = make_coco_demo(str(tmp_path / 'coco'), num_train=4, num_val=2)
    config = tmp_path / 'dino_small.py'
    config.write_text(f"""_base_ = '{CONFIGS / 'dino_convnext_t.py'}'
data_root = '{root}/'
metainfo = dict(classes={CLASSES!r})
# The shared fixtures' small ConvNeXt (official classification layout, loaded through
# init_cfg), one encoder and two decoder layers, 30 queries, 128x128 images: CPU seconds.
model = dict(
    backbone=dict(arch=dict(_delete_=True, **{FIXTURE_ARCH!r}),
                  init_cfg=dict(type='Pretrained', checkpoint='{FIXTURE_V1}')),
    neck=dict(in_channels={FIXTURE_ARCH['dims'][1:]!r}),
    num_queries=30, encoder=dict(num_layers=1), decoder=dict(num_layers=2),
    bbox_head=dict(num_classes={len(CLASSES)}),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=10)),
    test_cfg=dict(max_per_img=20))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')]
""" + coco_layout_dataloaders(
        "[dict(type='LoadImageFromFile'), dict(type='Resize', scale=(128, 128), "
        f"keep_ratio=True), {PACK_DET_TEST}]") + f"""
test_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
val_cfg = val_dataloader = val_evaluator = None  # evaluated once, by tools/test.py
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={ITERS})
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={ITERS}, by_epoch=False))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
""")
    log = train_then_test(config, tmp_path / 'work', ITERS)
    assert 'coco/bbox_mAP: ' in log
