"""The block's CPU fp32 path, with the CPU-only kernels that make it faster there, and the
bf16 inference variant of the portable path (:func:`norm_linear_gelu_bf16`).

:func:`block_forward` computes a :class:`~.convnext.ConvNeXtBlock` on the CPU in fp32,
eagerly (no autocast, no tracing, ``torch.compile`` or export), with the block's
``cpu_kernels`` on; :func:`applies` says when. Every other case takes the block's portable
path, which reads like the official block. The parameters stay those of ``nn.Conv2d`` /
``nn.Linear`` (official names and shapes); only how the work is done changes, exact to fp32
rounding:

- layer scale folded into ``pwconv2`` (one pass less over each block's output);
- pointwise layers as 1x1 convolutions: oneDNN's 1x1 convolution beats the GEMM behind
  ``nn.Linear`` on the NHWC view (up to 2x forward plus backward at stride 4). Its
  backward is done in parts: the weight gradient as one GEMM on the NHWC views, the input
  gradient as a 1x1 convolution (few channels) or a GEMM (many channels);
- inference: oneDNN fuses GELU and the residual add into the 1x1 convolutions;
- depthwise 7x7: oneDNN's weight gradient is 2-30x slower than the same sum written as a
  convolution of the padded input with the output gradient as a (H x W) kernel, one
  group per channel. The input gradient is the forward convolution with the flipped
  kernel. :func:`depthwise_conv` is also what the portable path calls: its hand-written
  backward serves CPU training in bf16 and under ``torch.compile`` too (same forward).

Measured on this project's 2-core CPUs (ConvNeXt-T shapes, channels-last, fp32).
"""
import functools
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from .layers import drop_path

#: Above this many weights, the input gradient of a 1x1 convolution is faster as a GEMM.
_GEMM_INPUT_GRAD_MIN_WEIGHTS = 1 << 20


class _PointwiseConv(torch.autograd.Function):

    @staticmethod
    @torch.amp.custom_fwd(device_type='cpu')
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight[:, :, None, None], bias)

    @staticmethod
    @torch.amp.custom_bwd(device_type='cpu')
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        n, c_in, h, w = x.shape
        grad = grad.contiguous(memory_format=torch.channels_last)
        grad_rows = grad.permute(0, 2, 3, 1).reshape(n * h * w, -1)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            if weight.numel() < _GEMM_INPUT_GRAD_MIN_WEIGHTS:
                grad_x = F.conv2d(grad, weight.t()[:, :, None, None])
            else:
                grad_x = torch.mm(grad_rows, weight).view(n, h, w, c_in).permute(0, 3, 1, 2)
        if ctx.needs_input_grad[1]:
            x_rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c_in)
            grad_w = torch.mm(grad_rows.t(), x_rows)
        if ctx.needs_input_grad[2]:
            grad_b = grad_rows.sum(0)
        return grad_x, grad_w, grad_b


class _DepthwiseConv(torch.autograd.Function):

    @staticmethod
    @torch.amp.custom_fwd(device_type='cpu')
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2, groups=x.shape[1])

    @staticmethod
    @torch.amp.custom_bwd(device_type='cpu')
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        channels, pad = x.shape[1], weight.shape[-1] // 2
        grad = grad.contiguous(memory_format=torch.channels_last)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, weight.flip(-1, -2), padding=pad, groups=channels)
        if ctx.needs_input_grad[1]:
            padded = F.pad(x, (pad, pad, pad, pad))
            for i in range(x.shape[0]):  # dW[c] = sum over pixels of x_pad[c] * grad[c]
                part = F.conv2d(padded[i:i + 1], grad[i:i + 1].transpose(0, 1),
                                groups=channels).float()  # samples summed in fp32
                grad_w = part if grad_w is None else grad_w + part
            grad_w = grad_w.view(weight.shape).to(weight.dtype)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3), dtype=torch.float32).to(weight.dtype)
        return grad_x, grad_w, grad_b


def exact_fp32_cpu(x: Tensor, weight: Tensor) -> bool:
    """Whether CPU tricks are exact to fp32 rounding here: CPU, fp32, no CPU autocast."""
    return (x.device.type == 'cpu' and x.dtype == torch.float32
            and weight.dtype == torch.float32 and not torch.is_autocast_enabled('cpu'))


def eager() -> bool:
    """Not inside tracing, ``torch.compile`` or export: those see the portable path, which
    they optimise (or export) themselves."""
    return not torch.jit.is_tracing() and not torch.compiler.is_compiling()


def applies(x: Tensor, weight: Tensor, enabled: bool) -> bool:
    """Whether a block takes the CPU fp32 path: ``cpu_kernels`` on, exact, and eager."""
    return enabled and exact_fp32_cpu(x, weight) and eager()


def bf16_cpu(x: Tensor, weight: Tensor) -> bool:
    """Whether the convolutions run in bf16 on the CPU: bf16 autocast or bf16 tensors."""
    if x.device.type != 'cpu':
        return False
    if torch.is_autocast_enabled('cpu'):
        return torch.get_autocast_dtype('cpu') == torch.bfloat16
    return x.dtype == weight.dtype == torch.bfloat16


