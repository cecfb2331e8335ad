"""What a benchmark ran on: every speed number is stored with the CPU (and GPU) it came from.

``describe()`` gives torch's CPU capability (what ATen dispatches to: ``AVX2``, ``AVX512``
...), the ``/proc/cpuinfo`` flags that change which kernels run (AVX-512, native bf16, AMX),
whether oneDNN or ATen were limited by ``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY`` (the
AVX2 emulation on an AVX-512 machine), the thread count and, where CUDA exists, the GPU.
"""
from __future__ import annotations

import os
import platform

import torch

from convnext_backbone import cpu

#: The CPU flags that decide which kernels torch and oneDNN run here.
CPU_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_bf16', 'amx_tile')
#: Environment variables that limit the instruction set torch and oneDNN use.
ISA_LIMITS = ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA',
              'MKL_ENABLE_INSTRUCTIONS')


def cpu_flags() -> dict:
    """The flags of :data:`CPU_FLAGS` as ``/proc/cpuinfo`` lists them (empty off Linux)."""
    present = cpu.cpu_flags()
    return {flag: flag in present for flag in CPU_FLAGS}


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            return next((ln.split(':', 1)[1].strip() for ln in f
                         if ln.startswith('model name')), platform.processor())
    except OSError:
        return platform.processor()


def describe() -> dict:
    """The machine, as stored beside every measurement."""
    info = dict(
        cpu=cpu_model(),
        cpu_capability=cpu.capability(),
        cpu_flags=cpu_flags(),
        native_bf16=cpu.native_bf16(),
        isa_limits={k: os.environ[k] for k in ISA_LIMITS if k in os.environ},
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
    )
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def label(info: dict) -> str:
    """One line naming the CPU for tables: model, capability, bf16, ISA limits."""
    bf16 = 'native bf16' if info['native_bf16'] else 'no native bf16'
    limits = ', '.join(f'{k}={v}' for k, v in info['isa_limits'].items())
    text = f"{info['cpu']} ({info['cpu_capability']}, {bf16}, {info['threads']} threads"
    return text + (f'; emulated: {limits})' if limits else ')')
