"""Coming from mmpretrain's ConvNeXt: mmdet's and mmseg's own ConvNeXt configs run with one
word changed (the backbone type, and the import that registers it), and mmpretrain's
arguments are accepted with their meaning or refused by name."""
import math
import re
import warnings
from pathlib import Path

import pytest
import torch
from helpers import without_scope
from mmengine.hooks import Hook

from convnext_backbone import ConvNeXtBackbone

ROOT = Path(__file__).resolve().parents[1]
#: mmdet's projects/ConvNeXt-V2 configs, copied with their source named (not in the wheel).
PROJECT_CONFIGS = sorted((ROOT / 'tests/data/mmdet_projects').glob('*.py'))


def shipped_configs():
    """Every ConvNeXt config in the installed mmdet and mmseg, found at run time."""
    import mmdet
    import mmseg
    found = []
    for package in (mmdet, mmseg):
        folder = Path(package.__file__).parent / '.mim' / 'configs' / 'convnext'
        found += sorted(folder.glob('*.py'))
    return found


# --- mmpretrain's arguments -------------------------------------------------------------

@pytest.mark.parametrize('kwargs, problem, fix', [
    (dict(gap_before_final_norm=True), 'gap_before_final_norm=True is not supported',
     'Set gap_before_final_norm=False'),
    (dict(norm_cfg=dict(type='BN')), "norm_cfg={'type': 'BN'} is not supported",
     'Remove norm_cfg or set it so'),
    (dict(norm_cfg=dict(type='LN2d', eps=1e-6, requires_grad=False)),
     'requires_grad=False is not supported', 'with frozen_stages instead'),
    (dict(act_cfg=dict(type='ReLU')), "act_cfg={'type': 'ReLU'} is not supported",
     'Remove act_cfg or set it so'),
    (dict(act_cfg=dict(type='GELU', approximate='tanh')), 'is not supported: ConvNeXt blocks '
     'use the exact GELU', "act_cfg=dict(type='GELU')"),
    (dict(stem_patch_size=2), 'stem_patch_size=2 is not supported', 'set it to 4'),
    (dict(linear_pw_conv='yes'), "linear_pw_conv must be True or False, got 'yes'", ''),
    (dict(arch=dict(depths=[2, 2, 6, 2], dims=[8] * 4, channels=[8] * 4)),
     'needs exactly the keys depths and dims', "or mmpretrain's channels"),
    (dict(out_indices=[-5]), 'out_indices must be distinct stage indices', '-4..-1'),
])
def test_arguments_that_would_change_the_network_are_refused_by_name(kwargs, problem, fix):
    with pytest.raises(ValueError, match=re.escape(problem)) as error:
        ConvNeXtBackbone(**kwargs)
    assert fix in str(error.value)


def test_mmpretrain_spellings_mean_what_they_mean_in_mmpretrain():
    # mmpretrain's defaults, written out, build the same network as ours.
    model = ConvNeXtBackbone('tiny', stem_patch_size=4, norm_cfg=dict(type='LN2d', eps=1e-6),
                             act_cfg=dict(type='GELU'), linear_pw_conv=True,
                             gap_before_final_norm=False, out_indices=-1)
    assert model.out_indices == (3,)
    assert ConvNeXtBackbone(out_indices=[-3, -1]).out_indices == (1, 3)
    # norm_cfg's eps reaches every LayerNorm.
    eps = {m.eps for m in ConvNeXtBackbone('v2-atto', norm_cfg=dict(type='LN2d', eps=1e-5))
           .modules() if isinstance(m, torch.nn.LayerNorm)}
    assert eps == {1e-5}
    # mmpretrain's V2 sizes by name: V1 blocks unless use_grn (as there); a channels dict.
    atto = ConvNeXtBackbone('atto')
    assert atto.dims == [40, 80, 160, 320] and atto.depths == [2, 2, 6, 2]
    assert not atto.use_grn and atto.stages[0][0].gamma is not None
    v2 = ConvNeXtBackbone('atto', use_grn=True, layer_scale_init_value=0.)
    reference = ConvNeXtBackbone('v2-atto')
    assert {k: v.shape for k, v in v2.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    custom = ConvNeXtBackbone(dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64]))
    assert custom.dims == [8, 16, 32, 64]
    # frozen_stages >= 1 freezes what mmpretrain freezes: downsample_layers[:k], stages[:k].
    frozen = ConvNeXtBackbone('v2-atto', frozen_stages=2)
    trainable = {n.split('.')[0] + '.' + n.split('.')[1] for n, p in frozen.named_parameters()
                 if p.requires_grad and not n.startswith('norm')}
    assert trainable == {'downsample_layers.2', 'downsample_layers.3', 'stages.2', 'stages.3'}


