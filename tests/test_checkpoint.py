"""Loading every published layout; refusing wrong, broken and unsafe files; conversion."""
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convnext_backbone import CheckpointError, ConvNeXtBackbone, load_pretrained
from convnext_backbone.checkpoint import read_checkpoint

from conftest import VERSIONS, expected, fixture_arch, fixture_dir, layer_norm_2d

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = {
    'v1': ['official_classification', 'official_detection', 'timm', 'torchvision',
           'mmpretrain'],
    'v2': ['official_classification', 'official_detection', 'timm', 'mmpretrain'],
}
CASES = [(v, layout) for v in VERSIONS for layout in LAYOUTS[v]]


def pretrained_backbone(version, path, **kwargs):
    model = ConvNeXtBackbone(arch=fixture_arch(version),
                             init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kwargs)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('version,layout', CASES)
def test_every_layout_reproduces_reference_outputs(version, layout):
    model = pretrained_backbone(version, fixture_dir(version) / f'{layout}.pth')
    ref = expected(version)
    with torch.no_grad():
        outs = model(ref['input'])
    if layout == 'official_detection':
        wants = ref['stage_outputs_normed']  # its per-stage norms are in the file
    else:
        # No per-stage norms in the file: norm{i} keep their unit initialisation.
        wants = [layer_norm_2d(o) for o in ref['stage_outputs']]
    for out, want in zip(outs, wants):
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize('version,layout', CASES)
def test_load_report(version, layout, caplog):
    model = ConvNeXtBackbone(arch=fixture_arch(version))
    with caplog.at_level(logging.INFO, logger=__name__):
        report = load_pretrained(model, fixture_dir(version) / f'{layout}.pth',
                                 logger=logging.getLogger(__name__))
    assert report.layout == layout.replace('_', '-')
    assert len(report.loaded) + len(report.missing) == len(model.state_dict())
    if layout == 'official_detection':
        assert report.missing == [] and all(k.startswith('neck.') for k in report.ignored)
    else:
        assert sorted(report.missing) == sorted(
            f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias'))
        assert report.ignored  # the classification head / final norm
    assert 'kept at their' in report.summary() or not report.missing
    assert report.summary() in caplog.text  # the loader logs what it did


def test_plain_state_dict_and_module_prefix(tmp_path):
    source = ConvNeXtBackbone(arch=fixture_arch('v1'))
    path = tmp_path / 'plain.pth'
    torch.save({f'module.{k}': v for k, v in source.state_dict().items()}, path)
    model = ConvNeXtBackbone(arch=fixture_arch('v1'))
    report = load_pretrained(model, path)
    assert report.missing == []
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, source.state_dict()[k])


def test_wrong_arch_is_refused_before_loading():
    model = ConvNeXtBackbone(arch=dict(depths=[2, 2, 3, 2], dims=[16, 32, 64, 128]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_pretrained(model, fixture_dir('v1') / 'timm.pth')
    message = str(err.value)
    assert "'downsample_layers.0.0.weight' has shape (8, 3, 4, 4) in the checkpoint but " \
           "(16, 3, 4, 4) in the backbone" in message
    assert 'looks like a custom V1 arch dict(depths=[2, 2, 3, 2], dims=[8, 16, 32, 64]' in message
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # nothing loaded


def test_wrong_depth_names_the_extra_block():
    model = ConvNeXtBackbone(arch=dict(depths=[2, 2, 2, 2], dims=[8, 16, 32, 64]))
    with pytest.raises(CheckpointError, match=r"'stages\.2\.2\..*lacks.*looks like a custom "
                                              r"V1 arch dict\(depths=\[2, 2, 3, 2\]"):
        load_pretrained(model, fixture_dir('v1') / 'official_classification.pth')


def test_named_arch_is_recognised(tmp_path):
    tiny = ConvNeXtBackbone('tiny')
    path = tmp_path / 'tiny.pth'
    torch.save({'model': tiny.state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"looks like 'tiny'"):
        load_pretrained(ConvNeXtBackbone('small'), path)


@pytest.mark.parametrize('ckpt,model_version,pattern', [
    ('v2', 'v1', r'ConvNeXt V2 \(GRN\) checkpoint but the backbone is ConvNeXt V1'),
    ('v1', 'v2', r'ConvNeXt V1 checkpoint but the backbone is ConvNeXt V2 \(GRN\)'),
])
def test_v1_v2_mix_has_its_own_message(ckpt, model_version, pattern):
    model = ConvNeXtBackbone(arch=fixture_arch(model_version))
    with pytest.raises(CheckpointError, match=pattern):
        load_pretrained(model, fixture_dir(ckpt) / 'official_classification.pth')


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='Checkpoint file not found: .*nope.pth'):
        pretrained_backbone('v1', path)


def test_truncated_file(tmp_path):
    data = (fixture_dir('v1') / 'timm.pth').read_bytes()
    path = tmp_path / 'truncated.pth'
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r'truncated.pth.* truncated or corrupt'):
        pretrained_backbone('v1', path)


def test_corrupt_file(tmp_path):
    data = bytearray((fixture_dir('v1') / 'timm.pth').read_bytes())
    data[2000:6000] = b'\0' * 4000  # damaged in the middle
    path = tmp_path / 'corrupt.pth'
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r'corrupt.pth.*(truncated or corrupt|corrupt)'):
        pretrained_backbone('v1', path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('these are not weights\n')
    with pytest.raises(CheckpointError, match=r'notes.txt.* is not a PyTorch checkpoint'):
        pretrained_backbone('v1', path)


def test_checkpoint_of_another_model(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7)}}, path)
    with pytest.raises(CheckpointError, match=r'resnet.pth is not a ConvNeXt checkpoint'):
        pretrained_backbone('v1', path)


