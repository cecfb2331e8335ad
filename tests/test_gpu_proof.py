"""The GPU proof's CPU dry run fills every field, so the script cannot rot between GPU windows."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_gpu_proof_dry_run_fills_every_field(tmp_path):
    proc = subprocess.run([sys.executable, 'benchmarks/gpu_proof.py', '--device', 'cpu',
                           '--quick', '--out', str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / 'gpu_proof.json').read_text())
    assert (tmp_path / 'gpu_proof.md').read_text().startswith('# GPU proof (cpu, quick dry run)')
    assert {p: v['status'] for p, v in data['phases'].items()} == dict.fromkeys(
        ['pytest_cuda', 'eager_quick', 'memory', 'extraction', 'profile', 'compiled_cls'], 'done')
    # Every CUDA test was collected and reported (skipped here: no GPU).
    assert len(data['pytest_cuda']) >= 20
    assert {t['outcome'] for t in data['pytest_cuda']} == {'skipped'}
    machine = data['machine']
    assert machine['cpu_capability'] in ('AVX2', 'AVX512', 'DEFAULT')
    assert set(machine['cpu_flags']) >= {'avx512f', 'avx512_bf16', 'amx_bf16'}
    # Every numeric mode x memory format x implementation was measured or says why not.
    timings = data['timings']
    combos = {(r['shape'], r['mode'], r['format'], r['impl']) for r in timings}
    assert len(combos) == 2 * 4 * 2 * 3 == len(timings)
    for r in timings:
        if r['impl'] == 'timm' and 'skipped' in r:
            continue
        assert r['fwd_img_s'] > 0 and r['train_img_s'] > 0, r
        if r['impl'] == 'ours' and r['mode'] in ('fp32', 'tf32'):
            assert r['cpu_kernel_calls'] > 0  # the CPU fast path ran
    assert data['equivalence'][0]['max_relative_error_fp32'] < 1e-4
    assert len(data['memory']) == 4 and all(r['train_ms'] > 0 for r in data['memory'])
    assert any(r.get('extract_img_s', 0) > 0 for r in data['extraction'])
    compiled = [r for r in data['compiled'] if 'skipped' not in r]
    assert {r['impl'] for r in compiled} == {'ours', 'official'}
    assert all(r['graph_breaks'] == 0 and r['backend'] == 'aot_eager' for r in compiled)
    assert {(p['impl'], p['format'], p['mode'], p['step']) for p in data['profile']} >= {
        ('ours', 'contiguous', 'amp_bf16', 'fwd'), ('ours', 'channels_last', 'amp_bf16', 'train'),
        ('ours', 'contiguous', 'fp32', 'train'), ('official', 'contiguous', 'fp32', 'train')}
    assert all(p['top'] and p['total_us'] > 0 for p in data['profile'])
    assert isinstance(data['findings'], list) and isinstance(data['speed_ratios'], list)
