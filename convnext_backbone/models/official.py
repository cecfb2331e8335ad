"""The textbook ConvNeXt backbone as the official detection repository writes it.

The outside truth for equivalence tests and benchmarks (and for checking this package on
a new device): a hand-written mean/var LayerNorm for channels-first tensors, NCHW tensors
with permutes around the Linear pointwise layers, ``gamma * x`` layer scale after
``pwconv2``.
Same parameter names as :class:`ConvNeXtBackbone`, so both load one state dict.
"""
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class OfficialLayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6, data_format: str = 'channels_last'):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps, self.data_format, self.shape = eps, data_format, (dim,)

    def forward(self, x):
        if self.data_format == 'channels_last':
            return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class OfficialGRN(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class OfficialBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float, use_grn: bool):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = OfficialLayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = OfficialGRN(4 * dim) if use_grn else None
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim)) if layer_scale > 0 else None

    def forward(self, x):
        shortcut = x
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)
        x = self.act(self.pwconv1(self.norm(x)))
        if self.grn is not None:
            x = self.grn(x)
        x = self.pwconv2(x)
        if self.gamma is not None:
            x = self.gamma * x
        x = x.permute(0, 3, 1, 2)
        return shortcut + x


class OfficialConvNeXt(nn.Module):
    """Official detection backbone (eval-time formulation; no drop path)."""

    in_channels = 3

    def __init__(self, depths: Sequence[int], dims: Sequence[int], layer_scale: float = 1e-6,
                 use_grn: bool = False, out_indices: Sequence[int] = (0, 1, 2, 3)):
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(3, dims[0], kernel_size=4, stride=4),
            OfficialLayerNorm(dims[0], data_format='channels_first'))])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                OfficialLayerNorm(dims[i], data_format='channels_first'),
                nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        self.stages = nn.ModuleList([
            nn.Sequential(*[OfficialBlock(dims[i], layer_scale, use_grn)
                            for _ in range(depths[i])]) for i in range(4)])
        self.out_indices = tuple(out_indices)
        for i in range(4):
            self.add_module(f'norm{i}', OfficialLayerNorm(dims[i], data_format='channels_first'))

    def forward(self, x) -> List[torch.Tensor]:
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x))
        return outs
