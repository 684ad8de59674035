"""The NB201 stand-alone network of one cell: NB201's macro skeleton with a fixed cell (xautodl's ``TinyNetwork``
with its ``InferCell``, read for the facts, written here on the project's own ops).

Stem (3×3 conv + BN), three stages of N cells at C, 2C, 4C channels joined by ResNet reduction blocks, BN-ReLU, the
mean over H and W, a linear classifier. A cell has the six edges of its genotype; an edge whose op is ``none`` is not
built (its zero adds nothing), and a node whose every incoming edge is ``none`` is zero.
"""
from __future__ import annotations

import torch
from torch import nn

from ..space import EDGES, Genotype
from ..space.ops import ReLUConvBN, ResNetBasicBlock

NUM_NODES = 4


def nb201_op(name: str, C: int) -> nn.Module:
    """The module of NB201 op `name` on an edge at C channels, stride 1 (``none`` has none: see :class:`NB201Cell`)."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1, affine=True, track_running_stats=True)
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0, affine=True, track_running_stats=True)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"no module for NB201 op {name!r}")


class NB201Cell(nn.Module):
    """One NB201 cell with a fixed op per edge (C channels in and out, stride 1)."""

    def __init__(self, genotype: Genotype, C: int):
        super().__init__()
        self.genotype = genotype
        self.edges: list[tuple[int, int]] = []  # (target, source) of each built op, in canonical edge order
        self.ops = nn.ModuleList()
        for (target, source), name in zip(EDGES, genotype.ops):
            if name != "none":
                self.edges.append((target, source))
                self.ops.append(nb201_op(name, C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NUM_NODES):
            terms = [op(nodes[source]) for (to, source), op in zip(self.edges, self.ops) if to == target]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class NB201Network(nn.Module):
    """The stand-alone NB201 network of `genotype` (a :class:`~darts_tse.space.Genotype` or its NB201 string).

    ``forward(x)`` returns the logits; :meth:`forward_train` returns ``(logits, None)`` (no auxiliary head), the form
    every stand-alone network shares.
    """

    def __init__(self, genotype: Genotype | str, C: int = 16, N: int = 5, num_classes: int = 10):
        super().__init__()
        self.genotype = Genotype.parse(genotype) if isinstance(genotype, str) else genotype
        self.C, self.N, self.num_classes = C, N, num_classes
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        channels = C
        for stage in range(3):
            if stage:
                self.cells.append(ResNetBasicBlock(channels, 2 * channels, stride=2))
                channels *= 2
            self.cells.extend(NB201Cell(self.genotype, channels) for _ in range(N))
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(channels, num_classes)
        self.drop_path_prob = 0.0  # NB201's protocol has no drop-path; kept so that every network has the attribute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): NB201's network has no auxiliary head."""
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature)
        return self.classifier(self.lastact(feature).mean(dim=(2, 3))), None
