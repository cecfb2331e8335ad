"""FLOPs and parameters against the published ones (configs/metafile.yml): the backbones at
224x224 (V1 and V2) and the whole detectors and segmentors at their published input."""
import subprocess
import sys
from pathlib import Path

import pytest

from convnext_cli import model_zoo
from convnext_cli.get_flops import backbone_complexity, whole_model_complexity

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


WHOLE_MODELS = [m for task in ('det', 'seg') for m in model_zoo.with_config(task)
                if 'FLOPs (G)' in m['Metadata']]


@pytest.mark.e2e
@pytest.mark.parametrize('entry', WHOLE_MODELS, ids=[m['Name'] for m in WHOLE_MODELS])
def test_whole_model_flops_and_params_match_the_official_readmes(entry):
    # The official READMEs' #params and FLOPs, at the input they were measured at.
    gflops, mparams, _ = whole_model_complexity(str(ROOT / entry['Config']))
    published_flops = entry['Metadata']['FLOPs (G)']
    assert abs(gflops - published_flops) / published_flops < 0.03, gflops
    published_params = entry['Metadata'].get('Parameters (M)')  # not every table has both
    if published_params is not None:
        assert abs(mparams - published_params) <= model_zoo.published_precision(
            published_params), mparams
