"""What this CPU runs: torch's kernel capability and native bf16, as the libraries see them.

Both follow the environment variables that limit the instruction set
(``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``): an AVX-512 machine limited that
way runs, and reports, what an AVX2-only CPU does. Code that needs a CPU feature asks here,
never the CPU flags alone.
"""
from __future__ import annotations

import functools

import torch

#: ``/proc/cpuinfo`` flags of CPUs that compute bf16 natively (x86 AVX512-BF16 / AMX, Arm).
NATIVE_BF16_FLAGS = frozenset({'avx512_bf16', 'amx_bf16', 'bf16'})


def cpu_flags() -> frozenset:
    """The CPU flags ``/proc/cpuinfo`` lists (empty where there is none)."""
    try:
        with open('/proc/cpuinfo') as f:
            line = next((ln for ln in f if ln.startswith(('flags', 'Features'))), '')
    except OSError:
        line = ''
    return frozenset(line.split(':', 1)[-1].split())


def capability() -> str:
    """The kernels ATen dispatches to here: ``'AVX2'``, ``'AVX512'``, ``'DEFAULT'``..."""
    return torch.backends.cpu.get_cpu_capability()


@functools.lru_cache(maxsize=None)
def native_bf16() -> bool:
    """Whether bf16 runs natively here, as oneDNN (autocast's convolutions and matmuls) sees
    it: the CPU has the instructions and ``ONEDNN_MAX_CPU_ISA`` does not hide them.

    Elsewhere bf16 is emulated and slower than fp32. oneDNN's own answer comes from a
    private torch op; where it is missing, the CPU flags decide.
    """
    if not NATIVE_BF16_FLAGS & cpu_flags():
        return False
    check = getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', None)
    if check is None or not torch.backends.mkldnn.is_available():
        return True
    try:
        return bool(check())
    except RuntimeError:
        return True