def depthwise_conv(x: Tensor, weight: Tensor, bias: Tensor, cpu_backward: bool,
                   dilation: int = 1) -> Tensor:
    """Depthwise ``k x k`` convolution with 'same' padding (``weight``: ``(C, 1, k, k)``).

    With ``cpu_backward``, CPU training in fp32 and in bf16 gets the hand-written backward
    (in bf16 5-25x faster than ATen's channels-last backward: the same bf16 convolutions
    as the official formulation's, with the weight and bias gradients summed in fp32),
    eager or compiled (dynamo traces it into the graph; ATen's channels-last weight
    gradient is the slow part there too). Never under jit tracing or export, which see no
    backward. Everywhere else: ``F.conv2d``, as CUDA runs it.
    """
    if dilation != 1:  # a dilated backbone (output_stride 16 / 8): ATen's backward
        return F.conv2d(x, weight, bias, padding=dilation * (weight.shape[-1] // 2),
                        dilation=dilation, groups=x.shape[1])
    if (cpu_backward and torch.is_grad_enabled() and not torch.jit.is_tracing()
            and (exact_fp32_cpu(x, weight) or bf16_cpu(x, weight))):
        return _DepthwiseConv.apply(x, weight, bias)
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2, groups=x.shape[1])


# Inference on CPU: oneDNN fuses GELU and the residual add into the 1x1 convolutions
# (the kernels torch.compile uses on CPU), saving two passes over each block's tensors.
# The ops are private: their behaviour changes between releases (torch 2.6 fails on some
# 1x1 maps with "could not create a memory"), so they run only on torch 2.13 and later
# (tested on 2.13 and 2.15), and only after a one-time check against the unfused path in
# this process; where the check fails, inference takes the unfused path with a warning.
_TORCH = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])
_ONEDNN_FUSION = (_TORCH >= (2, 13) and torch.backends.mkldnn.is_available()
                  and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


def _fused_gelu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    return torch.ops.mkldnn._convolution_pointwise(
        x, weight[:, :, None, None], bias, [0, 0], [1, 1], [1, 1], 1, 'gelu', [], 'none')


def _fused_add(x: Tensor, weight: Tensor, bias: Tensor, residual: Tensor) -> Tensor:
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, residual, weight[:, :, None, None], bias, [0, 0], [1, 1], [1, 1], 1, 'add',
        None, None, [], None)


def _passes_check(ops: str, path: str, check) -> bool:
    """Run ``check(generator)`` (raises where the fused ops fail or differ from the unfused
    ones) without autograd or autocast, with its own generator so that the caller's random
    state is untouched; a failure is reported once and means "do not use them here"."""
    generator = torch.Generator().manual_seed(0)
    try:
        with torch.no_grad(), torch.autocast('cpu', enabled=False):
            check(generator)
    except Exception as err:  # private ops: any failure means "do not use them here"
        warnings.warn(f'{ops} of torch {torch.__version__} failed its check '
                      f'({str(err).splitlines()[0] if str(err) else type(err).__name__}); '
                      f'{path} takes the unfused path (same results, slower).')
        return False
    return True


def _check_fused_convolutions(generator: torch.Generator) -> None:
    for size in (1, 5):  # a 1x1 map included
        x, residual = (torch.randn(2, c, size, size, generator=generator)
                       .contiguous(memory_format=torch.channels_last) for c in (16, 8))
        weight, bias = (torch.randn(*shape, generator=generator) for shape in ((8, 16), (8,)))
        plain = F.conv2d(x, weight[:, :, None, None], bias)
        if not (torch.allclose(_fused_gelu(x, weight, bias), F.gelu(plain),
                               atol=1e-4, rtol=1e-4)
                and torch.allclose(_fused_add(x, weight, bias, residual), residual + plain,
                                   atol=1e-4, rtol=1e-4)):
            raise RuntimeError('results differ from the unfused convolution')


def _check_fused_linear_gelu(generator: torch.Generator) -> None:
    x = torch.randn(2, 3, 5, 16, generator=generator).bfloat16()
    weight, bias = (torch.randn(*shape, generator=generator).bfloat16()
                    for shape in ((24, 16), (24,)))
    fused = _fused_linear_gelu(x, weight, bias).float()
    plain = F.gelu(F.linear(x, weight, bias).float())
    if fused.shape != plain.shape or not torch.allclose(fused, plain, atol=0.05, rtol=0.02):
        raise RuntimeError('results differ from the unfused GEMM')


@functools.lru_cache(maxsize=None)
def fusion_works() -> bool:
    """Whether this torch's fused fp32 1x1 convolutions (+GELU, +add) give the unfused
    results (checked once per process)."""
    return _ONEDNN_FUSION and _passes_check('oneDNN fused convolution', 'CPU inference',
                                            _check_fused_convolutions)


