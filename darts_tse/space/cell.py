"""The NB201 search cell with a mixed op on each of its six edges.

Computed per source node rather than per edge: every out-edge of node i reads the same input, so ReLU(node i),
avg-pool(node i) and, per conv type, the convolutions of all of node i's out-edges are one operation each
(the convolution weights of the out-edges are stacked along the output channels; BatchNorm is per channel,
so one BN over the stacked channels equals one BN per edge). The `none` op contributes exactly zero and
costs nothing. The maths equals the straightforward per-edge implementation (see tests/test_supernet.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .genotype import EDGES, NUM_NODES, OPS

SKIP, CONV_1X1, CONV_3X3, AVG_POOL = (OPS.index(name) for name in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))


def out_edges(source: int) -> list[tuple[int, int]]:
    """(edge index, target node) of every edge leaving `source`, in canonical edge order."""
    return [(edge, target) for edge, (target, src) in enumerate(EDGES) if src == source]


class SearchCell(nn.Module):
    """Mixed-op NB201 cell at C channels, stride 1. BN has affine=False; `track_running_stats` is a flag."""

    def __init__(self, C: int, *, track_running_stats: bool = False):
        super().__init__()
        self.C = C
        self.conv1x1 = nn.ModuleList()
        self.conv3x3 = nn.ModuleList()
        self.bn1x1 = nn.ModuleList()
        self.bn3x3 = nn.ModuleList()
        for source in range(NUM_NODES - 1):
            width = len(out_edges(source)) * C
            self.conv1x1.append(nn.Conv2d(C, width, 1, bias=False))
            self.conv3x3.append(nn.Conv2d(C, width, 3, padding=1, bias=False))
            self.bn1x1.append(nn.BatchNorm2d(width, affine=False, track_running_stats=track_running_stats))
            self.bn3x3.append(nn.BatchNorm2d(width, affine=False, track_running_stats=track_running_stats))

    def forward(self, x: torch.Tensor, edge_weights: list[list[torch.Tensor]]) -> torch.Tensor:
        """`edge_weights[e][op]` is the 0-dim mixing weight of op `op` on edge `e`."""
        nodes = [x]
        partial: dict[int, torch.Tensor] = {}
        for source in range(NUM_NODES - 1):
            h = nodes[source]
            relu = F.relu(h)
            n_out = len(out_edges(source))
            conv1 = self.bn1x1[source](self.conv1x1[source](relu)).chunk(n_out, dim=1)
            conv3 = self.bn3x3[source](self.conv3x3[source](relu)).chunk(n_out, dim=1)
            pooled = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
            for k, (edge, target) in enumerate(out_edges(source)):
                w = edge_weights[edge]
                acc = partial.get(target)
                acc = h * w[SKIP] if acc is None else torch.addcmul(acc, h, w[SKIP])
                acc = torch.addcmul(acc, conv1[k], w[CONV_1X1])
                acc = torch.addcmul(acc, conv3[k], w[CONV_3X3])
                partial[target] = torch.addcmul(acc, pooled, w[AVG_POOL])
            nodes.append(partial.pop(source + 1))
        return nodes[-1]
