"""Shared fixtures: the reference checkpoints in tests/data (copied from the shared fixtures)."""
import json
import socket
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

DATA = Path(__file__).parent / 'data'
VERSIONS = ('v1', 'v2')


def fixture_dir(version: str) -> Path:
    return DATA / f'convnext_{version}'


def fixture_arch(version: str) -> dict:
    spec = json.loads((fixture_dir(version) / 'spec.json').read_text())
    return dict(depths=spec['depths'], dims=spec['dims'], v2=spec['v2'])


def expected(version: str) -> dict:
    return torch.load(fixture_dir(version) / 'expected.pth', weights_only=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a test's process group)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def layer_norm_2d(x: torch.Tensor) -> torch.Tensor:
    """Channels-first LayerNorm with unit weight and zero bias, eps 1e-6."""
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), eps=1e-6).permute(0, 3, 1, 2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