class _CreatesFileWhenUnpickled:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return open, (self.target, 'w')


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'x': torch.zeros(1)}, 'payload': _CreatesFileWhenUnpickled(
        str(marker))}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=r'Refused to load .*evil.pth.*Nothing was '
                                              r'executed'):
        read_checkpoint(path)
    assert not marker.exists()


def test_legacy_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil_legacy.pth'
    with open(path, 'wb') as f:
        pickle.dump(_CreatesFileWhenUnpickled(str(marker)), f, protocol=2)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    assert not marker.exists()


def test_url_without_network_says_download_and_pass_local_path():
    with pytest.raises(CheckpointError, match=r'Could not download .*download the file '
                                              r'elsewhere and pass its local path'):
        read_checkpoint('http://127.0.0.1:9/convnext_tiny_no_such_file.pth')


@pytest.mark.parametrize('version,layout', [('v1', 'torchvision'), ('v2', 'timm'),
                                            ('v1', 'official_detection')])
@pytest.mark.e2e
def test_convert_then_load_round_trips(version, layout, tmp_path):
    src = fixture_dir(version) / f'{layout}.pth'
    dst = tmp_path / 'converted.pth'
    result = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'convert_checkpoint.py'), str(src), str(dst),
         '--verify'], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert 'verify: outputs of SRC and DST agree' in result.stdout
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['source_layout'] == layout.replace('_', '-')
    assert all(k.startswith('backbone.') for k in saved['state_dict'])
    model = pretrained_backbone(version, dst)
    ref = expected(version)
    with torch.no_grad():
        outs = model(ref['input'])
    wants = (ref['stage_outputs_normed'] if layout == 'official_detection'
             else [layer_norm_2d(o) for o in ref['stage_outputs']])
    for out, want in zip(outs, wants):
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)


@pytest.mark.e2e
def test_convert_refuses_wrong_arch(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'convert_checkpoint.py'),
         str(fixture_dir('v1') / 'timm.pth'), str(tmp_path / 'x.pth'), '--arch', 'tiny'],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0
    assert 'does not fit this backbone' in result.stderr
    assert not (tmp_path / 'x.pth').exists()


# --- the newer layouts: files made by transformers, timm, mmpretrain, open_clip and the
# official V2 remapping code (tests/data/*/extra_layouts.json says how each was made) ---

def extra_files():
    import json
    return [(v, entry) for v in VERSIONS
            for entry in json.loads((fixture_dir(v) / 'extra_layouts.json').read_text())['files']]


EXTRA = extra_files()
EXTRA_LAYOUT = {'hf.pth': 'hf', 'hf_upernet.pth': 'hf', 'timm_features.pth': 'timm-features',
                'mmpretrain_timm.pth': 'timm', 'mmpretrain_timm_features.pth': 'timm-features',
                'openclip.pth': 'timm', 'fcmae.pth': 'fcmae'}


