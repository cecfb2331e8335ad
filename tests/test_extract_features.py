"""tools/extract_features.py on generated PNG, JPEG, grayscale, RGBA and corrupt files."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convnext_cli import extract_features

ROOT = Path(__file__).resolve().parents[1]
ARCH = "dict(depths=[1,1,1,1],dims=[8,16,24,32])"


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / 'images'
    folder.mkdir()
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(folder / 'a.png')
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(folder / 'b.jpg')
    Image.fromarray(rng.integers(0, 255, (70, 40), dtype=np.uint8)).save(folder / 'gray.png')
    Image.fromarray(rng.integers(0, 255, (64, 96, 4), dtype=np.uint8), 'RGBA').save(
        folder / 'rgba.png')
    (folder / 'corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 this is not really a jpeg')
    (folder / 'notes.txt').write_text('not an image')  # ignored: not an image suffix
    return folder


def run(*args):
    messages = []
    torch.manual_seed(0)  # random weights: the same in every call
    report = extract_features.extract(*args[:2], arch=eval(ARCH), log=messages.append,
                                      **args[2] if len(args) > 2 else {})
    return report, messages


def test_maps_shapes_and_reports(image_folder, tmp_path):
    out = tmp_path / 'features'
    report, messages = run([str(image_folder)], str(out), dict(batch_size=2))
    assert sorted(Path(p).name for p in report['written']) == [
        'a.npz', 'b.npz', 'gray.npz', 'rgba.npz']
    assert report['skipped'] == [str(image_folder / 'corrupt.jpg')]
    assert any('corrupt.jpg: not a readable image' in m for m in messages)
    assert any('gray.png: grayscale' in m for m in messages)
    assert any('rgba.png: alpha channel' in m for m in messages)
    with np.load(out / 'a.npz') as data:
        assert tuple(data['image_size']) == (64, 96)
        assert list(data['strides']) == [4, 8, 16, 32]
        assert data['stage0'].shape == (8, 16, 24) and data['stage0'].dtype == np.float32
        assert data['stage3'].shape == (32, 2, 3)
    with np.load(out / 'gray.npz') as data:  # 70 x 40 floors at each stride
        assert [data[f'stage{i}'].shape[1:] for i in range(4)] == [
            (17, 10), (8, 5), (4, 2), (2, 1)]


def test_pooled_vectors_are_the_mean_of_the_maps(image_folder, tmp_path):
    run([str(image_folder / 'a.png')], str(tmp_path / 'maps'), dict(out_indices=(1, 3)))
    run([str(image_folder / 'a.png')], str(tmp_path / 'pooled'),
        dict(out_indices=(1, 3), pool=True))
    with np.load(tmp_path / 'maps' / 'a.npz') as maps, \
            np.load(tmp_path / 'pooled' / 'a.npz') as pooled:
        assert sorted(k for k in pooled if k.startswith('stage')) == ['stage1', 'stage3']
        for key in ('stage1', 'stage3'):
            assert pooled[key].shape == (maps[key].shape[0],)
            np.testing.assert_allclose(pooled[key], maps[key].mean(axis=(1, 2)), atol=1e-5)


def test_glob_size_and_visualization(image_folder, tmp_path):
    out = tmp_path / 'vis'
    report, _ = run([str(image_folder / '*.png')], str(out),
                    dict(size=(64, 64), visualize=True))
    assert len(report['written']) == 3
    with Image.open(out / 'a_features.png') as picture:
        assert picture.size[0] > picture.size[1] > 100


@pytest.mark.e2e
def test_demo_command_prints_four_shapes(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / 'tools' / 'extract_features.py'),
                             '--demo', '--out-dir', str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for line in ['stage0 stride  4: (96, 96, 128)', 'stage1 stride  8: (192, 48, 64)',
                 'stage2 stride 16: (384, 24, 32)', 'stage3 stride 32: (768, 12, 16)']:
        assert line in result.stdout
