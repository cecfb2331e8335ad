"""Packaging: no exact pins on what users already have, and the core installs and runs
with only torch and mmengine (no mmcv, mmdet or mmseg)."""
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THEIRS = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'numpy')


def test_installed_metadata_pins_nothing_users_already_have():
    requires = importlib.metadata.requires('convnext-backbone')
    for requirement in requires:
        spec = requirement.split(';')[0]  # the version part, without the extra marker
        name = re.split(r'[<>=!~\[ ]', spec, maxsplit=1)[0].lower()
        if name in THEIRS:
            assert '==' not in spec and '~=' not in spec, requirement
    core = [r for r in requires if 'extra ==' not in r]
    assert sorted(re.split(r'[<>=]', r)[0].lower() for r in core) == [
        'mmengine', 'numpy', 'pillow', 'torch']
    extras = importlib.metadata.metadata('convnext-backbone').get_all('Provides-Extra')
    assert {'det', 'seg', 'onnx', 'tests'} <= set(extras)


def test_setup_env_installs_the_verified_versions():
    """tools/setup_env.sh takes every version from requirements/verified.txt (pip -c)."""
    script = (ROOT / 'tools' / 'setup_env.sh').read_text()
    assert 'VERIFIED="-c requirements/verified.txt"' in script
    installs = [line for line in script.splitlines() if '$PIP install' in line
                and 'setuptools' not in line]
    assert installs and all('$VERIFIED' in line for line in installs)
    pins = dict(line.split('==') for line in
                (ROOT / 'requirements' / 'verified.txt').read_text().splitlines()
                if '==' in line and not line.startswith('#'))
    for name in ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation'):
        assert importlib.metadata.version(name).split('+')[0] == pins[name]


def required_distributions(names):
    """The installed distributions ``names`` need, transitively (no extras)."""
    seen, todo = {}, list(names)
    while todo:
        name = re.split(r'[<>=!~\[ ;(]', todo.pop(), maxsplit=1)[0].lower().replace('_', '-')
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a platform-specific requirement not installed here
        seen[name] = dist
        todo += [r for r in dist.requires or [] if 'extra ==' not in r]
    return list(seen.values())


@pytest.mark.e2e
def test_core_installs_and_runs_with_only_torch_and_mmengine(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    pip = [python, '-m', 'pip', '--disable-pip-version-check', 'install', '-q']
    # torch, numpy, mmengine, Pillow and what they need, at the tested versions: the
    # project venv's own installs, made visible one by one (a folder of links that a .pth
    # file adds to the new venv) instead of unpacking 700 MB of torch again.
    core = tmp_path / 'core'
    core.mkdir()
    for dist in required_distributions(['torch', 'numpy', 'mmengine', 'pillow']):
        site = Path(dist.locate_file(''))
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {'..', 'bin'}:
            if (site / top).exists() and not (core / top).exists():
                (core / top).symlink_to(site / top)
    site_packages = next((venv / 'lib').glob('python3*/site-packages'))
    (site_packages / 'core_from_project_venv.pth').write_text(f'{core}\n')
    source = tmp_path / 'src'  # a clean copy: plain `pip install .` builds in the tree
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(pip + ['.'], cwd=source, check=True, timeout=900)
    installed = subprocess.run([python, '-m', 'pip', 'list', '--format=freeze'],
                               capture_output=True, text=True, check=True).stdout.lower()
    for name in ('mmcv', 'mmdet', 'mmsegmentation'):
        assert f'\n{name}==' not in '\n' + installed, name
    assert 'convnext-backbone==' in installed
    script = f'''
import numpy as np, torch
from PIL import Image
from convnext_backbone import ConvNeXtBackbone, load_pretrained
from convnext_cli.extract_features import main
spec = dict(depths=[2, 2, 3, 2], dims=[8, 16, 32, 64])
model = ConvNeXtBackbone(spec)
report = load_pretrained(model, {str(ROOT / 'tests/data/convnext_v1/official_detection.pth')!r})
ref = torch.load({str(ROOT / 'tests/data/convnext_v1/expected.pth')!r}, weights_only=True)
with torch.no_grad():
    outs = model.eval()(ref['input'])
assert all((o - w).abs().max() < 1e-4 for o, w in zip(outs, ref['stage_outputs_normed']))
Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save({str(tmp_path / 'x.png')!r})
assert main([{str(tmp_path / 'x.png')!r}, '--out-dir', {str(tmp_path / 'feats')!r},
             '--arch', 'dict(depths=[1,1,1,1],dims=[8,16,24,32])', '--workers', '0']) == 0
print('core ok', report.layout)
'''
    result = subprocess.run([python, '-c', script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'core ok official-detection' in result.stdout
    assert (tmp_path / 'feats' / 'x.npz').is_file()
    console = subprocess.run([str(venv / 'bin' / 'convnext-extract-features'), '--help'],
                             capture_output=True, text=True)
    assert console.returncode == 0 and '--max-size' in console.stdout
