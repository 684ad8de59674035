"""The estimators of a subnetwork at a budget of B minibatches, from what :class:`SubnetFinetuner` recorded, and the
rank table: each estimator's Spearman ρ and Kendall τ with the NB201 truth, and the mean truth of its top 10.

Definitions (on inherited weights; ℓ_b the b-th training minibatch loss, ℓ^val_b the b-th search-valid minibatch's):

* ``TSE``     = Σ_{b≤B} ℓ_b (the paper's one-shot TSE: the sum of the B training losses);
* ``TSE-EMA`` = Σ_{b≤B} γ^(B−b) ℓ_b (γ = 0.999, over minibatches here);
* ``TLmini``  = ℓ_B;
* ``SoVL``    = Σ_{b≤B} ℓ^val_b;
* ``ValAcc``  = accuracy on search-valid after B steps (the paper's Val Acc); ``ValLoss`` its loss.

Losses are lower-is-better, so their score is the negated value; ValAcc is higher-is-better. A positive correlation
of the score with the truth means the estimator ranks subnetworks the way NB201 does.
"""
from __future__ import annotations

import math
import statistics

from ..estimators import DEFAULT_GAMMA, kendall_tau, sovl, spearman, tl_mini, to_score, tse, tse_ema

ESTIMATORS = ("TSE", "TSE-EMA", "TLmini", "SoVL", "ValAcc", "ValLoss")
HIGHER_IS_BETTER = {"ValAcc"}
TOP = 10


def estimates(train_losses: list[float], valid_minibatch_losses: list[float], valid: dict[int, dict],
              budget: int, gamma: float = DEFAULT_GAMMA) -> dict[str, float]:
    """Every estimator's raw value at budget `budget` (the estimator library's formulas over minibatches)."""
    return {
        "TSE": tse(train_losses, budget),
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
    """For each estimator and budget: ``spearman``, ``kendall`` (None when undefined) and ``top10`` (mean truth of the
    10 best-scored subnetworks, or of all when there are fewer) over the subnetworks of `rows` (each with
    ``estimates[B][name]`` and the truth). A subnetwork whose training diverged by B (its estimates are None) ranks
    last there, tied with the others that did; ``diverged`` counts them."""
    usable = [row for row in rows if row.get(truth_key) is not None]
    table: dict = {}
    for name in ESTIMATORS:
        table[name] = {}
        for budget in budgets:
            raw = [row["estimates"][str(budget)] for row in usable]
            finite = [score(name, r[name]) for r in raw if r is not None]
            worst = min(finite, default=0.0) - 1.0
            scores = [worst if r is None else score(name, r[name]) for r in raw]
            truths = [row[truth_key] for row in usable]
            entry = {"spearman": None, "kendall": None, "top10": None, "subnets": len(usable),
                     "diverged": sum(r is None for r in raw)}
            if len(usable) >= 2:
                entry["spearman"] = _defined(spearman(scores, truths))
                entry["kendall"] = _defined(kendall_tau(scores, truths))
            if usable:
                best = sorted(range(len(usable)), key=lambda i: -scores[i])[:TOP]
                entry["top10"] = statistics.fmean(truths[i] for i in best)
            table[name][str(budget)] = entry
    return table


def mean_over_runs(tables: list[dict], budgets: list[int]) -> dict:
    """Mean, sample std (n − 1; None for one run) and n of every number of several runs' rank tables."""
    combined: dict = {}
    for name in ESTIMATORS:
        combined[name] = {}
        for budget in budgets:
            entry = {}
            for key in ("spearman", "kendall", "top10"):
                values = [t[name][str(budget)][key] for t in tables if t[name][str(budget)][key] is not None]
                entry[key] = {"mean": statistics.fmean(values) if values else None,
                              "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}
            combined[name][str(budget)] = entry
    return combined


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else value