@pytest.mark.parametrize('version,entry', EXTRA,
                         ids=[f'{v}-{e["file"][:-4]}' for v, e in EXTRA])
def test_newer_layouts_reproduce_their_reference_outputs(version, entry, caplog):
    path = fixture_dir(version) / entry['file']
    model = pretrained_backbone(version, path)
    ref = expected(version)
    with torch.no_grad():
        outs = model(ref['input'])
    if entry['reproduces'] == 'stage_outputs_normed':  # the file has per-stage norms
        wants = ref['stage_outputs_normed']
    else:
        wants = [layer_norm_2d(o) for o in ref['stage_outputs']]
    for out, want in zip(outs, wants):
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)
    with caplog.at_level(logging.INFO, logger=__name__):
        report = load_pretrained(ConvNeXtBackbone(arch=fixture_arch(version)), path,
                                 logger=logging.getLogger(__name__))
    assert report.summary() in caplog.text  # the loader logs what it did
    assert report.layout == EXTRA_LAYOUT[entry['file']]
    ignored = set(report.ignored)
    if entry['file'] == 'openclip.pth':  # text tower and projection: ignored and reported
        assert {'token_embedding.weight', 'visual.head.proj.weight', 'logit_scale'} <= ignored
    if entry['file'] == 'fcmae.pth':
        assert {'mask_token', 'proj.weight', 'pred.weight'} <= ignored
        assert any(k.startswith('decoder.') for k in ignored)
        assert 'pre-training only' in report.summary()
    if entry['file'] == 'hf_upernet.pth':
        assert report.missing == []  # hidden_states_norms are the per-stage norms
        assert any(k.startswith('decode_head.') for k in ignored)


def test_fcmae_remap_equals_the_fine_tuning_checkpoint_exactly():
    """FCMAE's sparse kernels, reshaped, are bit-for-bit the dense checkpoint's tensors."""
    from convnext_backbone import backbone_state_from_checkpoint
    fcmae, _, _ = backbone_state_from_checkpoint(
        read_checkpoint(fixture_dir('v2') / 'fcmae.pth'))
    dense, _, _ = backbone_state_from_checkpoint(
        read_checkpoint(fixture_dir('v2') / 'official_classification.pth'))
    assert sorted(fcmae) == sorted(dense)
    for key in dense:
        assert torch.equal(fcmae[key], dense[key]), key


ALL_FILES = [(v, layout) for v, layout in CASES] + [
    (v, entry['file'][:-4]) for v, entry in EXTRA]


@pytest.mark.parametrize('to', ['official', 'timm', 'hf'])
@pytest.mark.parametrize('version,layout', ALL_FILES, ids=[f'{v}-{n}' for v, n in ALL_FILES])
def test_round_trip_through_every_export_layout(version, layout, to, tmp_path):
    """Every fixture, converted to each export layout and loaded back, gives its outputs."""
    from convnext_cli.convert_checkpoint import convert
    dst = tmp_path / f'{to}.pth'
    convert(str(fixture_dir(version) / f'{layout}.pth'), str(dst), to=to)
    saved = torch.load(dst, weights_only=True)
    keys = list(saved['model'] if to == 'official' else saved)
    first = {'official': 'downsample_layers.0.0.weight', 'timm': 'stem.0.weight',
             'hf': 'embeddings.patch_embeddings.weight'}[to]
    assert keys[0] == first
    model = pretrained_backbone(version, dst)
    ref = expected(version)
    with torch.no_grad():
        outs = model(ref['input'])
    has_norms = layout in ('official_detection', 'hf_upernet')
    keeps_norms = to != 'timm'  # timm's ConvNeXt has no per-stage output norms
    wants = (ref['stage_outputs_normed'] if has_norms and keeps_norms
             else [layer_norm_2d(o) for o in ref['stage_outputs']])
    for out, want in zip(outs, wants):
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('to,reference,prefix,skip', [
    ('official', 'official_classification', '', r'^(head|norm)\.'),
    ('timm', 'timm', '', r'^head\.'),
    ('hf', 'hf', r'^convnext(v2)?\.', r'^(convnext(v2)?\.layernorm|classifier)\.'),
])
def test_exported_names_and_shapes_are_the_target_librarys(version, to, reference, prefix,
                                                           skip, tmp_path):
    """Exported from the classification fixture, every tensor has the name and shape that
    the file written by the target library itself (transformers, timm, official) has."""
    import re

    from convnext_cli.convert_checkpoint import convert
    convert(str(fixture_dir(version) / 'official_classification.pth'),
            str(tmp_path / 'out.pth'), to=to)
    ours = torch.load(tmp_path / 'out.pth', weights_only=True)
    ours = ours['model'] if to == 'official' else ours
    theirs = torch.load(fixture_dir(version) / f'{reference}.pth', weights_only=True)
    theirs = theirs.get('model', theirs)
    theirs = {re.sub(prefix, '', k) if prefix else k: v for k, v in theirs.items()
              if not re.match(skip, k)}
    assert sorted(ours) == sorted(theirs)
    for key, tensor in theirs.items():
        assert ours[key].shape == tensor.shape, key
        torch.testing.assert_close(ours[key], tensor, atol=0, rtol=0)


