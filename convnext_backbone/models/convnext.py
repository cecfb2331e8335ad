"""ConvNeXt (V1 and V2) as a multi-scale backbone for detection and segmentation.

Liu et al., "A ConvNet for the 2020s" (CVPR 2022) and Woo et al., "ConvNeXt V2" (CVPR 2023).

Parameter names follow the official facebookresearch layout (``downsample_layers.i``,
``stages.i.j.{dwconv,norm,pwconv1,pwconv2,gamma,grn}``, ``norm{i}``), so official
detection and segmentation checkpoints load without renaming and the layer-decay
optimizer constructors of mmdet and mmseg can parse the names.

Only torch and mmengine are needed here: the model can be benchmarked or used for
feature extraction on a machine without mmcv's compiled ops.

Memory layout: the input is turned into ``torch.channels_last`` once. Every tensor after
that stays channels-last, so the NCHW <-> NHWC permutes around the LayerNorms and the
pointwise Linear layers are free views instead of copies. The returned feature maps are
copied back to the ordinary contiguous NCHW layout, because some consumers (mmcv's CPU
RoIAlign) silently misread channels-last tensors.
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..archs import NUM_STAGES, arch_eps, resolve_arch
from ..checkpoint import PRETRAINED_KEYS, load_pretrained
from . import cpu_kernels as cpu_path
from . import mmpretrain_args
from .layers import GRN, LayerNorm2d, SamePadConv2d, autocast_on, drop_path, layer_norm

#: Total downsampling: the 4x4 stem and three 2x2 downsampling layers.
MIN_INPUT_SIZE = 32
#: The strides of the last stage: 32, or 16 / 8 with the last one / two downsamplings
#: replaced by dilation (timm's ``output_stride``).
OUTPUT_STRIDES = (32, 16, 8)
#: The official initialisation: truncated-normal convs and linears, unit LayerNorms.
DEFAULT_INIT_CFG = [
    dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.02, bias=0.0),
    dict(type='Constant', layer=['LayerNorm'], val=1.0, bias=0.0),
]
#: Layer-scale init of the V1 recipe; V2 uses no layer scale.
V1_LAYER_SCALE_INIT = 1e-6


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> LayerNorm -> Linear 4C -> GELU [-> GRN] -> Linear C [-> gamma] + x.

    Two paths, chosen once per call. On the CPU in fp32, eagerly, with ``cpu_kernels`` on:
    :func:`.cpu_kernels.block_forward` (layer scale folded, CPU-only kernels; exact to fp32
    rounding). Everywhere else (CUDA, autocast, half-precision modules, tracing,
    ``torch.compile``, export, ``cpu_kernels=False``): :meth:`portable_forward`, the
    official block step by step; in CPU inference under bf16 autocast with ``cpu_kernels``
    on, LayerNorm -> Linear -> GELU there runs as :func:`.cpu_kernels.norm_linear_gelu_bf16`
    (two passes less). Parameters are the official ones.
    """

    def __init__(self, dim: int, drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = V1_LAYER_SCALE_INIT,
                 use_grn: bool = False, mlp_ratio: int = 4, cpu_kernels: bool = True,
                 eps: float = 1e-6, dilation: int = 1) -> None:
        super().__init__()
        hidden = mlp_ratio * dim
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3 * dilation,
                                dilation=dilation, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.grn = GRN(hidden) if use_grn else None
        self.pwconv2 = nn.Linear(hidden, dim)
        self.gamma = (nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
                      if layer_scale_init_value > 0 else None)
        self.drop_path_rate = drop_path_rate
        self.cpu_kernels = cpu_kernels

    def forward(self, x: Tensor) -> Tensor:
        if cpu_path.applies(x, self.dwconv.weight, self.cpu_kernels):
            return cpu_path.block_forward(self, x)
        return self.portable_forward(x)

    def portable_forward(self, x: Tensor) -> Tensor:
        """The official block (``models/official.py``) line by line, as CUDA runs it.

        Two deliberate differences, both about precision: LayerNorm in fp32 (see
        :func:`.layers.layer_norm`), and with layer scale the bias add and ``x gamma`` in
        fp32 after ``pwconv2``'s matmul (a bias gradient summed over every pixel in bf16
        loses 3x the accuracy; a folded ``weight * gamma`` underflows in fp16).
        """
        shortcut = x
        x = cpu_path.depthwise_conv(x, self.dwconv.weight, self.dwconv.bias,
                                    cpu_backward=self.cpu_kernels,
                                    dilation=self.dwconv.dilation[0])
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C): free on channels-last
        if cpu_path.bf16_inference(x, self.dwconv.weight, self.cpu_kernels):
            x = cpu_path.norm_linear_gelu_bf16(x, self.norm, self.pwconv1)
        else:
            x = F.gelu(self.pwconv1(layer_norm(x, self.norm)))
        if self.grn is not None:
            x = self.grn(x)
        drop = self.training and self.drop_path_rate > 0
        if self.gamma is None:
            x = self.pwconv2(x).permute(0, 3, 1, 2)
            return shortcut + (drop_path(x, self.drop_path_rate, True) if drop else x)
        # Two fp32 passes: the bias add promotes the matmul's output to fp32, addcmul
        # scales and adds the residual (under autocast the residual sum is fp32, as
        # officially; a half-precision module stays in its dtype).
        x = torch.add(F.linear(x, self.pwconv2.weight), self.pwconv2.bias.float())
        x = x.permute(0, 3, 1, 2)
        gamma = self.gamma.float()[:, None, None]
        if drop:
            x = drop_path(gamma * x, self.drop_path_rate, True)
            gamma = gamma.new_ones(())
        if autocast_on(shortcut):
            return torch.addcmul(shortcut, x, gamma)
        return torch.addcmul(shortcut.float(), x, gamma).to(shortcut.dtype)

    def extra_repr(self) -> str:
        return f'drop_path_rate={self.drop_path_rate:.3f}, cpu_kernels={self.cpu_kernels}'


