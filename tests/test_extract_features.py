"""tools/extract_features.py: maps and reports on generated PNG, JPEG, grayscale, RGBA and
bad files; outputs that mirror the inputs, the manifest, streaming, resuming after a kill,
two processes, the output formats and autocast."""
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convnext_backbone import ConvNeXtBackbone
from convnext_cli import extract_features

from conftest import free_port

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
    settings = extract_features.ExtractionSettings(
        inputs=tuple(args[0]), out_dir=args[1], arch=eval(ARCH),
        **args[2] if len(args) > 2 else {})
    report = extract_features.extract(settings, log=messages.append)
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
                    dict(size=(96, 64), visualize=True))  # (H, W): the sources are 64x96
    assert sorted(Path(p).name for p in report['written']) == ['a.npz', 'gray.npz',
                                                                'rgba.npz']
    for path in report['written']:  # every image at the fixed size, whatever its own
        with np.load(path) as data:
            assert tuple(data['image_size']) == (96, 64)
            assert [data[f'stage{i}'].shape[1:] for i in range(4)] == [
                (24, 16), (12, 8), (6, 4), (3, 2)]
    with np.load(out / 'a.npz') as data:  # resized, then the same model's features
        np.testing.assert_allclose(data['stage0'],
                                   reference_features(image_folder / 'a.png',
                                                      size=(96, 64))[0], atol=1e-4)
    with Image.open(out / 'a_features.png') as picture:
        assert picture.size[0] > picture.size[1] > 100
        colours = picture.convert('RGB').getcolors(maxcolors=1 << 20)
        # the noise input and four energy maps, not a blank figure (which has one colour)
        assert colours is not None and len(colours) > 1000


@pytest.mark.e2e
def test_demo_command_prints_four_shapes(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / 'tools' / 'extract_features.py'),
                             '--demo', '--out-dir', str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for line in ['stage0 stride  4: (96, 96, 128)', 'stage1 stride  8: (192, 48, 64)',
                 'stage2 stride 16: (384, 24, 32)', 'stage3 stride 32: (768, 12, 16)']:
        assert line in result.stdout


# --- dataset scale: layout, manifest, bad inputs, streaming, resume, ranks, formats ----

BIG_ARCH = "dict(depths=[1,1,2,1],dims=[32,64,128,256])"


def reference_features(path, arch=ARCH, size=None):
    """The stage outputs of the same seeded model on the image, computed directly."""
    torch.manual_seed(0)
    model = ConvNeXtBackbone(eval(arch))
    model.init_weights()
    rgb = np.asarray(Image.open(path).convert('RGB'))
    if size is not None:
        rgb = np.asarray(Image.fromarray(rgb).resize(size[::-1], Image.BILINEAR))
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float()[None] / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        return [f[0].numpy() for f in model.eval()((x - mean) / std)]


def manifest(out):
    lines = (Path(out) / 'manifest.jsonl').read_text().splitlines()
    return [json.loads(line) for line in lines]


