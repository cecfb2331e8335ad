"""Helpers several test files share, written once: reading a config (cached), the options
that shrink a recipe's training to CPU seconds, running a tool in a subprocess, and a file
server on 127.0.0.1."""
from __future__ import annotations

import copy
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def _read_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(path)


def load_config(path):
    """``Config.fromfile(path)``, read once per test session: each caller gets its own copy
    (reading a config with mmdet's or mmseg's bases takes most of a second)."""
    return copy.deepcopy(_read_config(str(Path(path).resolve())))


def without_scope(node):
    """A config dict without the ``_scope_`` keys mmengine adds to what a package's base
    (``mmdet::``, ``mmseg::``) defines: for comparing configs by content."""
    if isinstance(node, dict):
        return {k: without_scope(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(without_scope(v) for v in node)
    return node


#: V2-A's channels: the arch the recipes are shrunk to.
SMALL_CHANNELS = '[40,80,160,320]'


def shrink_detector(cascade_stages: Optional[int] = None) -> list:
    """``--cfg-options`` that shrink a Mask R-CNN or Cascade (``cascade_stages`` box heads)
    recipe to V2-A with fewer RoIs: 3 x 512 sampled RoIs (1000 proposals at test) through
    Cascade's four 3x3 convolutions cost 20 s an iteration on 2 cores; 32 and 100 run the
    same code."""
    rcnn = ['model.train_cfg.rcnn.sampler.num=32'] if cascade_stages is None else [
        f'model.train_cfg.rcnn.{i}.sampler.num=32' for i in range(cascade_stages)]
    return ['model.backbone.arch=v2-atto', 'model.backbone.init_cfg=None',
            f'model.neck.in_channels={SMALL_CHANNELS}',
            'model.train_cfg.rpn_proposal.max_per_img=100', *rcnn,
            'model.test_cfg.rpn.max_per_img=100', 'model.test_cfg.rcnn.max_per_img=20']


def shrink_segmentor() -> list:
    """``--cfg-options`` that shrink an UperNet recipe to V2-A with narrower heads: the
    decode head's 512-channel 3x3 convolutions on 128x128 maps cost 14 s an iteration."""
    return ['model.backbone.arch=v2-atto', 'model.backbone.init_cfg=None',
            f'model.decode_head.in_channels={SMALL_CHANNELS}',
            'model.auxiliary_head.in_channels=160',
            'model.decode_head.channels=64', 'model.auxiliary_head.channels=32']


def run_tool_in_process(main, *argv, logs_under: Path) -> str:
    """``main(ARGV)`` of one of our tools (``convnext_cli.train.main``, ...) in this process,
    which has torch, mmdet and mmseg imported already (a subprocess spends seconds on
    that): the text of every mmengine log written under ``logs_under`` since (runners
    started within the same second share one log)."""
    before = {p: p.stat().st_size for p in Path(logs_under).rglob('*.log')}
    main([str(a) for a in argv])
    return ''.join(p.read_text()[before.get(p, 0):] for p in sorted(
        Path(logs_under).rglob('*.log')))


def logged_losses(log: str) -> list:
    """The total loss of each ``Iter(train)`` line of an mmengine log (logger interval 1).
    Read from the log, not ``vis_data/scalars.json``: in one process, later runners share
    the first one's visualizer (mmdet and mmseg name it 'visualizer') and its folder."""
    return [float(m) for m in re.findall(r'Iter\(train\) \[\s*\d+/\d+\].*?\sloss: ([-\d.]+)',
                                         log)]


#: The shared fixtures' small V1 ConvNeXt in the official classification layout (what the V1
#: configs start from), for trainings that load a real checkpoint through init_cfg.
FIXTURE_V1 = ROOT / 'tests' / 'data' / 'convnext_v1' / 'official_classification.pth'
FIXTURE_ARCH = dict(depths=[2, 2, 3, 2], dims=[8, 16, 32, 64])


#: Config text: a detection test pipeline's last step, keeping what the metrics read.
PACK_DET_TEST = ("dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', "
                 "'img_shape', 'scale_factor'))")


def coco_layout_dataloaders(test_pipeline: str, annotations: str = 'instances',
                            panoptic_maps: bool = False) -> str:
    """Config text: train (batch 2, unshuffled) and test (batch 1) dataloaders over a
    generated COCO-layout set (``annotations/{annotations}_{train,val}.json``, images in
    ``train/`` and ``val/``, with ``panoptic_maps`` the PNGs beside the JSON), no workers,
    for a config that defines ``data_root``, ``metainfo`` and ``pipeline`` before it;
    ``test_pipeline`` is the test pipeline's expression."""
    def dataset(split: str) -> str:
        seg = f", seg='annotations/{annotations}_{split}/'" if panoptic_maps else ''
        return (f"data_root=data_root, metainfo=metainfo, "
                f"ann_file='annotations/{annotations}_{split}.json', "
                f"data_prefix=dict(img='{split}/'{seg})")
    return (f"train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, "
            f"sampler=dict(type='DefaultSampler', shuffle=False), "
            f"dataset=dict({dataset('train')}, pipeline=pipeline))\n"
            f"test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False, "
            f"dataset=dict({dataset('val')}, pipeline={test_pipeline}))\n")


def train_then_test(config: Path, work_dir: Path, iters: int) -> str:
    """``tools/train.py CONFIG`` (a config whose backbone loads :data:`FIXTURE_V1` through
    init_cfg, logging every iteration) then ``tools/test.py`` on its last checkpoint, in
    this process: checks the fixture was loaded and the loss fell over ``iters`` finite
    steps; returns the test's log."""
    import math

    from convnext_cli import test, train
    log = run_tool_in_process(train.main, config, '--work-dir', work_dir,
                              logs_under=work_dir.parent)
    assert re.search(f'Loaded {re.escape(str(FIXTURE_V1))}: layout official-classification, '
                     r'\d+ tensors loaded', log), log[-3000:]
    losses = logged_losses(log)
    print('losses', losses)
    assert len(losses) == iters and all(math.isfinite(v) for v in losses)
    assert sum(losses[-2:]) < sum(losses[:2])  # falling
    return run_tool_in_process(test.main, config, work_dir / f'iter_{iters}.pth',
                               '--work-dir', work_dir / 'test', logs_under=work_dir.parent)


def run_python(*args, env: Optional[dict] = None, cwd=ROOT,
               timeout: int = 900) -> Tuple[subprocess.CompletedProcess, str]:
    """``python ARGS`` (this interpreter) in ``cwd``: the result and stdout + stderr."""
    return run_command(sys.executable, *args, env=env, cwd=cwd, timeout=timeout)


def run_command(*args, env: Optional[dict] = None, cwd=ROOT,
                timeout: int = 900) -> Tuple[subprocess.CompletedProcess, str]:
    """``ARGS`` in ``cwd`` with ``env`` added to this environment: the result and
    stdout + stderr."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                            timeout=timeout, env={**os.environ, **(env or {})})
    return result, result.stdout + result.stderr


class LocalServer:
    """Serves ``files`` (``{'/path': bytes}``) or the folder ``root`` on 127.0.0.1, and
    counts the GET requests per path. ``delay`` seconds pass before each body is sent."""

    def __init__(self, files: Optional[Dict[str, bytes]] = None, root: Optional[Path] = None,
                 delay: float = 0.0):
        counts = self.counts = {}

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(root or ROOT), **k)

            def do_GET(self):
                counts[self.path] = counts.get(self.path, 0) + 1
                if files is None:
                    return super().do_GET()
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                time.sleep(delay)
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
