"""Helpers several test files share, written once: reading a config (cached), running a
tool in a subprocess, and a file server on 127.0.0.1."""
from __future__ import annotations

import copy
import functools
import http.server
import os
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