def test_frozen_stages_0_with_mmpretrain_arguments_warns_that_it_freezes_the_stem():
    with pytest.warns(UserWarning, match='frozen_stages=0 freezes the stem here'):
        model = ConvNeXtBackbone('v2-atto', frozen_stages=0, gap_before_final_norm=False)
    assert not any(p.requires_grad for p in model.downsample_layers[0].parameters())
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ConvNeXtBackbone('v2-atto', frozen_stages=0)  # our own spelling: no warning


def test_a_1x1_convolution_checkpoint_loads_as_the_linear_one(tmp_path):
    # mmpretrain's linear_pw_conv=False saves the pointwise layers as (out, in, 1, 1)
    # convolutions: the same numbers as the Linear layers of the fixture it is made from.
    from conftest import expected, fixture_arch, fixture_dir
    source = torch.load(fixture_dir('v2') / 'mmpretrain.pth', map_location='cpu',
                        weights_only=True)
    state = {k: v[:, :, None, None] if re.search(r'pointwise_conv\d\.weight$', k) else v
             for k, v in source['state_dict'].items()}
    assert sum(v.dim() == 4 and v.shape[-1] == 1 for v in state.values()) > 0
    torch.save({'state_dict': state}, tmp_path / 'conv.pth')
    model = ConvNeXtBackbone(fixture_arch('v2'), linear_pw_conv=False,
                             init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'conv.pth'),
                                           prefix='backbone.')).eval()
    model.init_weights()
    reference = ConvNeXtBackbone(fixture_arch('v2'), init_cfg=dict(
        type='Pretrained', checkpoint=str(fixture_dir('v2') / 'mmpretrain.pth'),
        prefix='backbone.')).eval()
    reference.init_weights()
    for name, tensor in reference.state_dict().items():
        if not re.match(r'norm[0-3]\.', name):  # output norms: fresh, as from a classifier
            assert torch.equal(model.state_dict()[name], tensor), name
    assert expected('v2')  # the fixture's own outputs are checked in test_checkpoint.py


# --- the shipped configs, one word changed ------------------------------------------------

#: mmpretrain's module names for ours (the test's own mapping, not the loader's table).
MMPRETRAIN_BLOCK_NAMES = {'dwconv': 'depthwise_conv', 'pwconv1': 'pointwise_conv1',
                          'pwconv2': 'pointwise_conv2'}


def our_name(mmpretrain_name: str) -> str:
    """A ``backbone.*`` tensor name of mmpretrain's in ours (by the table above)."""
    name = mmpretrain_name[len('backbone.'):]
    for ours, theirs in MMPRETRAIN_BLOCK_NAMES.items():
        name = name.replace(f'.{theirs}.', f'.{ours}.')
    return name


def as_mmpretrain_classifier(backbone: ConvNeXtBackbone) -> dict:
    """What mmpretrain's ``ImageClassifier`` saves for a backbone of this structure, with
    random values: ``backbone.*`` in mmpretrain's names (GRN as ``(C,)``), ``norm3`` only
    (applied after pooling) and a ``head.fc``; written from our names by a table of this
    test, not by the loader. ``backbone`` may be on the meta device (only shapes are read)."""
    state = {}
    generator = torch.Generator().manual_seed(0)
    for name, meta in backbone.state_dict().items():
        if re.match(r'norm[0-2]\.', name):
            continue
        tensor = torch.randn(meta.shape, generator=generator)
        for ours, theirs in MMPRETRAIN_BLOCK_NAMES.items():
            name = name.replace(f'.{ours}.', f'.{theirs}.')
        state['backbone.' + name] = tensor.reshape(-1) if '.grn.' in name else tensor
    state['head.fc.weight'] = torch.randn(1000, backbone.dims[-1])
    state['head.fc.bias'] = torch.zeros(1000)
    return {'state_dict': state, 'meta': {'mmpretrain_version': '1.2.0'}}


