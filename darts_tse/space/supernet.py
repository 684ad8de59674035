"""The NB201 supernet: stem, 3 stages of N search cells joined by ResNet reduction blocks, and a linear head.

One α of shape (6 edges, 5 ops) is an ``nn.Parameter`` shared by every cell. Weights and α are kept apart by
identity through :meth:`weight_parameters` and :meth:`arch_parameters`, never by parameter names.

Two optional fast paths, both off by default (then the forward is exactly the eager float32 one):
``autocast_dtype=torch.bfloat16`` runs every forward under ``torch.autocast`` (the mixing weights are computed
before it, in float32, and the logits are returned as float32, so losses and every gradient stay float32);
:meth:`compile_mixed_forward` replaces the mixed forward (not the discrete-path one) by its ``torch.compile``'d
version, backward included (the fused cell's custom autograd function traces into one graph).
"""
from __future__ import annotations

import torch
from torch import nn

from ..mixing import Mixing
from .cell import CellPath, CellWeights, SearchCell
from .genotype import NUM_EDGES, NUM_OPS, Genotype
from .ops import ResNetBasicBlock


class GlobalAveragePool(nn.Module):
    """(B, C, H, W) → (B, C), the mean over H and W: what ``AdaptiveAvgPool2d(1)`` + ``Flatten`` compute, with a
    backward that has a deterministic CUDA implementation (the adaptive pool's has none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


# torch releases (major.minor) on which perf.compile_check's test (tests/test_fast_paths.py: one graph, compiled
# gradients of α and the stem equal eager, backends eager and aot_eager, fullgraph, both memory layouts) has been seen
# to pass; --compile refuses any other. docs/benchmarks.md says where each was checked.
COMPILE_CHECKED_TORCH = ("2.11", "2.13", "2.14")


def compile_checked(version: str | None = None) -> bool:
    """Whether the compiled supernet's gradients have been checked on torch `version` (default: the running one)."""
    major_minor = ".".join((version or torch.__version__).split("+")[0].split(".")[:2])
    return major_minor in COMPILE_CHECKED_TORCH


class NB201SearchNetwork(nn.Module):
    """DARTS/DrNAS supernet of the NB201 space; `mixing` turns α into edge weights (softmax or Dirichlet)."""

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        *,
        mixing: Mixing,
        track_running_stats: bool = False,
        in_channels: int = 3,
        alpha_init_std: float = 1e-3,
        channels_last: bool = False,
        autocast_dtype: torch.dtype | None = None,
    ):
        super().__init__()
        if C < 1 or N < 1:
            raise ValueError(f"C and N must be >= 1, got C={C}, N={N}")
        self.mixing = mixing
        self.alpha = nn.Parameter(alpha_init_std * torch.randn(NUM_EDGES, NUM_OPS))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        width = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(width, 2 * width))
                width *= 2
            layers.extend(SearchCell(width, track_running_stats=track_running_stats) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True), GlobalAveragePool())
        self.classifier = nn.Linear(width, num_classes)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.autocast_dtype = autocast_dtype
        self._mixed = self._mixed_forward  # the eager mixed forward, or its compiled version

    def compile_mixed_forward(self, mode: str | None = None, *, backend="inductor", fullgraph: bool = False) -> None:
        """Use ``torch.compile(mode=mode, backend=backend, fullgraph=fullgraph)`` for the mixed forward from now on
        (static shapes: a short last batch compiles once more). The discrete-path forward stays eager (a graph per
        path would not pay)."""
        self._mixed = torch.compile(self._mixed_forward, mode=mode, backend=backend, dynamic=False,
                                    fullgraph=fullgraph)

    # ---- parameter groups --------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (α, or θ for DrNAS): the only tensors an architect updates."""
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every trainable tensor except α."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # ---- architecture views ------------------------------------------------------------------------------
    def mixing_weights(self) -> torch.Tensor:
        """Edge weights for one forward: a fresh sample in training mode for stochastic mixings, else the probabilities."""
        return self.mixing.weights(self.alpha, sample=self.training)

    def probabilities(self) -> torch.Tensor:
        """Deterministic per-edge op probabilities (6×5), detached."""
        with torch.no_grad():
            return self.mixing.probabilities(self.alpha)

    def genotype(self) -> Genotype:
        """The derived cell: argmax of α per edge."""
        return Genotype.from_alpha(self.alpha)

    # ---- forward -----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None, *,
                path: Genotype | tuple[int, ...] | None = None) -> torch.Tensor:
        """Logits for images `x`. `mix` (6×5) overrides the mixing weights (used to reuse one sample across passes);
        `path` (a Genotype or one OPS index per edge) runs that one subnetwork instead, with the same weights, in
        every cell (one-shot NAS), and costs what a stand-alone NB201 network of that cell costs."""
        if path is None and mix is None:
            mix = self.mixing_weights()  # before autocast: the mixing weights stay float32
        if self.autocast_dtype is None:
            return self._path_forward(x, path) if path is not None else self._mixed(x, mix)
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            logits = self._path_forward(x, path) if path is not None else self._mixed(x, mix)
        return logits.float()

    def _mixed_forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        out = self.stem(x.contiguous(memory_format=self.memory_format))
        weights = CellWeights(mix)  # laid out once for every cell
        for layer in self.layers:
            out = layer(out, weights) if isinstance(layer, SearchCell) else layer(out)
        return self.classifier(self.head(out))

    def _path_forward(self, x: torch.Tensor, path: Genotype | tuple[int, ...]) -> torch.Tensor:
        out = self.stem(x.contiguous(memory_format=self.memory_format))
        plan = CellPath.of(path.op_indices if isinstance(path, Genotype) else tuple(int(op) for op in path))
        for layer in self.layers:
            out = layer.forward_path(out, plan) if isinstance(layer, SearchCell) else layer(out)
        return self.classifier(self.head(out))
