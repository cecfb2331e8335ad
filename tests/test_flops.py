"""FLOPs of the backbones at 224x224 against the published ones (configs/metafile.yml)."""
import subprocess
import sys
from pathlib import Path

import pytest

from convnext_cli import model_zoo
from convnext_cli.get_flops import backbone_complexity

ROOT = Path(__file__).resolve().parents[1]

PUBLISHED_GFLOPS = {arch: entry['Metadata']['FLOPs (G)']
                    for arch, entry in model_zoo.classifiers().items()}


@pytest.mark.parametrize('arch', sorted(PUBLISHED_GFLOPS))
def test_gflops_match_published_within_3_percent(arch):
    gflops, _ = backbone_complexity(arch, (224, 224))
    assert abs(gflops - PUBLISHED_GFLOPS[arch]) / PUBLISHED_GFLOPS[arch] < 0.03, gflops


@pytest.mark.e2e
def test_config_flops_cli():
    result = subprocess.run([sys.executable, 'tools/get_flops.py',
                             'configs/maskrcnn_convnext_t.py', '--shape', '320', '320'],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'GFLOPs' in result.stdout and '(backbone + neck)' in result.stdout
