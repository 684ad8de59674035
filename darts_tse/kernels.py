"""Fused kernels the search cells of both spaces share (each space imports this, never the other space)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scaled_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """``scale · bn(x)`` for an ``affine=False`` BatchNorm in one kernel (the mixing weight folded in as BN's weight),
    with the module's own running-statistics logic; `scale` None is plain ``bn(x)``."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    return F.batch_norm(x, bn.running_mean if track else None, bn.running_var if track else None, scale, None,
                        use_batch_stats, factor, bn.eps)
