"""The estimators of a subnetwork at a budget of B minibatches, from what :class:`SubnetFinetuner` recorded, and the
rank table: each estimator's Spearman ρ and Kendall τ with the NB201 truth, and the mean truth of its top 10.

Definitions (on inherited weights; ℓ_b the b-th training minibatch loss, ℓ^val_b the b-th search-valid minibatch's):

* ``TSE``     = Σ_{b≤B} ℓ_b (the paper's one-shot TSE: the sum of the B training losses);
* ``TSE-E``   = Σ_{B−k<b≤B} ℓ_b (the last k minibatches only, k = ``tse_e_last``: drops the early steps, whose loss
  is mostly the inherited weights' and grows with a cell's conv count under uniform path sampling);
* ``TSE-EMA`` = Σ_{b≤B} γ^(B−b) ℓ_b (γ = 0.999, over minibatches here);
* ``TLmini``  = ℓ_B;
* ``SoVL``    = Σ_{b≤B} ℓ^val_b;
* ``ValAcc``  = accuracy on search-valid after B steps (the paper's Val Acc); ``ValLoss`` its loss.

Losses are lower-is-better, so their score is the negated value; ValAcc is higher-is-better. A positive correlation
of the score with the truth means the estimator ranks subnetworks the way NB201 does.

Beside them, the budget-free baselines of ``baselines.py`` (ConvW, Params, FLOPs, SNIP, SynFlow, JacCov), and for
every row two numbers that say what an estimator adds beyond the cell's size: ``partial`` (Spearman ρ with the truth,
the effective cell's Params held fixed) and ``grouped`` (ρ within groups of cells with equal conv count, weighted by
group size).
"""
from __future__ import annotations

import math
import statistics

from ..estimators import (DEFAULT_GAMMA, grouped_spearman, kendall_tau, partial_spearman, sovl, spearman, tl_mini,
                          to_score, tse, tse_ema)
from ..config import DEFAULT_TSE_E_LAST
from .baselines import BASELINES

ESTIMATORS = ("TSE", "TSE-E", "TSE-EMA", "TLmini", "SoVL", "ValAcc", "ValLoss")
HIGHER_IS_BETTER = {"ValAcc", *BASELINES}
TOP = 10


def estimates(train_losses: list[float], valid_minibatch_losses: list[float], valid: dict[int, dict],
              budget: int, gamma: float = DEFAULT_GAMMA, tse_e_last: int = DEFAULT_TSE_E_LAST) -> dict[str, float]:
    """Every estimator's raw value at budget `budget` (the estimator library's formulas over minibatches)."""
    return {
        "TSE": tse(train_losses, budget),
        "TSE-E": tse(train_losses[max(0, budget - tse_e_last):budget]),
        "TSE-EMA": tse_ema(train_losses, gamma, budget),
        "TLmini": tl_mini([train_losses[:budget]]),
        "SoVL": sovl(valid_minibatch_losses, budget),
        "ValAcc": valid[budget]["valid_acc"],
        "ValLoss": valid[budget]["valid_loss"],
    }


def score(name: str, value: float) -> float:
    """The estimator's value as a higher-is-better score."""
    return to_score(value, name in HIGHER_IS_BETTER)


def rank_table(rows: list[dict], budgets: list[int], truth_key: str = "truth") -> dict:
    """For each estimator (and each baseline that every row has) and budget: ``spearman``, ``kendall`` (None when
    undefined), ``partial`` (ρ given the effective cell's Params), ``grouped`` (ρ within equal conv counts) and
    ``top10`` (mean truth of the 10 best-scored subnetworks, or of all when there are fewer) over the subnetworks of
    `rows` (each with ``estimates[B][name]``, ``baselines[name]`` and the truth). A subnetwork whose training diverged
    by B (its estimates are None) ranks last there, tied with the others that did; ``diverged`` counts them."""
    usable = [row for row in rows if row.get(truth_key) is not None]
    truths = [row[truth_key] for row in usable]
    baselines = [name for name in BASELINES if usable and all(name in row.get("baselines", {}) for row in usable)]
    sizes = [row["baselines"]["Params"] for row in usable] if "Params" in baselines else None
    groups = [row["baselines"]["convs"] for row in usable] if "Params" in baselines else None
    table: dict = {}
    for name in (*ESTIMATORS, *baselines):
        table[name] = {}
        for budget in budgets:
            if name in ESTIMATORS:
                raw = [row["estimates"][str(budget)] for row in usable]
            else:
                raw = [row["baselines"] for row in usable]
            finite = [score(name, r[name]) for r in raw if r is not None and math.isfinite(r[name])]
            worst = min(finite, default=0.0) - 1.0
            scores = [worst if r is None or not math.isfinite(r[name]) else score(name, r[name]) for r in raw]
            entry = {"spearman": None, "kendall": None, "partial": None, "grouped": None, "top10": None,
                     "subnets": len(usable), "diverged": sum(r is None for r in raw)}
            if len(usable) >= 2:
                entry["spearman"] = _defined(spearman(scores, truths))
                entry["kendall"] = _defined(kendall_tau(scores, truths))
                if sizes is not None:
                    entry["partial"] = _defined(partial_spearman(scores, truths, sizes))
                    entry["grouped"] = _defined(grouped_spearman(scores, truths, groups))
            if usable:
                best = sorted(range(len(usable)), key=lambda i: -scores[i])[:TOP]
                entry["top10"] = statistics.fmean(truths[i] for i in best)
            table[name][str(budget)] = entry
    return table


def mean_over_runs(tables: list[dict], budgets: list[int]) -> dict:
    """Mean, sample std (n − 1; None for one run) and n of every number of several runs' rank tables."""
    combined: dict = {}
    names = [name for name in tables[0] if all(name in t for t in tables)]
    for name in names:
        combined[name] = {}
        for budget in budgets:
            entry = {}
            for key in ("spearman", "kendall", "partial", "grouped", "top10"):
                values = [t[name][str(budget)].get(key) for t in tables if t[name][str(budget)].get(key) is not None]
                entry[key] = {"mean": statistics.fmean(values) if values else None,
                              "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}
            combined[name][str(budget)] = entry
    return combined


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else value
