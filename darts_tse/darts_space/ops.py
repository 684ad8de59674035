"""The DARTS-space ops, shared by the search supernet and the stand-alone evaluation network.

Facts from quark0/darts ``cnn/operations.py`` and ``cnn/model_search.py`` (our own code):

- ``sep_conv_k``: two stacked ReLU → depthwise k×k → pointwise 1×1 → BN blocks; only the first depthwise conv is strided.
- ``dil_conv_k``: one ReLU → depthwise k×k with dilation 2 → pointwise 1×1 → BN block.
- ``max_pool_3x3`` / ``avg_pool_3x3`` (average excludes padding); the search network follows each pool with a
  BN(affine=False) (``pool_bn=True``), the evaluation network does not.
- ``skip_connect``: identity, or a :class:`FactorizedReduce` when strided; ``none``: :class:`Zero`.

``affine`` is False while searching and True in the evaluation network; ``track_running_stats`` is passed to every
BN (the search supernet may use batch statistics only).

The depthwise convolutions are :class:`DepthwiseConv2d` (an ``nn.Conv2d``, same parameters and state dict): on CPU its
backward is computed with two ordinary convolutions (:class:`_DepthwiseConvFn`) instead of oneDNN's depthwise backward,
which on one CPU thread costs 10–25× its forward (measured at 16 channels, 32×32, batch 8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .genotype import DARTS_OPS


def _bn(channels: int, affine: bool, track_running_stats: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, affine=affine, track_running_stats=track_running_stats)


class _DepthwiseConvFn(torch.autograd.Function):
    """``conv2d(x, w, stride, padding, dilation, groups=C)`` with one filter per channel and a fast CPU backward:

    * ∂L/∂x: for stride 1 (same-size output) the convolution of ∂L/∂y with the flipped filters, else the transposed
      convolution;
    * ∂L/∂w: one grouped convolution with the batch as channels, ``x`` (1, C·B, H, W) against ∂L/∂y (C·B, 1, Ho, Wo)
      (stride and dilation swap roles), summed over the batch.

    Both are built from differentiable operations, so double backward (create_graph=True) works.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, dilation: int) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation)
        return F.conv2d(x, w, None, stride, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        s, p, d = ctx.conf
        b, c, h, wd = x.shape
        k = w.shape[-1]
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            if s == 1 and 2 * p == d * (k - 1):
                grad_x = F.conv2d(grad, w.flip(2, 3), None, 1, p, d, c)
            else:
                pad_h = h + 2 * p - d * (k - 1) - 1 - s * (grad.shape[2] - 1)
                pad_w = wd + 2 * p - d * (k - 1) - 1 - s * (grad.shape[3] - 1)
                grad_x = F.conv_transpose2d(grad, w, None, s, p, (pad_h, pad_w), c, d)
        if ctx.needs_input_grad[1]:
            inputs = x.transpose(0, 1).reshape(1, c * b, h, wd)
            filters = grad.transpose(0, 1).reshape(c * b, 1, grad.shape[2], grad.shape[3])
            full = F.conv2d(inputs, filters, None, d, p, s, c * b)[0, :, :k, :k]
            grad_w = full.reshape(c, b, k, k).sum(1).unsqueeze(1)
        return grad_x, grad_w, None, None, None


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise k×k convolution (one filter per channel, no bias): an ``nn.Conv2d`` whose float CPU backward is
    :class:`_DepthwiseConvFn`'s (on other devices and under autocast, the native one)."""

    def __init__(self, channels: int, kernel: int, stride: int, padding: int, dilation: int = 1):
        super().__init__(channels, channels, kernel, stride=stride, padding=padding, dilation=dilation, groups=channels,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not torch.is_grad_enabled() or torch.is_autocast_enabled("cpu"):
            return super().forward(x)  # elsewhere, without autograd, or under autocast (bf16): the native conv
        return _DepthwiseConvFn.apply(x, self.weight, self.stride[0], self.padding[0], self.dilation[0])


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv (no bias) → BN: DARTS' cell preprocessing (1×1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            _bn(c_out, affine, track_running_stats),
        )


class DilConv(nn.Sequential):
    """ReLU → depthwise k×k (dilation ``dilation``, stride ``stride``) → pointwise 1×1 → BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, *,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            DepthwiseConv2d(c_in, kernel, stride, padding, dilation),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            _bn(c_out, affine, track_running_stats),
        )


class SepConv(nn.Sequential):
    """Two stacked ReLU → depthwise k×k → pointwise 1×1 → BN blocks; only the first depthwise conv is strided."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine=affine, track_running_stats=track_running_stats),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) input."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


class FactorizedReduce(nn.Module):
    """Halve H and W: ReLU, then two 1×1 stride-2 convs (the second on the input shifted by one pixel), concatenated
    along channels, then BN. ``c_out`` must be even; H and W must be even (as in DARTS)."""

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(c_out, affine, track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def pool(kind: str, stride: int) -> nn.Module:
    """A 3×3 max or average pool (the average excludes padding, as DARTS')."""
    if kind == "max":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def make_op(name: str, channels: int, stride: int, *, affine: bool, pool_bn: bool = False,
            track_running_stats: bool = True) -> nn.Module:
    """Build DARTS op ``name`` on ``channels`` channels (in = out) with ``stride`` 1 or 2.

    ``pool_bn`` appends a BN(affine=False) to the pools (the search network's convention).
    """
    if name not in DARTS_OPS:
        raise ValueError(f"unknown DARTS op {name!r}; the ops are {', '.join(DARTS_OPS)}")
    if stride not in (1, 2):
        raise ValueError(f"a DARTS op has stride 1 or 2, got {stride}")
    bn = {"affine": affine, "track_running_stats": track_running_stats}
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        op = pool(name[:3], stride)
        return nn.Sequential(op, _bn(channels, False, track_running_stats)) if pool_bn else op
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, **bn)
    kernel = int(name[-1])
    if name.startswith("sep_conv"):
        return SepConv(channels, channels, kernel, stride, kernel // 2, **bn)
    return DilConv(channels, channels, kernel, stride, 2 * (kernel // 2), 2, **bn)  # dil_conv_k
