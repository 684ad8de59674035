"""DARTS' stand-alone evaluation network ``NetworkCIFAR`` of a genotype (facts from quark0/darts ``cnn/model.py`` and
``cnn/utils.py``, read not copied; the ops are the DARTS space's own, ``darts_space/ops.py``, with affine BN).

Stem 3×3 conv to 3C channels + BN; `layers` cells, the ones at layers//3 and 2·layers//3 reduction cells (channels
doubled); each cell preprocesses its two inputs to C channels (a FactorizedReduce for the first input after a
reduction cell, else ReLU-1×1 conv-BN), runs its 4 nodes (two ops each, summed) and concatenates them; global average
pool and a linear classifier. Drop-path (in training only) drops each non-identity op's output per example with
probability ``drop_path_prob``. The auxiliary head reads the output of cell 2·layers/3 and runs only in training.
"""
from __future__ import annotations

import torch
from torch import nn

from ..darts_space import DartsGenotype
from ..darts_space.ops import FactorizedReduce, ReLUConvBN, make_op

STEM_MULTIPLIER = 3


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero each example's `x` with probability `drop_prob` and scale the kept ones by 1/(1 − drop_prob) (the
    Bernoulli draws come from torch's global generator, which a run's checkpoint saves)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """One cell of NetworkCIFAR: the normal or the reduction cell of the genotype at C channels."""

    def __init__(self, genotype: DartsGenotype, C_prev_prev: int, C_prev: int, C: int, *, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        pairs = genotype.reduce if reduction else genotype.normal
        self.concat = tuple(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.inputs = tuple(source for _, source in pairs)
        self.ops = nn.ModuleList(make_op(name, C, 2 if reduction and source < 2 else 1, affine=True)
                                 for name, source in pairs)
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            summed = None
            for k in (2 * node, 2 * node + 1):
                op = self.ops[k]
                h = op(states[self.inputs[k]])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                summed = h if summed is None else summed + h
            states.append(summed)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' CIFAR auxiliary head, for 8×8 features (32-px images): ReLU, 5×5 average pool stride 3, 1×1 conv to
    128, BN, ReLU, 2×2 conv to 768, BN, ReLU, linear."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
    """DARTS' evaluation network of `genotype` (a :class:`DartsGenotype` or its literal): C = 36 and 20 layers is
    DARTS' CIFAR-10 protocol, C = 32 and 8 layers NB301's. ``forward(x)`` returns the logits; :meth:`forward_train`
    returns ``(logits, auxiliary logits)``, the latter None in evaluation mode or without the head."""

    def __init__(self, genotype: DartsGenotype | str, C: int = 36, layers: int = 20, num_classes: int = 10, *,
                 auxiliary: bool = True):
        super().__init__()
        self.genotype = DartsGenotype.from_str(genotype) if isinstance(genotype, str) else genotype
        self.layers = layers
        self.auxiliary_index = 2 * layers // 3
        self.drop_path_prob = 0.0
        stem_channels = STEM_MULTIPLIER * C
        self.stem = nn.Sequential(nn.Conv2d(3, stem_channels, 3, padding=1, bias=False), nn.BatchNorm2d(stem_channels))
        C_prev_prev, C_prev, C_curr = stem_channels, stem_channels, C
        self.cells = nn.ModuleList()
        reduction_prev, auxiliary_channels = False, None
        for index in range(layers):
            reduction = index in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = DartsCell(self.genotype, C_prev_prev, C_prev, C_curr, reduction=reduction,
                             reduction_prev=reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if index == self.auxiliary_index:
                auxiliary_channels = C_prev
        self.auxiliary = AuxiliaryHead(auxiliary_channels, num_classes) if auxiliary else None
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits or None); drop-path and the auxiliary head act in training mode only."""
        s0 = s1 = self.stem(x)
        auxiliary = None
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if index == self.auxiliary_index and self.auxiliary is not None and self.training:
                auxiliary = self.auxiliary(s1)
        return self.classifier(s1.mean(dim=(2, 3))), auxiliary
