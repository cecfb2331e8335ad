"""tools/make_config.py: configs for one's own data (checked against mmdet's and mmseg's own
datasets), two training iterations of each written config, every data check, and the
README's "Fine-tune on your own data" commands."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_python, shrink_detector, shrink_segmentor
from mmengine.config import Config
from PIL import Image

from convnext_cli import make_config
from convnext_cli.data_checks import Report, check_coco, check_overlap, check_segmentation
from convnext_cli.demo_data.ade import make_ade_demo
from convnext_cli.demo_data.coco import make_coco_demo

ROOT = Path(__file__).resolve().parents[1]
# The demo set's four categories renamed, with non-contiguous ids listed out of order:
# mmdet numbers labels in the file's "categories" order (12 -> 0, 3 -> 1, 40 -> 2, 7 -> 3).
NEW_IDS = [12, 3, 40, 7]
NEW_NAMES = ['kiwi', 'apple', 'pear', 'fig']
def relabel(source: Path, target: Path) -> dict:
    data = json.loads(source.read_text())
    mapping = {c['id']: new for c, new in zip(data['categories'], NEW_IDS)}
    data['categories'] = [dict(id=i, name=n) for i, n in zip(NEW_IDS, NEW_NAMES)]
    for ann in data['annotations']:
        ann['category_id'] = mapping[ann['category_id']]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data))
    return data


@pytest.fixture
def own_coco(tmp_path):
    demo = make_coco_demo(str(tmp_path / 'demo'), 6, 4, seed=0, size=(128, 128))
    for split in ('train', 'val'):
        relabel(demo / 'annotations' / f'instances_{split}.json',
                tmp_path / 'mine' / f'{split}.json')
    return dict(train_ann=tmp_path / 'mine' / 'train.json', train_images=demo / 'train',
                val_ann=tmp_path / 'mine' / 'val.json', val_images=demo / 'val')


def make(base, out, data, *extra):
    args = [str(ROOT / 'configs' / base), '--out', str(out)]
    for key, value in data.items():
        args += [f'--{key.replace("_", "-")}', str(value)]
    return make_config.main(args + list(extra))


def leaf_values(node, key):
    if isinstance(node, dict):
        return ([node[key]] if key in node else []) + [
            v for child in node.values() for v in leaf_values(child, key)]
    if isinstance(node, (list, tuple)):
        return [v for child in node for v in leaf_values(child, key)]
    return []


@pytest.mark.parametrize('base', ['maskrcnn_convnext_t.py', 'cascade_maskrcnn_convnext_t.py',
                                  'dino_convnext_t.py'])
def test_detection_config_numbers_classes_as_mmdet_does(own_coco, tmp_path, base):
    out = tmp_path / 'configs' / 'mine.py'
    assert make(base, out, own_coco, '--batch-size', '2') == 0
    cfg = Config.fromfile(str(out))
    assert cfg.metainfo.classes == tuple(NEW_NAMES)
    heads = leaf_values(cfg.model.to_dict(), 'num_classes')
    assert heads and set(heads) == {4}
    # Cascade: 3 box heads + mask head; Mask R-CNN: box + mask; DINO: its box head (the
    # denoising queries take the head's num_classes).
    assert len(heads) == {'cascade': 4, 'maskrcnn': 2, 'dino': 1}[base.split('_')[0]]
    if 'cascade' in base:  # the other settings of each cascade stage are inherited
        stds = [h['bbox_coder']['target_stds'] for h in cfg.model.roi_head.bbox_head]
        assert stds[0] != stds[1] != stds[2]
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert cfg.val_evaluator.ann_file == str(own_coco['val_ann'])

    # mmdet's own CocoDataset, built from the written config, labels each box with the
    # class whose name the annotation file gives its category.
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules()
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, pipeline=[]))
    data = json.loads(own_coco['train_ann'].read_text())
    names = {c['id']: c['name'] for c in data['categories']}
    checked = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        expected = sorted((tuple(round(v) for v in a['bbox']), names[a['category_id']])
                          for a in data['annotations'] if a['image_id'] == info['img_id'])
        got = sorted((tuple(round(v) for v in (x1, y1, x2 - x1, y2 - y1)),
                      cfg.metainfo.classes[inst['bbox_label']])
                     for inst in info['instances'] for x1, y1, x2, y2 in [inst['bbox']])
        assert got == expected
        checked += len(got)
    assert checked > 10


@pytest.mark.parametrize('base', ['upernet_convnext_t.py', 'mask2former_convnext_t_ade20k.py'])
def test_segmentation_config(tmp_path, base):
    root = make_ade_demo(str(tmp_path / 'ade'), num_train=4, num_val=2)
    out = tmp_path / 'seg.py'
    assert make_config.main([str(ROOT / 'configs' / base), '--out', str(out),
                             '--data-root', str(root), '--classes', 'sky', 'ground', 'disc',
                             'box', 'triangle', '--reduce-zero-label']) == 0
    cfg = Config.fromfile(str(out))
    assert set(leaf_values(cfg.model.to_dict(), 'num_classes')) == {5}
    if 'mask2former' in base:  # per-class loss weights resized, no-object weight kept
        assert cfg.model.decode_head.loss_cls.class_weight == [1.0] * 5 + [0.1]
    assert [t.get('reduce_zero_label') for t in cfg.train_dataloader.dataset.pipeline
            if t['type'] == 'LoadAnnotations'] == [True]
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules()
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, pipeline=[]))
    assert dataset.metainfo['classes'] == ('sky', 'ground', 'disc', 'box', 'triangle')
    assert len(dataset) == 2
    assert cfg.train_cfg.max_iters == make_config.MIN_ITERS  # 4 images: the floor


def test_schedule_is_sized_to_the_dataset():
    base = Config.fromfile(str(ROOT / 'configs/maskrcnn_convnext_t.py'))
    epochs, why = make_config.detection_schedule(base, 400, 2, None)
    assert epochs == 50 and '200 iterations per epoch' in why  # 10k updates
    assert make_config.detection_schedule(base, 50_000, 16, None)[0] == 36  # the recipe's
    assert make_config.detection_schedule(base, 40, 16, None)[0] == 100  # the cap
    steps = make_config.rescale_schedulers(base, 50, True, 200)
    assert steps[0]['end'] == 1000 and steps[1]['milestones'] == [38, 46]  # 27/36, 33/36


# --- the data checks -------------------------------------------------------------------

def coco_report(own_coco, edit=None, split='train'):
    path = own_coco[f'{split}_ann']
    data = json.loads(path.read_text())
    if edit:
        edit(data)
    path.write_text(json.dumps(data))
    report = Report()
    check_coco(str(path), str(own_coco[f'{split}_images']), report)
    return report


def test_clean_data_has_no_problem(own_coco):
    assert coco_report(own_coco).problems == {}


def test_missing_and_unreadable_images_are_errors(own_coco, tmp_path):
    (own_coco['train_images'] / '00001.png').unlink()
    (own_coco['train_images'] / '00002.png').write_bytes(b'not a png')
    report = coco_report(own_coco)
    assert set(report.problems) == {'missing', 'unreadable'}
    assert all(p.fatal and p.count == 1 for p in report.problems.values())
    assert '00001.png' in report.problems['missing'].examples[0]
    out = tmp_path / 'not_written.py'
    assert make('maskrcnn_convnext_t.py', out, own_coco) == 1 and not out.exists()


def test_wrong_declared_size_is_an_error(own_coco):
    report = coco_report(own_coco, lambda d: d['images'][0].update(width=999))
    assert report.problems['size'].fatal and '999' in report.problems['size'].examples[0]


def test_boxes_outside_degenerate_polygons_and_unused_categories_warn(own_coco):
    def edit(data):
        data['annotations'] = [a for a in data['annotations'] if a['category_id'] != 40]
        data['annotations'][0]['bbox'] = [100, 100, 60, 60]  # in a 128 x 128 image
        data['annotations'][1]['segmentation'] = [[10, 10, 20, 20]]  # two points
        data['annotations'][2]['segmentation'] = [[5, 5, 10, 10, 15, 15]]  # collinear
        data['annotations'][3]['bbox'][2] = 0  # zero width
    report = coco_report(own_coco, edit)
    assert set(report.problems) == {'outside', 'polygon', 'tiny-box', 'unused-train'}
    assert not report.fatal
    assert report.problems['polygon'].count == 2
    assert "'pear' (id 40)" in report.problems['unused-train'].examples[0]
    assert 'Fix:' in report.render()


def test_unknown_category_and_duplicate_names_are_errors(own_coco):
    def edit(data):
        data['annotations'][0]['category_id'] = 99
        data['categories'][1]['name'] = 'kiwi'
    report = coco_report(own_coco, edit)
    assert report.problems['bad-cat'].fatal and report.problems['dup-name'].fatal


def test_validation_images_that_are_training_images(own_coco, tmp_path):
    shutil.copy(own_coco['train_images'] / '00003.png', own_coco['val_images'] / '00002.png')
    assert make('maskrcnn_convnext_t.py', tmp_path / 'a.py', own_coco) == 1
    assert make('maskrcnn_convnext_t.py', tmp_path / 'b.py', own_coco,
                '--allow-overlap') == 0
    report = Report()
    check_overlap({'h': 'train/x.png'}, {'h': 'val/y.png'}, report)
    assert report.problems['overlap'].examples == ['train/x.png = val/y.png']


def test_label_values_outside_the_classes(tmp_path):
    root = make_ade_demo(str(tmp_path / 'ade'), num_train=3, num_val=1)
    labels = sorted((root / 'annotations' / 'training').glob('*.png'))
    report = Report()
    check_segmentation(root / 'images/training', root / 'annotations/training', 5, False,
                       report)
    # Demo labels are 0 (unlabelled) and 1..5: without --reduce-zero-label 5 is out of range.
    assert report.problems['label-range'].fatal
    assert '--reduce-zero-label' in report.problems['label-range'].fix
    report = Report()
    check_segmentation(root / 'images/training', root / 'annotations/training', 5, True,
                       report)
    assert report.problems == {}
    label = np.asarray(Image.open(labels[0])).copy()
    label[0, :4] = 9
    Image.fromarray(label).save(labels[0])
    (root / 'images' / 'training' / labels[1].name.replace('.png', '.jpg')).unlink()
    report = Report()
    check_segmentation(root / 'images/training', root / 'annotations/training', 5, True,
                       report)
    assert set(report.problems) == {'label-range', 'no-image'}
    assert '[9]' in report.problems['label-range'].examples[0]


# --- two iterations of each written config, and the README's commands ---------------

def run(*args, cwd=ROOT):
    return run_python(*args, cwd=cwd)


@pytest.mark.e2e
@pytest.mark.parametrize('base', ['cascade_maskrcnn_convnext_t.py'])
def test_written_detection_configs_train_and_evaluate(own_coco, tmp_path, base):
    # Cascade: its three box heads are a list the written config rewrites. A written Mask
    # R-CNN config trains and tests in test_readme_section_runs_as_written.
    out = tmp_path / 'mine.py'
    assert make(base, out, own_coco) == 0
    # Shrunk like the arch: the 128-pixel demo images at 256 instead of the recipe's
    # 1333x800 multi-scale crops (the written lines above stay as they are).
    small = ("[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, "
             "with_mask=True), dict(type='Resize', scale=(256, 256), keep_ratio=True), {}"
             "dict(type='PackDetInputs'{})]")
    with open(out, 'a') as f:
        f.write("train_dataloader['dataset']['pipeline'] = " + small.format(
                    "dict(type='RandomFlip', prob=0.5), ", '') + '\n')
        f.write("val_dataloader['dataset']['pipeline'] = " + small.format(
                    '', ", meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', "
                        "'scale_factor')") + '\n')
    result, log = run('tools/train.py', out, '--work-dir', tmp_path / 'work', '--cfg-options',
                      *shrink_detector(cascade_stages=3), 'train_dataloader.dataset.indices=4',
                      'val_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1',
                      'train_cfg.val_interval=1')
    assert result.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][2/2]' in log and 'coco/segm_mAP' in log


@pytest.mark.e2e
def test_written_segmentation_config_trains_and_evaluates(tmp_path):
    root = make_ade_demo(str(tmp_path / 'ade'), num_train=4, num_val=2)
    out = tmp_path / 'seg.py'
    assert make_config.main([str(ROOT / 'configs/upernet_convnext_t.py'), '--out', str(out),
                             '--data-root', str(root), '--classes', 'sky', 'ground', 'disc',
                             'box', 'triangle', '--reduce-zero-label']) == 0
    result, log = run('tools/train.py', out, '--work-dir', tmp_path / 'work', '--cfg-options',
                      *shrink_segmentor(), 'train_cfg.max_iters=2',
                      'train_cfg.val_interval=2')
    assert result.returncode == 0, log[-3000:]
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log


def readme_commands():
    text = (ROOT / 'README.md').read_text()
    section = text.split('## Fine-tune on your own data', 1)[1].split('\n## ', 1)[0]
    block = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    return [c.strip() for c in block.replace('\\\n', ' ').splitlines()
            if c.strip() and not c.strip().startswith('#')]


@pytest.mark.e2e
def test_readme_section_runs_as_written(tmp_path):
    """The README's commands, in a fresh folder; training and testing get the options that
    shrink them to a few CPU iterations appended (nothing else changes)."""
    shutil.copytree(ROOT / 'configs', tmp_path / 'configs')
    (tmp_path / 'tools').symlink_to(ROOT / 'tools')
    commands = readme_commands()
    assert [c.split()[1] for c in commands] == [
        'tools/make_demo_data.py', 'tools/make_config.py', 'tools/train.py', 'tools/test.py']
    shrink = ' --cfg-options ' + ' '.join(shrink_detector())
    commands[2] += shrink + (' train_dataloader.dataset.indices=4 train_cfg.max_epochs=1 '
                             'val_dataloader.dataset.indices=2')
    commands[3] += shrink + ' test_dataloader.dataset.indices=2'
    for command in commands:
        result = subprocess.run(command.replace('python ', f'{sys.executable} ', 1),
                                shell=True, capture_output=True, text=True, cwd=tmp_path,
                                timeout=900)
        assert result.returncode == 0, command + '\n' + (result.stdout + result.stderr)[-3000:]
    assert 'coco/bbox_mAP' in result.stdout + result.stderr


@pytest.mark.parametrize('break_it', ['epochs', 'heads'])
def test_a_config_that_does_not_read_back_as_planned_is_refused(own_coco, tmp_path,
                                                                monkeypatch, break_it):
    """The written file is read back by mmengine and compared with the plan: a template
    that writes something else (a wrong schedule, a head left at 80 classes) is an error,
    and the file is kept aside, not at --out."""
    template, validation = make_config.TEMPLATES['detection']
    if break_it == 'epochs':
        broken = template.replace('max_epochs={length}', 'max_epochs={length} + 1')
    else:
        broken = template.replace('{heads})', ')')
    assert broken != template
    monkeypatch.setitem(make_config.TEMPLATES, 'detection', (broken, validation))
    out = tmp_path / 'configs' / 'mine.py'
    with pytest.raises(make_config.ReadBackError, match='does not read back as planned') as e:
        make('maskrcnn_convnext_t.py', out, own_coco)
    assert ('train_cfg length is' if break_it == 'epochs' else 'num_classes is 80') in str(
        e.value)
    assert not out.exists() and out.with_name('mine.py.rejected').is_file()


def test_mask2former_instance_config_counts_things_and_iterations(own_coco, tmp_path):
    """Mask2Former's COCO recipe counts iterations and splits classes into things and
    stuff: the written config makes every class a thing (with the per-class loss weights
    resized), counts iterations, and drops the recipe's end-of-training validation
    intervals; mmdet builds the model from it."""
    out = tmp_path / 'configs' / 'mine.py'
    assert make('mask2former_convnext_t_coco.py', out, own_coco, '--batch-size', '2') == 0
    cfg = Config.fromfile(str(out))
    head, fusion = cfg.model.panoptic_head, cfg.model.panoptic_fusion_head
    assert (head.num_things_classes, head.num_stuff_classes) == (4, 0)
    assert (fusion.num_things_classes, fusion.num_stuff_classes) == (4, 0)
    assert head.loss_cls.class_weight == [1.0] * 4 + [0.1]
    assert 'max_epochs' not in cfg.train_cfg and cfg.train_cfg.dynamic_intervals is None
    iters, (step1, step2) = cfg.train_cfg.max_iters, cfg.param_scheduler[0]['milestones']
    assert cfg.param_scheduler[0]['end'] == iters and not cfg.param_scheduler[0]['by_epoch']
    assert (round(step1 / iters, 2), round(step2 / iters, 2)) == (0.89, 0.96)  # the recipe's
    assert cfg.default_hooks.checkpoint.by_epoch is False
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg.model.backbone.init_cfg = None
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert model.panoptic_head.num_classes == 4


def test_a_panoptic_base_is_refused_with_what_to_do(tmp_path, capsys):
    """make_config checks COCO instance annotations; a panoptic base is refused before
    reading any data, with the instance base to use instead."""
    code = make_config.main([str(ROOT / 'configs/mask2former_convnext_t_coco_panoptic.py'),
                             '--out', str(tmp_path / 'x.py'), '--train-ann',
                             str(tmp_path / 'a.json'), '--train-images', str(tmp_path)])
    assert code == 2 and not (tmp_path / 'x.py').exists()
    assert 'trains on COCO panoptic annotations: make_config writes configs for COCO ' \
        'instance annotations only' in capsys.readouterr().err
