"""How α becomes the mixing weights of every edge: softmax (DARTS) or a Dirichlet sample (DrNAS).

One α of shape (6, 5) is shared by all cells, so the weights are computed once per forward and handed to every cell.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, kl_divergence

MIXINGS = ("softmax", "dirichlet")


class Mixing(ABC):
    """Maps architecture parameters (edges × ops) to mixing weights on the simplex of each edge."""

    name: str

    @abstractmethod
    def weights(self, alpha: torch.Tensor, *, sample: bool) -> torch.Tensor:
        """Mixing weights for one forward; `sample` draws stochastic weights where the mixing is stochastic."""

    @abstractmethod
    def probabilities(self, alpha: torch.Tensor) -> torch.Tensor:
        """Deterministic per-edge op probabilities, for logging and evaluation."""

    def regularizer(self, alpha: torch.Tensor) -> torch.Tensor | None:
        """A term added to the α loss, or None."""
        return None


class SoftmaxMixing(Mixing):
    """DARTS: softmax of α over the ops of each edge."""

    name = "softmax"

    def weights(self, alpha: torch.Tensor, *, sample: bool) -> torch.Tensor:
        return F.softmax(alpha, dim=-1)

    def probabilities(self, alpha: torch.Tensor) -> torch.Tensor:
        return F.softmax(alpha, dim=-1)


class DirichletMixing(Mixing):
    """DrNAS: a reparameterised Dirichlet sample with concentration β = ELU(θ) + 1, one per forward.

    The distributions are built without argument validation: β > 0 by construction, and the check would read the
    concentration back to the host (a synchronisation of the device on every forward).

    `kl_weight` > 0 adds ``kl_weight · Σ_edges KL(Dir(β) ‖ Dir(1))`` to the α loss; with 0 the only regulariser is the
    L2 penalty of the α optimizer's weight decay (DrNAS' default).
    """

    name = "dirichlet"

    def __init__(self, kl_weight: float = 0.0):
        if kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
        self.kl_weight = kl_weight

    @staticmethod
    def concentration(alpha: torch.Tensor) -> torch.Tensor:
        """β = ELU(θ) + 1 (positive for every θ)."""
        return F.elu(alpha) + 1.0

    def weights(self, alpha: torch.Tensor, *, sample: bool) -> torch.Tensor:
        beta = self.concentration(alpha)
        if sample:
            return Dirichlet(beta, validate_args=False).rsample()
        return beta / beta.sum(dim=-1, keepdim=True)

    def probabilities(self, alpha: torch.Tensor) -> torch.Tensor:
        beta = self.concentration(alpha)
        return beta / beta.sum(dim=-1, keepdim=True)

    def regularizer(self, alpha: torch.Tensor) -> torch.Tensor | None:
        if self.kl_weight == 0:
            return None
        beta = self.concentration(alpha)
        prior = Dirichlet(torch.ones_like(beta), validate_args=False)
        return self.kl_weight * kl_divergence(Dirichlet(beta, validate_args=False), prior).sum()


def build_mixing(name: str, *, kl_weight: float = 0.0) -> Mixing:
    """The mixing called `name` ('softmax' or 'dirichlet')."""
    if name == "softmax":
        return SoftmaxMixing()
    if name == "dirichlet":
        return DirichletMixing(kl_weight=kl_weight)
    raise ValueError(f"unknown mixing {name!r}; choose one of {', '.join(MIXINGS)}")


def alpha_entropy(probabilities: torch.Tensor) -> float:
    """Mean over edges of the entropy (nats) of each edge's op distribution; log(5) ≈ 1.609 is uniform."""
    p = probabilities.detach().clamp_min(1e-12)
    return float(-(p * p.log()).sum(dim=-1).mean())
