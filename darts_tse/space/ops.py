"""NB201 building blocks outside the search cell: ReLU-Conv-BN, the ResNet reduction block, the stem."""
from __future__ import annotations

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv (no bias) → BatchNorm, as in NB201's `nor_conv_*` and ResNet blocks."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *, affine: bool, track_running_stats: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class ResNetBasicBlock(nn.Module):
    """NB201's reduction block: two 3×3 ReLU-Conv-BN (the first with stride 2) plus an avg-pool + 1×1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, affine=True, track_running_stats=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine=True, track_running_stats=True)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))