# --- layouts as data: one entry in convnext_backbone/checkpoint/layouts.py per layout ---

def test_every_layout_entry_has_a_fixture_that_it_detects():
    from convnext_backbone.checkpoint import layouts
    for layout in layouts.LAYOUTS:
        files = [fixture_dir(v) / f'{layout.fixture}.pth' for v in VERSIONS]
        present = [f for f in files if f.exists()]
        assert present, f'layout {layout.name}: no fixture {layout.fixture}.pth in tests/data'
        for path in present:
            state, wrappers, _ = layouts.unwrap(read_checkpoint(path))
            assert layouts.detect_layout(state, wrappers) == layout.name, path


def test_docs_layout_table_is_made_from_the_layout_entries():
    from convnext_cli.layout_table import render_tables
    docs = (ROOT / 'docs' / 'checkpoints.md').read_text()
    assert render_tables() in docs, 'run: python -m convnext_cli.layout_table'


def test_a_new_layout_is_one_entry(tmp_path, monkeypatch):
    """A made-up library's names, added as one :class:`Layout` entry (and one file): the
    file is detected, loads, reproduces the reference outputs, and shows in the messages."""
    from convnext_backbone.checkpoint import layouts
    from convnext_backbone.checkpoint.layouts import Layout, Rename
    toy = Layout('toy', 'a made-up library',
                 signature=(r'^toy_stem\.',),
                 renames=(Rename('toy_stem.{j}.{p}', 'downsample_layers.0.{j}.{p}'),
                          Rename('toy_down.{i}.{j}.{p}', 'downsample_layers.{i}.{j}.{p}'),
                          Rename('toy_norm.{i}.{p}', 'norm{i}.{p}'),
                          *layouts._block('toy_blocks.{s}.{b}', layouts._OFFICIAL_BLOCK, 'gamma',
                                          ('grn.gamma', 'grn.beta'))),
                 ignored=r'^toy_head\.', ignored_why='classification head', fixture='toy')
    monkeypatch.setattr(layouts, 'LAYOUTS', (toy,) + layouts.LAYOUTS)
    # The file: the official detection fixture in the toy names (gamma kept as 'gamma').
    official = read_checkpoint(fixture_dir('v1') / 'official_detection.pth')['state_dict']
    renamed = {}
    for key, tensor in official.items():
        if not key.startswith('backbone.'):
            continue
        key = key[len('backbone.'):]
        if key.startswith('downsample_layers.0.'):
            key = 'toy_stem.' + key[len('downsample_layers.0.'):]
        elif key.startswith('downsample_layers.'):
            key = 'toy_down.' + key[len('downsample_layers.'):]
        elif key.startswith('norm'):
            key = f'toy_norm.{key[4]}.{key.split(".")[-1]}'
        else:
            key = 'toy_blocks.' + key[len('stages.'):]
        renamed[key] = tensor
    renamed['toy_head.weight'] = torch.zeros(3)
    path = tmp_path / 'toy.pth'
    torch.save(renamed, path)
    model = pretrained_backbone('v1', path)
    report = load_pretrained(ConvNeXtBackbone(arch=fixture_arch('v1')), path)
    assert report.layout == 'toy' and report.ignored == ['toy_head.weight']
    with torch.no_grad():
        outs = model(expected('v1')['input'])
    for out, want in zip(outs, expected('v1')['stage_outputs_normed']):
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)
    assert 'toy' in layouts.known_layouts()
