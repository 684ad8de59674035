"""SNIP, SynFlow and Jacobian covariance of a network at initialisation, each higher-is-better (as their papers rank).

* ``snip`` (Lee et al., *SNIP: Single-shot network pruning based on connection sensitivity*, ICLR 2019; as a NAS score
  in Abdelfattah et al., *Zero-Cost Proxies for Lightweight NAS*, ICLR 2021): Σ_θ |∂L/∂θ ⊙ θ| over every parameter,
  L the cross-entropy of one labelled minibatch (the TSE code's ``zero_cost_estimators.py``: every parameter, BN's
  included, the network in its current mode).
* ``synflow`` (Tanaka et al., *Pruning neural networks without any data by iteratively conserving synaptic flow*,
  NeurIPS 2020; Abdelfattah et al. 2021): on a float64 copy with every weight replaced by its absolute value and the
  batch-norm layers removed, R = Σ f(1) for an all-ones input; the score is Σ θ ⊙ ∂R/∂θ over the weights of the
  convolutions and linear layers. Data-free: only the input's shape is used.
* ``jacob_cov`` (Mellor et al., *Neural Architecture Search without Training*, ICML 2021, its first version; the TSE
  code's ``JacCov``): the Jacobians J_i = ∂(Σ_k f_k(x_i))/∂x_i of the minibatch's images, their correlation matrix Σ
  (np.corrcoef of the flattened J_i) with eigenvalues λ, score = −Σ (log(λ + k) + 1/(λ + k)), k = 1e-5: largest (−n
  for n images) when the images' Jacobians are uncorrelated. NaN (undefined; the rank tables rank it last) when the
  output does not depend on the input or an image's Jacobian is constant.

A forward that returns a tuple is read by its last element (the logits). The network given is never changed
(gradients are taken with ``torch.autograd.grad``; SynFlow works on a copy).
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

JACOB_COV_K = 1e-5


def _logits(output):
    return output[-1] if isinstance(output, (tuple, list)) else output


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP saliency Σ |g ⊙ θ| of the cross-entropy of (x, y) over every parameter that receives a gradient."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = nn.functional.cross_entropy(_logits(model(x)), y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return float(sum((g * p).abs().sum() for g, p in zip(grads, params) if g is not None).item())


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """SynFlow Σ θ ⊙ ∂R/∂θ (conv and linear weights) of |θ| on a BN-free float64 copy, R = Σ f(ones(1, *shape))."""
    net = _without_batchnorm(copy.deepcopy(model)).double()
    net.eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    device = weights[0].device if weights else torch.device("cpu")
    total = _logits(net(torch.ones((1, *input_shape), dtype=torch.float64, device=device))).sum()
    grads = torch.autograd.grad(total, weights, allow_unused=True)
    return float(sum((g * w).sum() for g, w in zip(grads, weights) if g is not None).item())


def jacob_cov(model: nn.Module, x: torch.Tensor) -> float:
    """Jacobian covariance score −Σ(log(λ+k) + 1/(λ+k)) of the correlations of the images' input Jacobians."""
    x = x.detach().clone().requires_grad_(True)
    out = _logits(model(x))
    (jacobians,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if jacobians is None:  # the output does not depend on the input (an NB201 cell with no path to its output)
        return float("nan")
    rows = jacobians.reshape(len(x), -1).double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        correlations = np.corrcoef(rows)
    if not np.isfinite(correlations).all():  # an image with a constant Jacobian: the correlation is undefined
        return float("nan")
    eigenvalues = np.linalg.eigvalsh(correlations)
    return float(-np.sum(np.log(eigenvalues + JACOB_COV_K) + 1.0 / (eigenvalues + JACOB_COV_K)))


def _without_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every batch-norm layer replaced by the identity (in place; SynFlow's ``bn=False``)."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _without_batchnorm(child)
    return module


# the proxies by the names the rank tables print
PROXIES: dict[str, Callable] = {"SNIP": snip, "SynFlow": synflow, "JacCov": jacob_cov}
