"""The CPU this process runs as: the AVX2 emulation is real, and feature checks follow it.

``make test`` runs the precision and fast-path tests twice: as the machine is, and under
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2`` (an
AVX-512 machine then runs torch's and oneDNN's AVX2 kernels, as an AVX2-only CPU does).
These tests check, in either process, that the kernels running are the ones the
environment names, and that the code's CPU-feature checks agree with them.
"""
import os
import subprocess
import sys

import pytest
import torch

from convnext_backbone import cpu

EMULATED_AVX2 = os.environ.get('ONEDNN_MAX_CPU_ISA', '').upper() == 'AVX2'


def onednn_isa(env=None) -> str:
    """The instruction set oneDNN reports when it runs the block's depthwise convolution."""
    code = ('import torch; torch.nn.functional.conv2d(torch.randn(1, 32, 32, 32)'
            '.to(memory_format=torch.channels_last), torch.randn(32, 1, 7, 7), groups=32)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env={**(env or os.environ), 'ONEDNN_VERBOSE': '1'}, check=True)
    out = out.stdout + out.stderr
    lines = [ln for ln in out.splitlines() if ',isa:' in ln]
    assert lines, out[-2000:]
    return lines[0].split(',isa:', 1)[1]


def test_this_process_runs_the_kernels_its_environment_names():
    flags = cpu.cpu_flags()
    isa = onednn_isa()
    if EMULATED_AVX2 or 'avx512f' not in flags:
        assert 'AVX-512' not in isa and 'AVX2' in isa, isa
    else:
        assert 'AVX-512' in isa, isa
    if os.environ.get('ATEN_CPU_CAPABILITY', '').lower() == 'avx2' or 'avx512f' not in flags:
        assert cpu.capability() in ('AVX2', 'DEFAULT'), cpu.capability()
    else:
        assert cpu.capability() == 'AVX512', cpu.capability()


def test_the_emulation_limits_an_avx512_machine_to_avx2():
    if 'avx512f' not in cpu.cpu_flags():
        pytest.skip('an AVX2-only CPU runs AVX2 kernels without emulation')
    env = {**os.environ, 'ATEN_CPU_CAPABILITY': 'avx2', 'ONEDNN_MAX_CPU_ISA': 'AVX2'}
    isa = onednn_isa(env)
    assert 'AVX2' in isa and 'AVX-512' not in isa, isa
    out = subprocess.run([sys.executable, '-c', 'from convnext_backbone import cpu; '
                          'print(cpu.capability(), cpu.native_bf16())'],
                         capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == ['AVX2', 'False']


def test_native_bf16_follows_the_kernels_that_run():
    hardware = bool(cpu.NATIVE_BF16_FLAGS & cpu.cpu_flags())
    assert cpu.native_bf16() == (hardware and not EMULATED_AVX2)


def test_bf16_extraction_is_refused_where_bf16_is_emulated(tmp_path):
    from convnext_cli import extract_features
    if cpu.native_bf16():
        extract_features.check_amp('bf16', 'cpu')  # accepted
    else:
        with pytest.raises(extract_features.ExtractionError, match='native bf16'):
            extract_features.check_amp('bf16', 'cpu')
    with pytest.raises(extract_features.ExtractionError, match='for CUDA devices'):
        extract_features.check_amp('fp16', 'cpu')


def test_the_fast_path_runs_under_either_isa():
    """The fast path's kernels run (counted) and give the portable path's numbers."""
    from kernels_seen import kernels_seen

    from convnext_backbone import ConvNeXtBackbone
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128]),
                             layer_scale_init_value=0.5)
    x = torch.randn(2, 3, 64, 64)
    outs = []
    seen = kernels_seen(lambda: sum(o.sum() for o in outs.extend(model(x)) or outs).backward())
    fast = outs
    assert seen['pointwise_backward'] > 0
    assert seen['depthwise_backward'] > 0
    fast_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_cpu_kernels(False)
    portable = model(x)
    sum(o.sum() for o in portable).backward()
    for a, b in zip(fast, portable):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for a, p in zip(fast_grads, model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-3, atol=1e-4)
