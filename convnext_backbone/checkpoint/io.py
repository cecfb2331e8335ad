"""Reading checkpoint files safely, with errors that name the file and the fix.

Pickled checkpoints go through ``torch.load(..., weights_only=True)``: one that would need
arbitrary code to unpickle is refused before anything runs. The only class allowed beyond
torch's own is ``argparse.Namespace`` (the run arguments official and timm training save
as ``args``), which is an inert attribute bag; it is allowed for this read only.
``.safetensors`` files are read with the ``safetensors`` package, without pickle.
URLs are downloaded once per machine into torch's hub cache, under a name made from the
whole URL; a file name with torch hub's hash suffix (``name-<hex>.pth``) is checked.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import socket
import zipfile
from argparse import Namespace  # the class run arguments are pickled as; no parsing
from typing import Any
from urllib.error import URLError

import torch


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit the backbone."""


HASH_SUFFIX = re.compile(r'-([a-f0-9]{8,})\.')  # torch hub: the file's sha256 prefix


def cache_path(url: str) -> str:
    """Where ``url`` is cached: the file name, prefixed by a digest of the whole URL, so
    two URLs that end in the same file name never share a file."""
    name = os.path.basename(url.split('?')[0]) or 'checkpoint.pth'
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return os.path.join(torch.hub.get_dir(), 'checkpoints', f'{digest}-{name}')


@contextlib.contextmanager
def _file_lock(path: str):
    """An exclusive lock between processes on this machine (POSIX; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, each process may download
        yield
        return
    with open(path, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def download(url: str, timeout: float = 30.0) -> str:
    """Fetch ``url`` into torch's hub cache (once per machine) and return the local path.

    Processes that ask for the same URL at once (the ranks of a DDP job on one machine)
    queue on a file lock: the first downloads, the others find the file.
    """
    path = cache_path(url)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    name = os.path.basename(url.split('?')[0])
    expected = HASH_SUFFIX.search(name)
    with _file_lock(path + '.lock'):
        if os.path.isfile(path):
            return path
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)
        try:
            torch.hub.download_url_to_file(url, path, expected and expected[1],
                                           progress=False)
        except RuntimeError as err:  # torch hub's hash check
            raise CheckpointError(
                f'Downloaded {url}, but its SHA-256 does not start with {expected[1]}, as '
                f'its file name says ({err}). The file is damaged or not the published '
                f'one; nothing was kept. Download it again or check the URL.') from None
        except (URLError, OSError, ValueError) as err:
            raise CheckpointError(
                f'Could not download checkpoint {url} ({err}). This machine seems to have '
                f'no network access to it: download the file elsewhere and pass its local '
                f"path, e.g. init_cfg=dict(type='Pretrained', checkpoint='/path/to/"
                f"{name}').") from err
        finally:
            socket.setdefaulttimeout(previous)
    return path


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f'{path!r} is a .safetensors file: reading it needs the '
                              f'safetensors package (pip install safetensors).') from None
    try:
        return load_file(path, device='cpu')
    except Exception as err:  # safetensors raises its own SafetensorError
        raise CheckpointError(f'Checkpoint {path!r} is not a readable .safetensors file '
                              f'({err}). Download or copy it again.') from None


def _is_safetensors(path: str) -> bool:
    """An 8-byte little-endian header length followed by a JSON header."""
    with open(path, 'rb') as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b'{' and \
        int.from_bytes(head[:8], 'little') < os.path.getsize(path)


def read_checkpoint(path: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file (or http(s) URL) with ``weights_only=True`` (or safetensors).

    Raises:
        FileNotFoundError: the path does not exist.
        CheckpointError: the file is truncated, corrupt, not a PyTorch checkpoint, or
            would need code execution to unpickle (refused; nothing is executed).
    """
    path = str(path)
    if path.startswith(('http://', 'https://')):
        path = download(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path!r}. Check the path in '
                                f'init_cfg / --checkpoint (relative paths are resolved '
                                f'from {os.getcwd()!r}).')
    if path.endswith('.safetensors') or _is_safetensors(path):
        return _read_safetensors(path)
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
        with torch.serialization.safe_globals([Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'Unsupported (global|class): (GLOBAL )?([\w.]+)', str(err))
        if found:
            raise CheckpointError(
                f'Refused to load {path!r}: it references {found[3]}, a Python object that '
                f'only code execution could rebuild. Nothing was executed. A weights '
                f'checkpoint holds only tensors and plain containers; if you trust the '
                f'source, extract the weights once: python -c "import torch; '
                f'c = torch.load(\'{os.path.basename(path)}\', weights_only=False); '
                f'torch.save(c[\'model\'] if \'model\' in c else c[\'state_dict\'], '
                f'\'weights.pth\')" and load weights.pth.') from None
        raise CheckpointError(f'Checkpoint {path!r} is truncated or corrupt (unreadable '
                              f'pickle data). Download or copy it again.') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f'Checkpoint {path!r} is truncated or corrupt ({err}). '
                              f'Download or copy it again.') from None
