"""The settings of one extraction: one typed object for the command line, ``extract()`` and
the ``settings.json`` written beside the outputs (which a rerun must match to continue)."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from typing import Optional, Tuple, Union

import torch

from convnext_backbone.cpu import native_bf16

from ..arguments import arch_from_string
from . import outputs
from .images import DEFAULT_MAX_PIXELS

AMP_CHOICES = ('bf16', 'fp16')
DTYPE_CHOICES = ('float32', 'float16')


class ExtractionError(RuntimeError):
    """A problem with the inputs or the settings that the user can fix (message says how)."""


def _option(help: str, recorded: bool = False, **argparse_kwargs) -> dict:
    """A field's command-line option (``help`` and argparse keywords), and whether it is
    recorded in ``settings.json`` (what the stored features depend on)."""
    return dict(help=help, recorded=recorded, argparse=argparse_kwargs)


@dataclass(frozen=True)
class ExtractionSettings:
    """What to extract, from what, and how. Each field is one command-line option (named
    after it, ``fmt`` as ``--format``); ``recorded`` fields go into ``settings.json``."""

    inputs: Tuple[str, ...] = field(default=(), metadata=_option(
        'image files, folders or globs', nargs='*'))
    out_dir: str = field(default='work_dirs/features', metadata=_option(
        'where the features, manifest.jsonl and settings.json go'))
    arch: Union[str, dict] = field(default='tiny', metadata=_option(
        'e.g. tiny, v2-nano, or "dict(depths=[...], dims=[...])"', recorded=True,
        type=arch_from_string))
    checkpoint: Optional[str] = field(default=None, metadata=_option(
        'any checkpoint layout the loader takes', recorded=True))
    out_indices: Tuple[int, ...] = field(default=(0, 1, 2, 3), metadata=_option(
        'stages to store (0-3: strides 4, 8, 16, 32)', recorded=True, type=int, nargs='+'))
    pool: bool = field(default=False, metadata=_option(
        'store mean-pooled vectors', recorded=True, action='store_true'))
    size: Optional[Tuple[int, int]] = field(default=None, metadata=_option(
        'resize every image to H x W (default: keep each size)', recorded=True, type=int,
        nargs=2, metavar=('H', 'W')))
    max_size: Optional[int] = field(default=None, metadata=_option(
        'resize images whose longer side is over N to N (aspect kept)', recorded=True,
        type=int, metavar='N'))
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata=_option(
        "skip (and report) images with more pixels than this (default: PIL's "
        'decompression-bomb limit)', type=int))
    batch_size: int = field(default=8, metadata=_option('images per batch', type=int))
    workers: int = field(default=2, metadata=_option('DataLoader decoding workers', type=int))
    device: str = field(default='cpu', metadata=_option(
        'cpu or cuda[:N] (default: cuda when there is one)'))
    amp: Optional[str] = field(default=None, metadata=_option(
        'compute under autocast (bf16: CPUs with native bf16 or CUDA; fp16: CUDA)',
        recorded=True, choices=AMP_CHOICES))
    fmt: str = field(default='npz', metadata=_option(
        'npz (numpy only) or safetensors (one file per image)', recorded=True,
        choices=sorted(outputs.FORMATS)))
    dtype: str = field(default='float32', metadata=_option(
        'stored precision of the features', recorded=True, choices=DTYPE_CHOICES))
    overwrite: bool = field(default=False, metadata=_option(
        'redo every image instead of continuing from the manifest', action='store_true'))
    visualize: bool = field(default=False, metadata=_option(
        'also write <name>_features.png: input and stage energies', action='store_true'))

    # --- the command line, made from the fields ---

    @staticmethod
    def flag(name: str) -> str:
        return '--format' if name == 'fmt' else '--' + name.replace('_', '-')

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for f in fields(cls):
            kwargs = dict(f.metadata['argparse'], help=f.metadata['help'])
            if f.name == 'device':
                kwargs['default'] = 'cuda' if torch.cuda.is_available() else 'cpu'
            elif f.name == 'inputs':
                parser.add_argument('inputs', **kwargs)
                continue
            else:
                kwargs['default'] = f.default
            parser.add_argument(cls.flag(f.name), dest=f.name, **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> 'ExtractionSettings':
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        for name in ('inputs', 'out_indices', 'size'):
            if values[name] is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    # --- checks and the record ---

    def validate(self) -> None:
        """Raise :class:`ExtractionError` naming the option and the fix."""
        if self.fmt not in outputs.FORMATS:
            raise ExtractionError(f'--format {self.fmt!r}: choose one of '
                                  f'{sorted(outputs.FORMATS)}.')
        if self.dtype not in DTYPE_CHOICES:
            raise ExtractionError(f'--dtype {self.dtype!r}: choose float32 or float16.')
        if self.size and self.max_size:
            raise ExtractionError('--size and --max-size exclude each other: give one.')
        for name in ('batch_size', 'max_size', 'max_pixels'):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExtractionError(f'{self.flag(name)} must be at least 1, got {value}.')
        if self.workers < 0:
            raise ExtractionError('--workers must be 0 (decode in the main process) or more.')
        if self.fmt == 'safetensors':
            try:
                import safetensors  # noqa: F401
            except ImportError as err:
                raise ExtractionError('--format safetensors needs the safetensors package: '
                                      'pip install safetensors') from err
        check_amp(self.amp, self.device)

    def record(self) -> dict:
        """What the stored features depend on, as ``settings.json`` holds it."""
        record = {('format' if f.name == 'fmt' else f.name): getattr(self, f.name)
                  for f in fields(self) if f.metadata['recorded']}
        if self.checkpoint and '://' not in self.checkpoint:
            record['checkpoint'] = os.path.abspath(self.checkpoint)
        record['out_indices'] = list(self.out_indices)
        record['size'] = list(self.size) if self.size else None
        return record


def check_amp(amp: Optional[str], device: str) -> None:
    """Refuse autocast where it would be slower than fp32 or is not supported."""
    if amp is None:
        return
    if torch.device(device).type == 'cpu':
        if amp == 'fp16':
            raise ExtractionError('--amp fp16 is for CUDA devices; on the CPU use --amp bf16 '
                                  '(on CPUs with native bf16) or leave --amp out.')
        if not native_bf16():
            raise ExtractionError('--amp bf16 needs a CPU with native bf16 instructions '
                                  '(AVX512-BF16 or AMX on x86, BF16 on Arm); this one has '
                                  'none, and emulated bf16 is slower than fp32. Leave --amp '
                                  'out.')