@functools.lru_cache(maxsize=None)
def linear_gelu_works() -> bool:
    """Whether oneDNN's bf16 GEMM with a fused GELU runs here and gives the unfused bf16
    results (checked once per process). CPUs without native bf16 answer False without a
    warning: bf16 is emulated there and the unfused path is the one to use."""
    return (_ONEDNN_FUSION and hasattr(torch.ops.mkldnn, '_linear_pointwise')
            and torch.ops.mkldnn._is_mkldnn_bf16_supported()
            and _passes_check('oneDNN fused bf16 linear + GELU', 'bf16 CPU inference',
                              _check_fused_linear_gelu))


def _fused_linear_gelu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'gelu', [], 'none')


def bf16_inference(x: Tensor, weight: Tensor, enabled: bool) -> bool:
    """Whether a block runs inference under bf16 autocast on the CPU, eagerly, with
    ``cpu_kernels`` on: then :func:`norm_linear_gelu_bf16` replaces the portable path's
    LayerNorm -> Linear -> GELU."""
    return (enabled and x.device.type == 'cpu' and weight.dtype == torch.float32
            and not torch.is_grad_enabled() and torch.is_autocast_enabled('cpu')
            and torch.get_autocast_dtype('cpu') == torch.bfloat16 and eager())


def norm_linear_gelu_bf16(x: Tensor, norm: torch.nn.LayerNorm, linear: torch.nn.Linear) -> Tensor:
    """``gelu(linear(norm(x)))`` for bf16 CPU inference (``x``: NHWC), in the portable
    path's precision with two passes less over the tensors: the LayerNorm, computed in
    fp32, writes its result in bf16 (the portable path writes fp32, which autocast then
    casts to bf16 for the GEMM: the same numbers), and oneDNN applies GELU to the GEMM's
    fp32 result before rounding to bf16 (the portable path rounds, then applies GELU in
    bf16)."""
    with torch.autocast('cpu', enabled=False):
        y = F.layer_norm(x.to(torch.bfloat16), norm.normalized_shape, norm.weight.float(),
                         norm.bias.float(), norm.eps)
        weight, bias = linear.weight.to(torch.bfloat16), linear.bias.to(torch.bfloat16)
        if linear_gelu_works():
            return _fused_linear_gelu(y, weight, bias)
        return F.gelu(F.linear(y, weight, bias))


def _fusable(x: Tensor, *more: Tensor) -> bool:
    return (not torch.is_grad_enabled()
            and all(t.is_contiguous(memory_format=torch.channels_last) for t in (x, *more))
            and fusion_works())


def _gelu(x: Tensor) -> Tensor:
    """Exact GELU, on the NHWC view of a channels-last tensor (same numbers, same memory).

    ATen's CPU GELU runs 2-3x slower, forward and backward, on a channels-last 4-D tensor
    than on the same memory seen as a contiguous NHWC one (measured with its AVX2 and
    AVX-512 kernels; the other elementwise ops do not show it).
    """
    if (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last)):
        return F.gelu(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return F.gelu(x)


def _pointwise_conv(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """A Linear layer's ``(C_out, C_in)`` weight applied to ``(N, C_in, H, W)``."""
    if torch.is_grad_enabled():
        return _PointwiseConv.apply(x, weight, bias)
    return F.conv2d(x, weight[:, :, None, None], bias)  # oneDNN's 1x1 convolution


def _pointwise_conv_gelu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``gelu(pointwise_conv(x))`` (exact, erf-based GELU)."""
    if _fusable(x):
        return _fused_gelu(x, weight, bias)
    return _gelu(_pointwise_conv(x, weight, bias))


def _pointwise_conv_add(x: Tensor, weight: Tensor, bias: Tensor, residual: Tensor) -> Tensor:
    """``residual + pointwise_conv(x)``."""
    if _fusable(x, residual):
        return _fused_add(x, weight, bias, residual)
    return residual + _pointwise_conv(x, weight, bias)


def block_forward(block, x: Tensor) -> Tensor:
    """``block(x)`` on the CPU in fp32 (where :func:`applies`), on channels-last tensors.

    The same steps as the portable path, with layer scale folded into ``pwconv2`` (exact in
    fp32; in fp16 a folded ``weight * gamma`` would underflow, hence CPU fp32 only).
    """
    y = depthwise_conv(x, block.dwconv.weight, block.dwconv.bias, cpu_backward=True,
                       dilation=block.dwconv.dilation[0])
    y = block.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # NHWC views: free
    y = _pointwise_conv_gelu(y, block.pwconv1.weight, block.pwconv1.bias)
    if block.grn is not None:
        y = block.grn(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    weight, bias = block.pwconv2.weight, block.pwconv2.bias
    if block.gamma is not None:
        weight, bias = weight * block.gamma[:, None], bias * block.gamma
    if block.training and block.drop_path_rate > 0:
        return x + drop_path(_pointwise_conv(y, weight, bias), block.drop_path_rate, True)
    return _pointwise_conv_add(y, weight, bias, residual=x)