@MODELS.register_module()
class ConvNeXtBackbone(BaseModule):
    """ConvNeXt backbone returning one normalised feature map per stage.

    Registered in mmengine's root ``MODELS`` registry, which mmdet's and mmseg's
    ``MODELS`` search as their parent: ``type='ConvNeXtBackbone'`` builds from either
    without this module importing mmdet or mmseg.

    Args:
        arch (str | dict): A V1 name (``tiny, small, base, large, xlarge``; ``xxlarge``,
            OpenCLIP's tower, LayerNorm eps 1e-5), a V2 name (``v2-atto, v2-femto,
            v2-pico, v2-nano, v2-tiny, v2-base, v2-large, v2-huge``), mmpretrain's
            ``atto, femto, pico, nano, huge`` (V1 blocks unless ``use_grn=True``) or
            ``dict(depths=[4 ints], dims=[4 ints], v2=False, eps=1e-6)``.
            Defaults to ``'tiny'``.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose features are returned, each in
            0..3 (strides 4, 8, 16, 32) or -4..-1 (from the last). Defaults to all four.
        drop_path_rate (float): Stochastic-depth rate of the last block; it rises
            linearly from 0 over all blocks. Defaults to 0.
        layer_scale_init_value (float, optional): Initial layer-scale ``gamma``;
            0 disables it. ``None`` uses the arch's default (1e-6 for V1, none for V2).
        use_grn (bool, optional): Global Response Normalization in each block.
            ``None`` uses the arch's default (on for V2, off for V1).
        frozen_stages (int): -1 freezes nothing, 0 the stem only, k >= 1 the stem and
            the first k stages with their downsampling layers (mmdet ResNet's count;
            mmpretrain's for k >= 1). Frozen parts get no gradients and stay in eval mode
            (so stochastic depth is off there). The per-stage output norms ``norm{i}``
            are never frozen: they belong to the interface with the neck and are
            freshly initialised when a classification checkpoint is loaded, so they
            must be trained. Defaults to -1.
        with_cp (bool): Gradient checkpointing per block: less memory, same gradients,
            about one extra forward pass of compute. Every trainable block is
            checkpointed, also behind a frozen stem. Defaults to False.
        cpu_kernels (bool): Use the CPU-only kernels (hand-written backward passes, oneDNN
            fusion, layer scale folded into ``pwconv2``) where they are exact to fp32
            rounding. ``False`` runs exactly what CUDA runs (the portable path); see
            :meth:`set_cpu_kernels`. Defaults to True.
        init_cfg (dict | list[dict], optional): mmengine init config. Defaults to
            truncated-normal (std 0.02) convs and linears with zero bias, as officially.
            ``dict(type='Pretrained', checkpoint=PATH)`` takes a checkpoint in any
            published layout (official, timm, torchvision, mmpretrain, V1 or V2) with
            no conversion step; see :mod:`convnext_backbone.checkpoint`.
        output_stride (int): 32, or 16 / 8 for a dilated backbone (DeepLab-style heads):
            the last one / two downsampling layers keep the resolution (a 2x2
            convolution at stride 1 with 'same' padding: one row and column after it
            at dilation 1, one on each side at 2) and the following depthwise
            convolutions dilate by 2 / 4, exactly as timm's ``output_stride``; the
            parameters are the same, so every checkpoint loads. Defaults to 32.
        stem_patch_size, norm_cfg, act_cfg, linear_pw_conv, gap_before_final_norm:
            mmpretrain's ``ConvNeXt`` arguments, keyword only, so that its configs switch
            by changing ``type`` alone. Accepted: ``stem_patch_size=4``,
            ``norm_cfg=dict(type='LN2d', eps=E)`` (E is used), ``act_cfg=dict(type='GELU')``,
            ``linear_pw_conv`` either way (the same numbers; both layouts' checkpoints
            load), ``gap_before_final_norm=False``; any other value changes the network
            and is refused by name (:mod:`convnext_backbone.models.mmpretrain_args`).
            mmpretrain's ``arch`` names and ``dict(depths, channels)``, negative
            ``out_indices`` and ``frozen_stages`` >= 1 mean what they mean there;
            mmpretrain's ``frozen_stages=0`` (nothing frozen) is ``-1`` here.

    Stages after the last of ``out_indices`` and the output norms of stages not in it
    compute nothing the outputs use: their parameters stay (every checkpoint loads) but
    are frozen (``requires_grad=False``), so DDP with its default
    ``find_unused_parameters=False`` trains any subset.

    Input sizes that are not multiples of 32 are accepted: every downsampling floors,
    so an ``H x W`` input gives ``floor(H/4)``, then ``floor(H/8)`` (= floor of half the
    previous size), ``floor(H/16)`` and ``floor(H/32)``; up to 3 bottom rows and right
    columns are dropped by the stem and one more at each odd size later (pad to 32, as
    mmdet's ``size_divisor=32`` does, to keep every pixel).
    """

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.0,
                 layer_scale_init_value: Optional[float] = None,
                 use_grn: Optional[bool] = None,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 cpu_kernels: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 output_stride: int = 32,
                 *,
                 stem_patch_size: Optional[int] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 linear_pw_conv: Optional[bool] = None,
                 gap_before_final_norm: Optional[bool] = None) -> None:
        super().__init__(init_cfg=init_cfg if init_cfg is not None else DEFAULT_INIT_CFG)
        depths, dims, is_v2 = resolve_arch(arch)
        mmpretrain_args.check_stem(stem_patch_size)
        mmpretrain_args.check_act(act_cfg)
        mmpretrain_args.check_linear_pw_conv(linear_pw_conv)
        mmpretrain_args.check_gap(gap_before_final_norm)
        eps = mmpretrain_args.layer_norm_eps(norm_cfg, default=arch_eps(arch))
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        out_indices = tuple(i + NUM_STAGES if isinstance(i, int) and -NUM_STAGES <= i < 0
                            else i for i in out_indices)  # mmpretrain's -1: the last stage
        if (not out_indices or len(set(out_indices)) != len(out_indices)
                or not all(isinstance(i, int) and 0 <= i < NUM_STAGES
                           for i in out_indices)):
            raise ValueError(f'out_indices must be distinct stage indices in '
                             f'0..{NUM_STAGES - 1} (strides 4, 8, 16, 32; -4..-1 count from '
                             f'the last), got {out_indices}.')
        if frozen_stages == 0 and any(v is not None for v in (
                stem_patch_size, norm_cfg, act_cfg, linear_pw_conv, gap_before_final_norm)):
            warnings.warn('frozen_stages=0 freezes the stem here (mmdet ResNet\'s count); in '
                          'mmpretrain\'s ConvNeXt, whose arguments this config also uses, 0 '
                          'freezes nothing. Set frozen_stages=-1 to freeze nothing.',
                          stacklevel=2)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= NUM_STAGES:
            raise ValueError(f'frozen_stages must be an int in -1..{NUM_STAGES} (-1: none, '
                             f'0: stem, k: stem and first k stages), got {frozen_stages!r}.')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}.')
        if layer_scale_init_value is None:
            layer_scale_init_value = 0.0 if is_v2 else V1_LAYER_SCALE_INIT
        if layer_scale_init_value < 0:
            raise ValueError(f'layer_scale_init_value must be >= 0 (0 disables layer '
                             f'scale), got {layer_scale_init_value}.')
        if use_grn is None:
            use_grn = is_v2
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f'output_stride must be one of {OUTPUT_STRIDES} (the last one or '
                             f'two downsamplings replaced by dilation), got {output_stride!r}.')
        self.output_stride = output_stride
        # timm's rule: once the stride reaches output_stride, a downsampling keeps the
        # resolution and the dilation doubles instead; the stage's downsampling convolution
        # is dilated by 1 (stage dilation 2) or 2 (stage dilation 4).
        dilations, stride = [], 4
        for i in range(NUM_STAGES):
            if i > 0 and stride >= output_stride:
                dilations.append(2 * dilations[-1])
            else:
                stride *= 2 if i > 0 else 1
                dilations.append(1)

        self.arch = arch
        self.depths = depths
        self.dims = dims
        self.in_channels = in_channels
        self.out_indices = tuple(sorted(out_indices))
        self.use_grn = use_grn
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp

        self.downsample_layers = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_channels, dims[0], kernel_size=4, stride=4),
                          LayerNorm2d(dims[0], eps=eps))
        ])
        for i in range(1, NUM_STAGES):
            if dilations[i] == 1:
                conv = nn.Conv2d(dims[i - 1], dims[i], kernel_size=2, stride=2)
            else:  # stride 1, 'same' padding: after (dilation 1) or around (dilation 2)
                conv = SamePadConv2d(dims[i - 1], dims[i], kernel_size=2,
                                     dilation=1 if dilations[i] <= 2 else 2)
            self.downsample_layers.append(
                nn.Sequential(LayerNorm2d(dims[i - 1], eps=eps), conv))

        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        for i in range(NUM_STAGES):
            first = sum(depths[:i])
            self.stages.append(nn.Sequential(*[
                ConvNeXtBlock(dims[i], rates[first + j], layer_scale_init_value, use_grn,
                              cpu_kernels=cpu_kernels, eps=eps, dilation=dilations[i])
                for j in range(depths[i])
            ]))
        # One output norm per stage; all four exist so that checkpoints always match.
        for i in range(NUM_STAGES):
            self.add_module(f'norm{i}', LayerNorm2d(dims[i], eps=eps))

        self.cpu_kernels = cpu_kernels
        self._freeze_stages()

    def set_cpu_kernels(self, enabled: bool) -> 'ConvNeXtBackbone':
        """Switch the CPU-only kernels on or off (off: the path CUDA runs, on any device)."""
        self.cpu_kernels = enabled
        for stage in self.stages:
            for block in stage:
                block.cpu_kernels = enabled
        return self

    @property
    def out_channels(self) -> List[int]:
        """Channels of each returned feature map (to set a neck's ``in_channels``)."""
        return [self.dims[i] for i in self.out_indices]

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: List[nn.Module] = [self.downsample_layers[0]]
        for i in range(self.frozen_stages):
            if i > 0:
                modules.append(self.downsample_layers[i])
            modules.append(self.stages[i])
        return modules

    def _unused_modules(self) -> List[nn.Module]:
        """Parts no output depends on: later stages and the norms of unreturned stages."""
        last = max(self.out_indices)
        modules: List[nn.Module] = [getattr(self, f'norm{i}') for i in range(NUM_STAGES)
                                    if i not in self.out_indices]
        for i in range(last + 1, NUM_STAGES):
            modules += [self.downsample_layers[i], self.stages[i]]
        return modules

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        for module in self._unused_modules():
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ConvNeXtBackbone':
        """Switch mode, keeping frozen parts in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def init_weights(self) -> None:
        """Initialise, then load a ``Pretrained`` checkpoint with the layout-aware loader.

        mmengine's ``PretrainedInit`` only unwraps ``state_dict`` and loads non-strictly;
        the project's loader takes every published layout and refuses a wrong arch.
        """
        configs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [c for c in configs if c and c.get('type') == 'Pretrained']
        if not pretrained:
            super().init_weights()
            return
        if len(pretrained) > 1:
            raise ValueError(f'init_cfg has {len(pretrained)} Pretrained entries; give one.')
        if 'checkpoint' not in pretrained[0]:
            raise ValueError("init_cfg=dict(type='Pretrained') needs checkpoint=PATH.")
        unknown = sorted(set(pretrained[0]) - PRETRAINED_KEYS)
        if unknown:
            raise ValueError(f'init_cfg Pretrained: unknown key(s) {unknown}. The backbone '
                             f'honours {sorted(PRETRAINED_KEYS)}: checkpoint (path or URL), '
                             f'weights (a weight set such as model_ema), prefix (load only '
                             f'the tensors under it), map_location.')
        others = [c for c in configs if c not in pretrained]
        full_cfg = self.init_cfg
        self.init_cfg = others or DEFAULT_INIT_CFG
        try:
            super().init_weights()
        finally:
            self.init_cfg = full_cfg
        options = {k: v for k, v in pretrained[0].items() if k not in ('type', 'checkpoint')}
        load_pretrained(self, pretrained[0]['checkpoint'], **options)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f'ConvNeXtBackbone expects a 4-D (N, {self.in_channels}, H, W) '
                             f'tensor, got shape {tuple(x.shape)}.')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'ConvNeXtBackbone expects {self.in_channels} input channels '
                             f'(N, {self.in_channels}, H, W), got shape {tuple(x.shape)}.')
        if x.shape[2] < MIN_INPUT_SIZE or x.shape[3] < MIN_INPUT_SIZE:
            raise ValueError(f'ConvNeXtBackbone downsamples by {MIN_INPUT_SIZE}: H and W must '
                             f'be >= {MIN_INPUT_SIZE}, got shape {tuple(x.shape)}.')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the normed feature maps of ``out_indices`` (strides 4, 8, 16, 32)."""
        self._check_input(x)
        x = x.contiguous(memory_format=torch.channels_last)
        outs = []
        last = self.out_indices[-1]
        for i in range(last + 1):
            x = self.downsample_layers[i](x)
            stage = self.stages[i]
            if self.with_cp and self.training and torch.is_grad_enabled() and (
                    x.requires_grad or any(p.requires_grad for p in stage.parameters())):
                for block in stage:
                    x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = stage(x)
            if i in self.out_indices:
                # Plain NCHW memory for consumers: mmcv's CPU RoIAlign, for one, reads
                # channels-last input wrongly without an error.
                outs.append(getattr(self, f'norm{i}')(x).contiguous())
        return tuple(outs)
