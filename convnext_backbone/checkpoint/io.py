"""Reading checkpoint files safely, with errors that name the file and the fix.

Everything goes through ``torch.load(..., weights_only=True)``: a checkpoint that would
need arbitrary code to unpickle is refused before anything runs.
"""
from __future__ import annotations

import os
import pickle
import re
import socket
import zipfile
from typing import Any
from urllib.error import URLError

import torch


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit the backbone."""


def _download(url: str, timeout: float = 30.0) -> str:
    """Fetch ``url`` into torch's hub cache and return the local path."""
    cache_dir = os.path.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, os.path.basename(url.split('?')[0]) or 'checkpoint.pth')
    if os.path.isfile(path):
        return path
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torch.hub.download_url_to_file(url, path, progress=False)
    except (URLError, OSError, ValueError) as err:
        raise CheckpointError(
            f'Could not download checkpoint {url} ({err}). This machine seems to have '
            f'no network access to it: download the file elsewhere and pass its local '
            f"path, e.g. init_cfg=dict(type='Pretrained', checkpoint='/path/to/"
            f"{os.path.basename(path)}').") from err
    finally:
        socket.setdefaulttimeout(previous)
    return path


def read_checkpoint(path: str) -> Any:
    """Load a checkpoint file (or http(s) URL) with ``weights_only=True``.

    Raises:
        FileNotFoundError: the path does not exist.
        CheckpointError: the file is truncated, corrupt, not a PyTorch checkpoint, or
            would need code execution to unpickle (refused; nothing is executed).
    """
    path = str(path)
    if path.startswith(('http://', 'https://')):
        path = _download(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path!r}. Check the path in '
                                f'init_cfg / --checkpoint (relative paths are resolved '
                                f'from {os.getcwd()!r}).')
    with open(path, 'rb') as f:
        head = f.read(4)
    is_zip = zipfile.is_zipfile(path)
    if not is_zip and head[:2] == b'PK':
        raise CheckpointError(f'Checkpoint {path!r} is truncated or corrupt (a damaged '
                              f'zip archive). Download or copy it again.')
    if not is_zip and head[:1] != b'\x80':
        raise CheckpointError(f'{path!r} is not a PyTorch checkpoint (it is neither a '
                              f'torch.save zip archive nor a pickle). Pass a .pth/.pt file '
                              f'saved by torch.save.')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'Unsupported (global|class): (GLOBAL )?([\w.]+)', str(err))
        if found:
            raise CheckpointError(
                f'Refused to load {path!r}: it references {found[3]}, a Python object that '
                f'only code execution could rebuild. Nothing was executed. A weights '
                f'checkpoint holds only tensors and plain containers; if you trust the '
                f'source, re-save just its state_dict with torch.save.') from None
        raise CheckpointError(f'Checkpoint {path!r} is truncated or corrupt (unreadable '
                              f'pickle data). Download or copy it again.') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f'Checkpoint {path!r} is truncated or corrupt ({err}). '
                              f'Download or copy it again.') from None
