"""Feature files written atomically, the run's settings, and the manifest.

Layout of an output folder::

    extraction.json              the settings the features were made with
    manifest.jsonl               one JSON line per input image (after a finished run)
    manifest.rank<r>.jsonl       what rank r did in a run not yet merged (appended live)
    .tmp/rank<r>/                files being written (renamed into place when complete)
    a/x.npz, b/x.npz, ...        the features, mirroring the input tree
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

MANIFEST = 'manifest.jsonl'
SETTINGS = 'extraction.json'
FORMATS = {'npz': '.npz', 'safetensors': '.safetensors'}


def _tmp_dir(out: Path, rank: int) -> Path:
    return out / '.tmp' / f'rank{rank}'


def clear_tmp(out: Path, rank: int) -> None:
    """Remove what an interrupted run of this rank left half-written."""
    shutil.rmtree(_tmp_dir(out, rank), ignore_errors=True)
    _tmp_dir(out, rank).mkdir(parents=True, exist_ok=True)


def write_features(out: Path, relative: str, arrays: Dict[str, np.ndarray], fmt: str,
                   rank: int) -> None:
    """Write one image's arrays to ``out/relative``: to a temporary file, then renamed.

    A run killed at any moment leaves either the complete file or none.
    """
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_dir(out, rank) / f'{os.getpid()}{FORMATS[fmt]}'
    if fmt == 'npz':
        with open(tmp, 'wb') as f:
            np.savez(f, **arrays)
    else:
        from safetensors.numpy import save_file
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp),
                  metadata={'format': 'np'})
    os.replace(tmp, target)


def check_settings(out: Path, settings: dict, overwrite: bool) -> Optional[str]:
    """Why the features already in ``out`` cannot be continued with ``settings``, or None."""
    path = out / SETTINGS
    if overwrite or not path.is_file():
        return None
    before = json.loads(path.read_text())
    changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
    if not changed:
        return None
    diffs = ', '.join(f'{k}: {before.get(k)!r} then, {settings.get(k)!r} now' for k in changed)
    return (f'{out} holds features made with other settings ({diffs}). Pass --overwrite to '
            f'redo them all, or choose another --out-dir.')


def save_settings(out: Path, settings: dict) -> None:
    tmp = out / f'{SETTINGS}.tmp'
    tmp.write_text(json.dumps(settings, indent=1, sort_keys=True) + '\n')
    os.replace(tmp, out / SETTINGS)


def _manifest_files(out: Path) -> List[Path]:
    """The merged manifest first, then the per-rank parts (newer)."""
    return [p for p in [out / MANIFEST] if p.is_file()] + sorted(out.glob('manifest.rank*.jsonl'))


def read_records(paths: Iterable[Path]) -> Dict[str, dict]:
    """The latest record of each source in the given JSON-lines files.

    A last line cut short by a kill is ignored (its image is simply done again).
    """
    latest: Dict[str, dict] = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                old = latest.get(record['source'])
                if old is None or record['time'] >= old['time']:
                    latest[record['source']] = record
    return latest


def read_manifest(out: Path) -> Dict[str, dict]:
    """Every image recorded in ``out`` so far, merged or not: ``{source: record}``."""
    return read_records(_manifest_files(out))


def remove_manifest(out: Path) -> None:
    for path in _manifest_files(out):
        path.unlink()


class ManifestPart:
    """This rank's manifest part, appended one flushed line per image."""

    def __init__(self, out: Path, rank: int):
        self.path = out / f'manifest.rank{rank}.jsonl'
        self.rank = rank
        self._file = open(self.path, 'a')

    def add(self, **record) -> dict:
        record.update(rank=self.rank, time=time.time())
        self._file.write(json.dumps(record) + '\n')
        self._file.flush()
        return record

    def close(self) -> None:
        self._file.close()


def merge_manifest(out: Path) -> Dict[str, dict]:
    """Fold the parts into ``manifest.jsonl`` (sorted by source), then drop the parts.

    The merged file replaces the old one atomically, and the parts go only after it.
    """
    parts = sorted(out.glob('manifest.rank*.jsonl'))
    records = read_manifest(out)
    tmp = out / f'{MANIFEST}.tmp'
    with open(tmp, 'w') as f:
        for source in sorted(records):
            f.write(json.dumps(records[source]) + '\n')
    os.replace(tmp, out / MANIFEST)
    for part in parts:
        part.unlink()
    shutil.rmtree(out / '.tmp', ignore_errors=True)
    return records