def switched(path: Path):
    """The config with the one-word change: ``type='ConvNeXtBackbone'`` and the import
    that registers it instead of mmpretrain's (or mmcls's)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(path), import_custom_modules=False)  # mmpretrain: absent
    assert cfg.model.backbone.type in ('mmpretrain.ConvNeXt', 'mmcls.ConvNeXt')
    assert cfg.custom_imports.imports in (['mmpretrain.models'], 'mmpretrain.models',
                                          ['mmcls.models'])
    cfg.model.backbone.type = 'ConvNeXtBackbone'
    cfg.custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)
    return cfg


def small_run(cfg, work_dir: Path, data: dict, checkpoint: Path):
    """Options for the data, the size and the CPU optimizer wrapper only (plus no
    validation and no checkpoint saving): two iterations on the generated sets."""
    is_seg = cfg.default_scope == 'mmseg'
    batch = cfg.train_dataloader.batch_size
    dataset = cfg.train_dataloader.dataset
    if is_seg:
        dataset.update(data_root=str(data['ade']), pipeline=[
            dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='Resize', scale=(64, 64), keep_ratio=False),
            dict(type='PackSegInputs')])
        cfg.model.data_preprocessor.size = (64, 64)
        cfg.train_cfg.max_iters = 2
    else:
        from convnext_cli.demo_data.coco import CLASSES

        # DINO picks its 900 queries among the encoder's tokens: 1360 at 256x256
        side = 256 if 'num_queries' in cfg.model else 128
        dataset.update(data_root=str(data['coco']), ann_file='annotations/instances_train.json',
                       data_prefix=dict(img='train/'), metainfo=dict(classes=CLASSES),
                       indices=2 * batch, pipeline=[
                           dict(type='LoadImageFromFile'),
                           dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                           dict(type='Resize', scale=(side, side), keep_ratio=True),
                           dict(type='PackDetInputs')])
        cfg.train_cfg.max_epochs = 1
        train_cfg = cfg.model.get('train_cfg') or {}
        if 'rpn_proposal' in train_cfg:  # the size of the RoI heads' batch (3 x 512 RoIs
            train_cfg.rpn_proposal.max_per_img = 100  # through Cascade's convolutions)
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs CUDA
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    cfg.update(val_cfg=None, val_dataloader=None, val_evaluator=None, test_cfg=None,
               test_dataloader=None, test_evaluator=None, work_dir=str(work_dir),
               launcher='none')
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    return cfg


class LoadedAndTrained(Hook):
    """Before the first iteration, every backbone tensor of the checkpoint is in the model
    under our name (mapped by this test's table); then the losses of the iterations."""

    def __init__(self, checkpoint: dict):
        self.expected, self.losses, self.checked = checkpoint['state_dict'], [], 0

    def before_train(self, runner):
        ours = runner.model.backbone.state_dict()
        for name, tensor in self.expected.items():
            if not name.startswith('backbone.') or name.startswith('backbone.norm3.'):
                continue  # the head, and a classifier's post-pooling norm: not loaded
            mine = our_name(name)
            assert torch.equal(ours[mine].reshape(-1), tensor.reshape(-1)), mine
            self.checked += 1

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    from convnext_cli.demo_data.ade import make_ade_demo
    from convnext_cli.demo_data.coco import make_coco_demo
    root = tmp_path_factory.mktemp('demo')
    return dict(coco=make_coco_demo(str(root / 'coco'), num_train=8, num_val=1),
                ade=make_ade_demo(str(root / 'ade'), num_train=4, num_val=1))


def test_the_installed_libraries_ship_convnext_configs():
    names = [p.name for p in shipped_configs()]
    assert sum('coco' in n for n in names) >= 3 and sum('ade20k' in n for n in names) >= 6, names


@pytest.mark.e2e
@pytest.mark.parametrize('path', shipped_configs() + PROJECT_CONFIGS,
                         ids=lambda p: f"{p.parents[3 if p.parent.name == 'convnext' else 0].name}/"
                                       f'{p.stem}')
def test_a_shipped_convnext_config_trains_with_one_word_changed(path, demo_data, tmp_path):
    from mmengine.runner import Runner
    cfg = switched(path)
    backbone_cfg = {k: v for k, v in cfg.model.backbone.items()
                    if k not in ('type', 'init_cfg', 'drop_path_rate')}
    with torch.device('meta'):  # shapes only: the L and XL weights are 0.8 and 1.4 GB
        structure = ConvNeXtBackbone(**backbone_cfg)
    checkpoint = as_mmpretrain_classifier(structure)
    torch.save(checkpoint, tmp_path / 'mmpretrain_classifier.pth')
    cfg = small_run(cfg, tmp_path / 'work', demo_data, tmp_path / 'mmpretrain_classifier.pth')
    runner = Runner.from_cfg(cfg)
    hook = LoadedAndTrained(checkpoint)
    runner.register_hook(hook)
    runner.train()
    assert hook.checked == sum(k.startswith('backbone.') and not k.startswith(
        'backbone.norm3.') for k in checkpoint['state_dict']) > 0
    assert len(hook.losses) == 2 and all(math.isfinite(v) for v in hook.losses), hook.losses


def test_the_readme_config_is_mmdets_with_one_word_changed(tmp_path):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    section = (ROOT / 'README.md').read_text().split("## Coming from mmpretrain's ConvNeXt")[1]
    block = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    path = tmp_path / block.splitlines()[0].lstrip('# ').strip()
    path.parent.mkdir(parents=True)
    path.write_text(block)
    mine = Config.fromfile(str(path))
    base = re.search(r"_base_ = 'mmdet::(.*?)'", block).group(1)
    original = next(p for p in shipped_configs() if p.as_posix().endswith(base))
    # mmengine marks what a package base defines with _scope_='mmdet': the same config
    assert without_scope(mine.to_dict()) == switched(original).to_dict()
    init_default_scope('mmdet')
    mine.model.backbone.init_cfg = None  # the URL: nothing is downloaded in tests
    assert type(MODELS.build(mine.model).backbone) is ConvNeXtBackbone


def test_an_mmpretrain_detector_checkpoint_loads_every_backbone_tensor_with_the_prefix(
        tmp_path):
    # A detector trained with mmpretrain's backbone saves backbone.* (with the four output
    # norms), neck.* and heads; the configs load it with prefix='backbone.'.
    from conftest import fixture_arch, fixture_dir
    source = torch.load(fixture_dir('v1') / 'mmpretrain.pth', map_location='cpu',
                        weights_only=True)['state_dict']
    state = dict(source)
    dims = fixture_arch('v1')['dims']
    for i in range(3):
        state[f'backbone.norm{i}.weight'] = torch.rand(dims[i]) + 0.5
        state[f'backbone.norm{i}.bias'] = torch.randn(dims[i])
    state['neck.lateral_convs.0.conv.weight'] = torch.randn(256, dims[0], 1, 1)
    state['rpn_head.rpn_conv.weight'] = torch.randn(256, 256, 3, 3)
    torch.save({'state_dict': state, 'meta': {}}, tmp_path / 'detector.pth')
    model = ConvNeXtBackbone(fixture_arch('v1'), init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'detector.pth'), prefix='backbone.'))
    model.init_weights()
    ours = model.state_dict()
    for name, tensor in state.items():
        if not name.startswith('backbone.'):
            continue
        mine = our_name(name)
        assert torch.equal(ours[mine].reshape(-1), tensor.reshape(-1)), mine
    assert all(torch.equal(ours[f'norm{i}.bias'], state[f'backbone.norm{i}.bias'])
               for i in range(3))  # a detector's output norms are loaded, not fresh