def png_header(width, height):
    """A PNG that declares width x height pixels and holds no image data."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data)))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IEND', b'')


def random_jpegs(folder, count, size=(64, 96), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
            folder / f'{i:03d}.jpg', quality=90)
    return sorted(folder.glob('*.jpg'))


def test_outputs_mirror_the_inputs_and_never_collide(tmp_path):
    root = tmp_path / 'in'
    rng = np.random.default_rng(1)
    names = ['a/x.jpg', 'b/x.jpg', 'c/x_1.jpg', 'c/x.jpg', 'c/x.png']
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(root / name)
    out = tmp_path / 'feats'
    report, _ = run([str(root)], str(out), dict(batch_size=4))
    expected_outputs = {'a/x.jpg': 'a/x.npz', 'b/x.jpg': 'b/x.npz', 'c/x_1.jpg': 'c/x_1.npz',
                        'c/x.jpg': 'c/x.jpg.npz', 'c/x.png': 'c/x.png.npz'}
    records = {Path(r['source']).relative_to(root).as_posix(): r for r in manifest(out)}
    assert {k: r['output'] for k, r in records.items()} == expected_outputs
    assert len(report['written']) == 5
    for name, output in expected_outputs.items():  # each file holds its own image's maps
        with np.load(out / output) as data:
            for i, ref in enumerate(reference_features(root / name)):
                np.testing.assert_allclose(data[f'stage{i}'], ref, rtol=1e-4, atol=1e-5)


def test_bad_inputs_are_reported_and_their_batch_mates_written(tmp_path):
    folder = tmp_path / 'in'
    good = random_jpegs(folder, 5, size=(96, 128))
    data = good[0].read_bytes()
    (folder / 'truncated.jpg').write_bytes(data[:len(data) * 2 // 3])  # header intact
    (folder / 'corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    (folder / 'empty.png').write_bytes(b'')
    (folder / 'bomb.png').write_bytes(png_header(20000, 20000))  # 400 Mpx, a few bytes
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(folder / 'large.png')
    missing = folder / 'gone.jpg'
    out = tmp_path / 'feats'
    messages = []
    torch.manual_seed(0)
    report = extract_features.extract(extract_features.ExtractionSettings(
        inputs=(str(folder), str(missing)), out_dir=str(out), arch=eval(ARCH),
        batch_size=16, max_pixels=100_000, workers=0), log=messages.append)
    records = {Path(r['source']).name: r for r in manifest(out)}
    assert len(records) == 11
    reasons = {name: r.get('reason') for name, r in records.items() if r['status'] != 'written'}
    assert sorted(reasons) == ['bomb.png', 'corrupt.jpg', 'empty.png', 'gone.jpg',
                               'large.png', 'truncated.jpg']
    assert reasons['gone.jpg'] == 'no such file'
    assert reasons['empty.png'] == 'empty file (0 bytes)'
    assert 'decompression bomb' in reasons['bomb.png']
    assert 'over --max-pixels 100000' in reasons['large.png']
    assert 'not a readable image' in reasons['corrupt.jpg']
    assert 'not a readable image' in reasons['truncated.jpg']
    # The truncated file passed the header check and failed while its batch was decoded:
    # the five good images of that batch are all written, with their shapes recorded.
    assert sorted(Path(p).name for p in report['written']) == [p.stem + '.npz' for p in good]
    for path in good:
        record = records[path.name]
        assert record['status'] == 'written' and record['input_size'] == [96, 128]
        with np.load(out / record['output']) as arrays:
            assert {k: list(arrays[k].shape) for k in record['shapes']} == record['shapes']
    assert any('truncated.jpg: not a readable image' in m for m in messages)


def test_max_size_keeps_the_aspect_ratio(tmp_path):
    path = tmp_path / 'wide.png'
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (100, 200, 3), np.uint8)).save(
        path)
    out = tmp_path / 'feats'
    run([str(path)], str(out), dict(max_size=64))
    (record,) = manifest(out)
    assert record['input_size'] == [100, 200] and record['network_size'] == [32, 64]
    with np.load(out / 'wide.npz') as data:
        assert tuple(data['image_size']) == (32, 64)
        np.testing.assert_allclose(data['stage0'], reference_features(path, size=(32, 64))[0],
                                   rtol=1e-4, atol=1e-5)


def test_decoding_streams_into_writing(tmp_path, monkeypatch):
    """Images are decoded a batch at a time while earlier ones are written (not all first)."""
    random_jpegs(tmp_path / 'in', 40)
    decoded, written, ahead = [0], [0], []
    decode, write = extract_features.img.decode_rgb, extract_features.outputs.write_features

    def counting_decode(path):
        decoded[0] += 1
        ahead.append(decoded[0] - written[0])
        return decode(path)

    def counting_write(*args, **kwargs):
        write(*args, **kwargs)
        written[0] += 1

    monkeypatch.setattr(extract_features.img, 'decode_rgb', counting_decode)
    monkeypatch.setattr(extract_features.outputs, 'write_features', counting_write)
    run([str(tmp_path / 'in')], str(tmp_path / 'feats'), dict(batch_size=2, workers=0))
    assert written[0] == decoded[0] == 40
    # Bounded by one batch being decoded plus the writer's queue (16 images), not 40.
    assert max(ahead) <= 2 + 16 + 2


def test_rerun_continues_and_checks_settings(tmp_path):
    random_jpegs(tmp_path / 'in', 6)
    out = tmp_path / 'feats'
    first, _ = run([str(tmp_path / 'in')], str(out))
    assert len(first['written']) == 6
    (out / '002.npz').unlink()
    again, messages = run([str(tmp_path / 'in')], str(out))
    assert [Path(p).name for p in again['written']] == ['002.npz']
    assert len(again['done_before']) == 5
    assert any('002.npz, which is missing' in m for m in messages)
    assert len(manifest(out)) == 6
    redo, _ = run([str(tmp_path / 'in')], str(out), dict(overwrite=True))
    assert len(redo['written']) == 6
    with pytest.raises(extract_features.ExtractionError, match='--overwrite'):
        run([str(tmp_path / 'in')], str(out), dict(pool=True))


def test_safetensors_and_float16(tmp_path):
    from safetensors.numpy import load_file
    path = random_jpegs(tmp_path / 'in', 1)[0]
    run([str(path)], str(tmp_path / 'npz'))
    run([str(path)], str(tmp_path / 'st'), dict(fmt='safetensors'))
    run([str(path)], str(tmp_path / 'half'), dict(dtype='float16'))
    st = load_file(str(tmp_path / 'st' / '000.safetensors'))
    with np.load(tmp_path / 'npz' / '000.npz') as full, \
            np.load(tmp_path / 'half' / '000.npz') as half:
        assert sorted(st) == sorted(full.keys())
        for key in full:
            np.testing.assert_array_equal(st[key], full[key])
            if key.startswith('stage'):
                assert half[key].dtype == np.float16
                # fp16 keeps 11 significant bits: relative rounding error <= 2**-11.
                error = np.abs(half[key].astype(np.float32) - full[key])
                assert (error <= 2 ** -11 * np.abs(full[key]) + 1e-7).all()


def test_amp_runs_only_where_it_pays(tmp_path, monkeypatch):
    path = random_jpegs(tmp_path / 'in', 1)[0]
    with pytest.raises(extract_features.ExtractionError, match='fp16 is for CUDA'):
        run([str(path)], str(tmp_path / 'fp16'), dict(amp='fp16'))
    from convnext_cli.extraction import settings
    monkeypatch.setattr(settings, 'native_bf16', lambda: False)
    with pytest.raises(extract_features.ExtractionError, match='native bf16'):
        run([str(path)], str(tmp_path / 'bf16'), dict(amp='bf16'))
    monkeypatch.setattr(settings, 'native_bf16', lambda: True)
    run([str(path)], str(tmp_path / 'bf16'), dict(amp='bf16'))
    run([str(path)], str(tmp_path / 'fp32'))
    with np.load(tmp_path / 'bf16' / '000.npz') as bf16, \
            np.load(tmp_path / 'fp32' / '000.npz') as fp32:
        for i in range(4):
            a, b = bf16[f'stage{i}'], fp32[f'stage{i}']
            assert a.dtype == np.float32 and not np.array_equal(a, b)  # autocast was on
            assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.05


def cli(*args, env=None, **kwargs):
    return subprocess.Popen([sys.executable, str(ROOT / 'tools' / 'extract_features.py'),
                             *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env=env or {**os.environ, 'OMP_NUM_THREADS': '1'}, **kwargs)


def assert_same_features(out_a, out_b):
    files_a = sorted(p.relative_to(out_a) for p in out_a.rglob('*.npz'))
    assert files_a == sorted(p.relative_to(out_b) for p in out_b.rglob('*.npz'))
    for rel in files_a:
        with np.load(out_a / rel) as a, np.load(out_b / rel) as b:
            assert sorted(a.keys()) == sorted(b.keys())
            for key in a:  # batches may be grouped differently: kernels round differently
                np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


@pytest.mark.e2e
def test_killed_run_resumes_and_writes_each_image_once(tmp_path):
    random_jpegs(tmp_path / 'in', 48, size=(192, 256))
    common = ['--arch', BIG_ARCH, '--batch-size', '2', '--workers', '1']
    full = cli(tmp_path / 'in', '--out-dir', tmp_path / 'full', *common)
    assert full.wait(300) == 0, full.stdout.read()

    out = tmp_path / 'killed'
    part = out / 'manifest.rank0.jsonl'
    proc = cli(tmp_path / 'in', '--out-dir', out, *common)
    while proc.poll() is None and (not part.is_file() or
                                   len(part.read_text().splitlines()) < 8):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run ended before it could be killed'
    done = [json.loads(line) for line in part.read_text().splitlines()
            if line.endswith('}')]
    assert 8 <= len(done) < 48
    before = {r['output']: (out / r['output']).stat() for r in done}

    proc = cli(tmp_path / 'in', '--out-dir', out, *common)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log
    assert f'{len(done)} images already done (manifest)' in log
    records = manifest(out)
    assert len(records) == 48 and len({r['source'] for r in records}) == 48
    assert all(r['status'] == 'written' for r in records)
    for output, stat in before.items():  # not written again
        after = (out / output).stat()
        assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert not (out / '.tmp').exists() and not list(out.glob('manifest.rank*'))
    assert_same_features(tmp_path / 'full', out)


def _two_ranks_torchrun(inputs, out, common):
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node',
         '2', str(ROOT / 'tools' / 'extract_features.py'), str(inputs),
         '--out-dir', str(out), *common],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout + result.stderr


def _two_ranks_slurm(inputs, out, common):
    # What srun --ntasks 2 sets for each task (MASTER_ADDR as a one-node job resolves it).
    slurm = {'SLURM_NTASKS': '2', 'SLURM_NODELIST': 'localhost', 'MASTER_ADDR': '127.0.0.1',
             'MASTER_PORT': str(free_port())}
    ranks = [cli(inputs, '--out-dir', out, *common, '--launcher', 'slurm',
                 env={**os.environ, **slurm, 'SLURM_PROCID': str(r), 'OMP_NUM_THREADS': '1'})
             for r in range(2)]
    for rank in ranks:
        assert rank.wait(300) == 0, rank.stdout.read()


@pytest.mark.e2e
@pytest.mark.parametrize('launch', [_two_ranks_torchrun, _two_ranks_slurm],
                         ids=['torchrun', 'slurm'])
def test_two_processes_match_one(tmp_path, launch):
    random_jpegs(tmp_path / 'in', 10, size=(64, 96))
    random_jpegs(tmp_path / 'in' / 'sub', 3, size=(96, 64), seed=1)
    common = ['--arch', ARCH, '--batch-size', '2', '--workers', '1']
    one = cli(tmp_path / 'in', '--out-dir', tmp_path / 'one', *common)
    assert one.wait(300) == 0, one.stdout.read()
    launch(tmp_path / 'in', tmp_path / 'two', common)
    records = manifest(tmp_path / 'two')
    assert len(records) == 13 and len({r['source'] for r in records}) == 13
    assert sorted(r['rank'] for r in records) == [0] * 7 + [1] * 6
    assert not list((tmp_path / 'two').glob('manifest.rank*'))
    assert_same_features(tmp_path / 'one', tmp_path / 'two')


def test_slurm_launcher_outside_srun_says_what_is_missing(monkeypatch):
    for key in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST', 'MASTER_ADDR'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SystemExit, match='SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST not set'):
        extract_features.init_distributed('slurm', 'cpu')
    monkeypatch.setenv('SLURM_PROCID', '0')
    monkeypatch.setenv('SLURM_NTASKS', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'node[1-2]')
    monkeypatch.setenv('PATH', '')  # no scontrol
    with pytest.raises(SystemExit, match="first node of 'node\\[1-2\\]'; set MASTER_ADDR"):
        extract_features.init_distributed('slurm', 'cpu')


def test_one_settings_object_for_the_command_line_the_function_and_the_record(tmp_path):
    """Every ExtractionSettings field is a command-line option with its default; the parsed
    command gives the same object as the Python call; settings.json holds its record."""
    from dataclasses import fields

    from convnext_cli.extraction.settings import ExtractionSettings
    args = extract_features.parse_args(['x.png', '--out-dir', str(tmp_path), '--arch',
                                        ARCH, '--size', '64', '96', '--format', 'safetensors',
                                        '--dtype', 'float16', '--pool', '--device', 'cpu'])
    parsed = ExtractionSettings.from_args(args)
    assert parsed == ExtractionSettings(inputs=('x.png',), out_dir=str(tmp_path),
                                        arch=eval(ARCH), size=(64, 96), fmt='safetensors',
                                        dtype='float16', pool=True, device='cpu')
    defaults = ExtractionSettings.from_args(extract_features.parse_args(['x.png',
                                                                         '--device', 'cpu']))
    assert defaults == ExtractionSettings(inputs=('x.png',), device='cpu')
    assert {f.name for f in fields(ExtractionSettings)} <= set(vars(args))
    assert set(parsed.record()) == {'arch', 'checkpoint', 'out_indices', 'pool', 'size',
                                    'max_size', 'format', 'dtype', 'amp'}
    with pytest.raises(extract_features.ExtractionError, match='--batch-size must be at '):
        ExtractionSettings(batch_size=0).validate()
    with pytest.raises(extract_features.ExtractionError, match='exclude each other'):
        ExtractionSettings(size=(64, 64), max_size=100).validate()
