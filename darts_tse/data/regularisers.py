"""Regularisers of training batches (never of evaluation batches): cutout and MixUp, drawn from a given generator so
that a batch's draws depend only on (seed, epoch, position) and a resumed run sees the same ones.

* Cutout (DeVries & Taylor 2017; as DARTS' ``utils.Cutout``, after normalisation): per image, a square of side
  `length` centred on a uniformly drawn pixel, clipped at the border, is set to 0.
* MixUp (Zhang et al. 2018; NB301's protocol): one λ ~ Beta(a, a) per batch and a random pairing of the batch's images;
  the images become λ·x + (1 − λ)·x[pairing], the loss λ·L(y) + (1 − λ)·L(y[pairing]).
"""
from __future__ import annotations

import numpy as np
import torch


def cutout(images: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """`images` (B, C, H, W) with one `length`×`length` square per image set to 0 (a new tensor)."""
    b, _, h, w = images.shape
    centre_y = torch.randint(0, h, (b,), generator=generator).to(images.device)
    centre_x = torch.randint(0, w, (b,), generator=generator).to(images.device)
    rows = torch.arange(h, device=images.device)
    cols = torch.arange(w, device=images.device)
    half = length // 2
    in_rows = (rows >= (centre_y - half).clamp(0, h)[:, None]) & (rows < (centre_y + half).clamp(0, h)[:, None])
    in_cols = (cols >= (centre_x - half).clamp(0, w)[:, None]) & (cols < (centre_x + half).clamp(0, w)[:, None])
    hole = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return images.masked_fill(hole, 0.0)


def mixup_draw(batch: int, alpha: float, generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """(a pairing: a permutation of the batch, λ ~ Beta(alpha, alpha)), both from `generator`."""
    pairing = torch.randperm(batch, generator=generator)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    return pairing, lam


def mixup(images: torch.Tensor, pairing: torch.Tensor, lam: float) -> torch.Tensor:
    """λ·images + (1 − λ)·images[pairing]."""
    return lam * images + (1.0 - lam) * images[pairing.to(images.device)]
