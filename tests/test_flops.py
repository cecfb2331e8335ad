"""FLOPs of the backbone at 224x224 against the published ones (Liu et al. 2022, Table 1/11)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from get_flops import backbone_complexity  # noqa: E402

PUBLISHED_GFLOPS = {'tiny': 4.5, 'small': 8.7, 'base': 15.4, 'large': 34.4, 'xlarge': 60.9}


@pytest.mark.parametrize('arch', sorted(PUBLISHED_GFLOPS))
def test_gflops_match_published_within_3_percent(arch):
    gflops, _ = backbone_complexity(arch, (224, 224))
    assert abs(gflops - PUBLISHED_GFLOPS[arch]) / PUBLISHED_GFLOPS[arch] < 0.03, gflops


def test_config_flops_cli():
    result = subprocess.run([sys.executable, 'tools/get_flops.py',
                             'configs/maskrcnn_convnext_t.py', '--shape', '320', '320'],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'GFLOPs' in result.stdout and '(backbone + neck)' in result.stdout
