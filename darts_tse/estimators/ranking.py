"""Rank correlations (numpy only): Spearman's ρ with average ranks for ties, Kendall's τ-b, and each estimator's
ρ by budget."""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np

from .speed import Estimator, LearningCurve


TIE_TOLERANCE = 1e-12  # relative: values closer than this are one value that floating point rounded apart


def snap_ties(values: Sequence[float]) -> np.ndarray:
    """``values`` with every run of sorted values within TIE_TOLERANCE (relative) of the run's smallest set to it.

    Means of the same numbers in another grouping (e.g. accuracies k/1017 averaged over seeds: (433+444+454)/3 and
    (420+452+459)/3 of 1,017 images) differ in the last bit; they are ties, and rank as ties."""
    x = np.array(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    start = 0
    while start < len(x):
        first = x[order[start]]
        stop = start + 1
        while stop < len(x) and abs(x[order[stop]] - first) <= TIE_TOLERANCE * max(abs(first), abs(x[order[stop]])):
            stop += 1
        x[order[start:stop]] = first
        start = stop
    return x


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks of ``values``; tied values (equal up to floating-point rounding: :func:`snap_ties`) all get the
    average of the ranks they span."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {x.shape}")
    x = snap_ties(x)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=float)
    start = 0
    while start < len(x):
        stop = start + 1
        while stop < len(x) and sorted_x[stop] == sorted_x[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop + 1) / 2.0  # mean of ranks start+1..stop
        start = stop
    return ranks


def _pairs(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """x and y as float arrays; ValueError unless they are 1-D, of one length >= 2, and finite."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D and the same length, got shapes {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 pairs for a rank correlation, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    return x, y


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks of x and y.

    Returns NaN when either side is constant (the correlation is undefined). Needs >= 2 finite pairs.
    """
    x, y = _pairs(x, y)
    rx = average_ranks(x) - (len(x) + 1) / 2.0
    ry = average_ranks(y) - (len(y) + 1) / 2.0
    denom = math.sqrt(float(np.dot(rx, rx)) * float(np.dot(ry, ry)))
    if denom == 0.0:
        return float("nan")
    return float(np.dot(rx, ry) / denom)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b: (concordant − discordant pairs) / sqrt((pairs − ties in x)(pairs − ties in y)), which handles
    ties as scipy.stats.kendalltau does. NaN when either side is constant. Needs >= 2 finite pairs (O(n²))."""
    x, y = _pairs(x, y)
    x, y = snap_ties(x), snap_ties(y)  # average_ranks does this for ρ; τ compares the values themselves
    upper = np.triu_indices(len(x), k=1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    untied_x, untied_y = float(np.count_nonzero(dx)), float(np.count_nonzero(dy))
    if untied_x == 0 or untied_y == 0:
        return float("nan")
    return float(np.sum(dx * dy) / math.sqrt(untied_x * untied_y))


def rank_correlations(curves: Sequence[LearningCurve], targets: Sequence[float], estimators: Sequence[Estimator],
                      budgets: Sequence[int]) -> Dict[str, List[float]]:
    """Spearman correlation between each estimator's score and ``targets`` (e.g. final test accuracy, higher =
    better) at each budget T. Positive = the estimator ranks architectures like the targets. Budgets below an
    estimator's ``min_budget`` give NaN. Every curve must hold what each estimator needs and >= max(budgets) epochs.
    """
    if len(curves) != len(targets):
        raise ValueError(f"{len(curves)} curves but {len(targets)} targets")
    result = {}
    for est in estimators:
        row = []
        for T in budgets:
            if T < est.min_budget:
                row.append(float("nan"))
                continue
            row.append(spearman([est.score(c, T) for c in curves], targets))
        result[est.name] = row
    return result


def partial_spearman(x: Sequence[float], y: Sequence[float], z: Sequence[float]) -> float:
    """Spearman's ρ of x and y with z held fixed: the partial correlation of their ranks,
    (ρ_xy − ρ_xz ρ_yz) / sqrt((1 − ρ_xz²)(1 − ρ_yz²)). What x says about y beyond what z (e.g. a cell's size) says;
    NaN when a side is constant or x or y is a function of z's ranks (ρ_xz² = 1 or ρ_yz² = 1)."""
    _pairs(x, z)
    xy, xz, yz = spearman(x, y), spearman(x, z), spearman(y, z)
    denom = (1 - xz**2) * (1 - yz**2)
    if not denom > 1e-12:
        return float("nan")
    return float((xy - xz * yz) / math.sqrt(denom))


def grouped_spearman(x: Sequence[float], y: Sequence[float], groups: Sequence[object], min_size: int = 3) -> float:
    """The mean of Spearman's ρ within groups of equal `groups` value (e.g. the conv count), weighted by group size,
    over the groups of at least `min_size` members where ρ is defined. NaN when no group qualifies."""
    x, y = _pairs(x, y)
    members: Dict[object, List[int]] = {}
    for i, key in enumerate(groups):
        members.setdefault(key, []).append(i)
    weighted, total = 0.0, 0
    for indices in members.values():
        if len(indices) < min_size:
            continue
        rho = spearman(x[indices], y[indices])
        if not math.isnan(rho):
            weighted, total = weighted + rho * len(indices), total + len(indices)
    return weighted / total if total else float("nan")
