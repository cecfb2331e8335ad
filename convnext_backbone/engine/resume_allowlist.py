"""Let ``torch.load(weights_only=True)`` read the checkpoints mmengine saves, for resume.

torch >= 2.6 loads with ``weights_only=True`` by default and mmengine 0.10.7 does not
allowlist what its own checkpoints contain, so ``resume=True`` fails with
``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer``. This module
allowlists exactly what ``torch.serialization.get_unsafe_globals_in_checkpoint`` lists
for an mmengine training checkpoint:

- ``HistoryBuffer`` (the message hub's logged scalars), rebuilt from its ``__dict__`` by a
  stand-in class that becomes a plain ``HistoryBuffer`` once built. mmengine's own
  ``__setstate__`` copies the file's ``statistics_methods`` into a class-wide dict, so a
  crafted file could change how every buffer computes ``mean`` and widen what later loads
  may ``getattr``; the stand-in ignores that entry: reading a checkpoint changes no
  global state;
- numpy arrays, dtypes and scalars inside it (data only: ``_reconstruct``, ``ndarray``,
  ``dtype``, ``scalar`` and the dtype classes);
- ``builtins.getattr``, which pickle uses to refer to ``HistoryBuffer.min`` and the
  other statistics functions. The real ``getattr`` would open a path to any attribute
  of any object, so it is mapped to :func:`_history_buffer_getattr`, which answers only
  ``HistoryBuffer``'s statistics methods, a set fixed when this module is imported, and
  refuses everything else.

Nothing falls back to ``weights_only=False``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_STATISTICS = ('min', 'max', 'current', 'mean')
#: Fixed at import: what a checkpoint may name through ``getattr(HistoryBuffer, ...)``.
_ALLOWED_STATISTICS = frozenset(_STATISTICS) | frozenset(HistoryBuffer._statistics_methods)


class _HistoryBufferFromCheckpoint(HistoryBuffer):
    """Stands in for ``HistoryBuffer`` while a checkpoint is read (see the module doc)."""

    def __setstate__(self, state: dict) -> None:
        state = {k: v for k, v in state.items() if k != 'statistics_methods'}
        self.__dict__.update(state)
        self.__class__ = HistoryBuffer  # from here on an ordinary HistoryBuffer


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    if obj in (HistoryBuffer, _HistoryBufferFromCheckpoint) and name in _ALLOWED_STATISTICS \
            and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise RuntimeError(f'Refused getattr({obj!r}, {name!r}) while loading a checkpoint: '
                       f'only HistoryBuffer statistics methods are allowed.')


def _numpy_globals() -> list:
    try:  # numpy 2; numpy 1.26 has a numpy._core without multiarray
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    globals_ = [np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, name)
        # Checkpoints name them numpy._core.* (numpy 2) or numpy.core.* (numpy 1).
        globals_ += [(func, f'numpy._core.multiarray.{name}'),
                     (func, f'numpy.core.multiarray.{name}')]
    globals_ += [type(np.dtype(t)) for t in
                 (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8,
                  np.bool_)]
    return globals_


def allow_mmengine_checkpoints() -> None:
    """Register the allowlist with torch (idempotent)."""
    torch.serialization.add_safe_globals(
        [(_HistoryBufferFromCheckpoint, 'mmengine.logging.history_buffer.HistoryBuffer'),
         (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals())
