"""The layers of a ConvNeXt block besides its convolutions, in every precision."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def autocast_on(x: Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (the meta device, used to infer shapes,
    has no autocast)."""
    return x.device.type != 'meta' and torch.is_autocast_enabled(x.device.type)


def layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    """``norm(x)`` over the last dim, computed in fp32 whenever the input is not fp32.

    Under autocast the result is fp32, as CUDA's autocast (which lists ``layer_norm`` as an
    fp32 op) and the official ``weight * x_hat + bias`` (promoted by the fp32 weight) give;
    CPU autocast would keep an fp16 input in fp16. In fp16 / bf16 modules the result is
    cast back to the module's dtype; computing it in fp32 keeps the parameter gradients
    (sums over every pixel) as accurate as CUDA's fp32-accumulating kernel.
    """
    autocast = autocast_on(x)
    if not autocast and x.dtype == torch.float32:
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    with torch.autocast(x.device.type, enabled=False):
        out = F.layer_norm(x.float(), norm.normalized_shape, norm.weight.float(),
                           norm.bias.float(), norm.eps)
    return out if autocast else out.to(x.dtype)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` tensor.

    Uses ``F.layer_norm`` on the NHWC view: on a channels-last tensor the two permutes
    are free, and unlike a hand-written mean/var it does not overflow in fp16.
    """

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x.permute(0, 2, 3, 1), self).permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalization (ConvNeXt V2) on channels-last ``(N, H, W, C)``.

    The L2 norm over H x W is computed as ``s * ||x / s||`` with ``s`` four times the
    per-channel max of ``|x|`` (a power of two times it, so the result is the official
    ``||x||`` within fp32 rounding). The sum of squares inside is then at most
    ``H * W / 16`` whatever the activations, so a runtime that evaluates the norm as a
    plain fp16 sum of squares (TensorRT fp16, for one) stays below fp16's 65504 for maps
    up to 1,048,064 pixels (the stride-4 map of a 4096x4096 input).
    Parameters keep the official ``(1, 1, 1, C)`` shape so that checkpoints load as they are.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        scale = 4 * x.detach().abs().amax(dim=(1, 2), keepdim=True)
        scale = scale.clamp_min(torch.finfo(x.dtype).tiny)
        gx = torch.linalg.vector_norm(x / scale, ord=2, dim=(1, 2), keepdim=True) * scale
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        return torch.addcmul(self.beta + x, x, self.gamma * nx)


def drop_path(x: Tensor, drop_prob: float, training: bool) -> Tensor:
    """Stochastic depth per sample (written here: mmcv's DropPath would need mmcv)."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class SamePadConv2d(nn.Conv2d):
    """A stride-1 convolution padded to keep the size ('same'), as timm pads: ``(k - 1) *
    dilation`` zeros in all, the odd one after (bottom, right). Explicit padding rather
    than ``padding='same'``, which traces as an op FLOP counters do not count."""

    def forward(self, x: Tensor) -> Tensor:
        total = self.dilation[0] * (self.kernel_size[0] - 1)
        before = total // 2
        return super().forward(F.pad(x, (before, total - before, before, total - before)))
