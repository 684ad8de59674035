"""The paper's Algorithm 1: the effective training budget T_eff from the overfitting epochs of fully trained curves."""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence

import numpy as np

from .speed import _INTEGER_TOLERANCE, LearningCurve

DEFAULT_OVERFIT_PATIENCE = 3
DEFAULT_BUDGET_FRACTION = 0.9


def overfit_epoch_valid_loss(curve: LearningCurve, patience: int = DEFAULT_OVERFIT_PATIENCE) -> Optional[int]:
    """Default overfitting criterion: the first epoch t after which the validation loss rises for ``patience``
    consecutive epochs (L_{t+1} > L_t, ..., L_{t+patience} > L_{t+patience-1}); None if it never does."""
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError(f"patience must be a positive integer, got {patience!r}")
    if curve.valid_losses is None:
        raise ValueError("the validation-loss overfitting criterion needs valid_losses")
    losses = curve.valid_losses
    run = 0
    for i in range(1, len(losses)):
        run = run + 1 if losses[i] > losses[i - 1] else 0
        if run == patience:
            return i - patience + 1  # 1-based epoch after which the rise starts
    return None


def overfitting_epochs(curves: Sequence[LearningCurve],
                       criterion: Optional[Callable[[LearningCurve], Optional[int]]] = None) -> List[int]:
    """T_{i,o} for each curve: ``criterion(curve)`` (default :func:`overfit_epoch_valid_loss`), or the curve's
    length when the criterion returns None (the curve never overfits)."""
    if not curves:
        raise ValueError("need at least one fully trained curve")
    criterion = criterion or overfit_epoch_valid_loss
    epochs = []
    for i, curve in enumerate(curves):
        t_o = criterion(curve)
        if t_o is None:
            t_o = curve.num_epochs
        if not 1 <= int(t_o) <= curve.num_epochs:
            raise ValueError(f"criterion returned epoch {t_o} for curve {i}, outside 1..{curve.num_epochs}")
        epochs.append(int(t_o))
    return epochs


def effective_training_budget(curves: Sequence[LearningCurve],
                              criterion: Optional[Callable[[LearningCurve], Optional[int]]] = None,
                              fraction: float = DEFAULT_BUDGET_FRACTION) -> int:
    """Paper's Algorithm 1: T_eff = floor(fraction * min_i T_{i,o}) over fully trained curves (fraction 0.9),
    at least 1 epoch. T_{i,o} comes from :func:`overfitting_epochs` with the pluggable ``criterion``."""
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    t_min = min(overfitting_epochs(curves, criterion))
    return max(1, int(math.floor(float(fraction) * t_min + _INTEGER_TOLERANCE)))
