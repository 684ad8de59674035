"""The baselines every rank table puts beside TSE: the cell's size and the zero-cost proxies of its stand-alone network.

* ``ConvW``: conv weights per channel² on the effective cell (1×1 → 1, 3×3 → 9; ``space.size.conv_weights``);
* ``Params`` / ``FLOPs``: the effective cell's stand-alone NB201 network at NB201's C = 16, N = 5 for the truth's
  dataset (weights; multiply-accumulates per image), ``space.size.network_size`` (NATS-Bench's counting, checked
  against its published numbers);
* ``SNIP`` / ``SynFlow`` / ``JacCov`` (``zero_cost``): computed at initialisation on one minibatch of search-train,
  on the cell's stand-alone network (``networks.NB201Network``; JacCov on the one-logit network, as the TSE code's
  ``zero_cost_estimators.py`` builds it), the network's initial weights seeded per cell.

All are higher-is-better scores of the cell (bigger cells rank higher), none depends on B. ``conv_count`` (the number
of convolutions on the effective cell) groups cells for the within-group ρ.
"""
from __future__ import annotations


import torch

from ..config import ZeroCostSettings
from ..data import stable_seed
from ..networks import NB201Network
from ..space import Genotype
from ..space.size import SIZE_BASELINES, size_baselines
from ..zero_cost import jacob_cov, snip, synflow

__all__ = ["BASELINES", "SIZE_BASELINES", "ZERO_COST", "ZeroCostSettings", "size_baselines", "zero_cost_scores"]

ZERO_COST = ("SNIP", "SynFlow", "JacCov")
BASELINES = SIZE_BASELINES + ZERO_COST



def zero_cost_scores(genotype: Genotype, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                     settings: ZeroCostSettings) -> dict[str, float]:
    """SNIP, SynFlow and JacCov of `genotype`'s freshly initialised stand-alone network on the minibatch (x, y)."""
    scores = {}
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(stable_seed("zero-cost", settings.seed, genotype.to_str()))
        network = NB201Network(genotype, settings.C, settings.N, num_classes).to(x.device)
        one_logit = NB201Network(genotype, settings.C, settings.N, 1).to(x.device)
    network.train()
    one_logit.train()
    scores["SNIP"] = snip(network, x, y)
    scores["SynFlow"] = synflow(network, tuple(x.shape[1:]))
    scores["JacCov"] = jacob_cov(one_logit, x)
    return scores
