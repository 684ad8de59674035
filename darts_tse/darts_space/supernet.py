"""The DARTS-space supernet: stem, ``layers`` search cells (reductions at layers//3 and 2·layers//3), a linear head.

One α of shape (2, 14, n_ops) is an ``nn.Parameter``: row 0 is the normal cells' α and row 1 the reduction cells'
(``alpha_normal`` and ``alpha_reduce`` are views). Every cell of a type shares its row, so a stochastic mixing
(DrNAS' Dirichlet) draws one sample per forward per (cell type, edge). Weights and α are kept apart by identity
(:meth:`weight_parameters`, :meth:`arch_parameters`). At C = 16, 8 layers and 10 classes the network has DARTS'
1,930,618 weights (DARTS logs "param size = 1.930618MB"; α excluded).

The fast-path switches are NB201SearchNetwork's: ``channels_last``, ``autocast_dtype`` (bf16 autocast around the
forward; mixing weights computed before it in float32, logits returned as float32) and :meth:`compile_mixed_forward`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..mixing import Mixing
from .cell import MixWeights, SearchCell
from .genotype import CELL_TYPES, DARTS_OPS, NUM_EDGES, NUM_NODES, DartsGenotype, GenotypeError, _check_ops


class DartsSearchNetwork(nn.Module):
    """DARTS/PC-DARTS/DrNAS supernet of the DARTS space; ``mixing`` turns α into edge weights (softmax or Dirichlet).

    ``partial_channels=K`` (PC-DARTS) lets each mixed op see C/K channels of its input; K must divide C.
    """

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        *,
        mixing: Mixing,
        ops: Sequence[str] = DARTS_OPS,
        partial_channels: int = 1,
        in_channels: int = 3,
        stem_multiplier: int = 3,
        alpha_init_std: float = 1e-3,
        channels_last: bool = False,
        autocast_dtype: torch.dtype | None = None,
        track_running_stats: bool = False,
    ):
        super().__init__()
        if C < 1 or layers < 1 or num_classes < 1:
            raise ValueError(f"C, layers and num_classes must be >= 1, got C={C}, layers={layers}, num_classes={num_classes}")
        if partial_channels < 1 or C % partial_channels:
            raise ValueError(f"--partial-channels K={partial_channels} must divide C={C} (e.g. K in "
                             f"{[k for k in range(1, C + 1) if C % k == 0]})")
        if C % 2:
            raise ValueError(f"C must be even (FactorizedReduce halves the channels), got C={C}")
        try:
            self.ops = tuple(_check_ops(ops))
        except GenotypeError as exc:
            raise ValueError(str(exc)) from None
        self.C, self.layers, self.num_classes, self.partial_channels = C, layers, num_classes, partial_channels
        self.mixing = mixing
        self.alpha = nn.Parameter(alpha_init_std * torch.randn(len(CELL_TYPES), NUM_EDGES, len(self.ops)))
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in self.reduction_layers(layers)
            if reduction:
                c_curr *= 2
            self.cells.append(SearchCell(c_prev_prev, c_prev, c_curr, reduction=reduction, reduction_prev=reduction_prev,
                                         ops=self.ops, partial_channels=partial_channels,
                                         track_running_stats=track_running_stats))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, NUM_NODES * c_curr
        self.classifier = nn.Linear(c_prev, num_classes)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.autocast_dtype = autocast_dtype
        self._mixed = self._mixed_forward  # the eager mixed forward, or its compiled version

    @staticmethod
    def reduction_layers(layers: int) -> tuple[int, ...]:
        """The indices of the reduction cells: layers//3 and 2·layers//3 (DARTS)."""
        return tuple(sorted({layers // 3, 2 * layers // 3}))

    def compile_mixed_forward(self, mode: str | None = None, *, backend: str = "inductor") -> None:
        """Use ``torch.compile(mode=mode, backend=backend)`` for the mixed forward from now on (static shapes); the
        discrete-path forward stays eager."""
        self._mixed = torch.compile(self._mixed_forward, mode=mode, backend=backend, dynamic=False)

    # ---- parameter groups --------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters: the one α (2, 14, n_ops)."""
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every trainable tensor except α."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    @property
    def alpha_normal(self) -> torch.Tensor:
        """The normal cells' α (14, n_ops), a view of row 0."""
        return self.alpha[0]

    @property
    def alpha_reduce(self) -> torch.Tensor:
        """The reduction cells' α (14, n_ops), a view of row 1."""
        return self.alpha[1]

    # ---- architecture views ------------------------------------------------------------------------------
    def mixing_weights(self) -> torch.Tensor:
        """Mixing weights shaped like α: a fresh sample in training mode for stochastic mixings, else the probabilities."""
        return self.mixing.weights(self.alpha, sample=self.training)

    def probabilities(self) -> torch.Tensor:
        """Deterministic per-edge op probabilities (2, 14, n_ops), detached."""
        with torch.no_grad():
            return self.mixing.probabilities(self.alpha)

    def genotype(self) -> DartsGenotype:
        """DARTS' derivation rule (:meth:`DartsGenotype.from_weights`) on :meth:`probabilities` (softmax(α) for
        DARTS, exactly DARTS' own; the Dirichlet mean for DrNAS)."""
        return DartsGenotype.from_weights(self.probabilities().cpu(), self.ops)

    # ---- forward -----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None, *,
                path: DartsGenotype | None = None) -> torch.Tensor:
        """Logits for images ``x``. ``mix`` (shaped like α) overrides the mixing weights; ``path`` (a
        :class:`DartsGenotype`) runs only that subnetwork's edges with the shared weights (one-shot NAS)."""
        if path is not None:
            self._check_path(path)
        elif mix is None:
            mix = self.mixing_weights()  # before autocast: the mixing weights stay float32
        elif tuple(mix.shape) != tuple(self.alpha.shape):
            raise ValueError(f"mixing weights must have α's shape {tuple(self.alpha.shape)}, got {tuple(mix.shape)}")
        if self.autocast_dtype is None:
            return self._path_forward(x, path) if path is not None else self._mixed(x, mix)
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            logits = self._path_forward(x, path) if path is not None else self._mixed(x, mix)
        return logits.float()

    def _check_path(self, path: DartsGenotype) -> None:
        if not isinstance(path, DartsGenotype):
            raise GenotypeError(f"a DARTS-space path must be a DartsGenotype, got {type(path).__name__}")
        missing = sorted({op for op, _ in path.normal + path.reduce} - set(self.ops))
        if missing:
            raise GenotypeError(f"the path uses {', '.join(missing)}, which this supernet's op list lacks")

    def _head(self, out: torch.Tensor) -> torch.Tensor:
        return self.classifier(out.mean(dim=(2, 3)))  # a mean, not AdaptiveAvgPool2d: deterministic CUDA backward

    def _mixed_forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x.contiguous(memory_format=self.memory_format))
        weights = MixWeights(mix)  # laid out once for every cell
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights)
        return self._head(s1)

    def _path_forward(self, x: torch.Tensor, path: DartsGenotype) -> torch.Tensor:
        s0 = s1 = self.stem(x.contiguous(memory_format=self.memory_format))
        for cell in self.cells:
            s0, s1 = s1, cell.forward_path(s0, s1, path.reduce if cell.reduction else path.normal)
        return self._head(s1)
