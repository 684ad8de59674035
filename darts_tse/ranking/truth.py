"""A ranking study judged against from-scratch training runs of its cells (``rank_subnets.py --truth-runs``) instead
of the benchmark: the truth of a subnetwork is the mean over seeds of its runs' final test accuracy
(:func:`darts_tse.analysis.train_runs.training_truth`).

Applied to :func:`~darts_tse.ranking.study.rank_run`'s result after the fact, so the subnetworks' traces and their
cache (its key names the supernet and the fine-tuning, never the truth) are those of the same ranking without runs.
The benchmark's numbers stay beside the runs' in every row (``benchmark_truth``), ranked on the same cells as a
second table (``benchmark_table``), with the Spearman ρ of the two truths over those cells.
"""
from __future__ import annotations

import math

from ..analysis.train_runs import TrainingTruth
from ..config import ConfigError
from ..estimators import spearman
from ..spaces.info import DEFAULT_SPACE
from .estimates import rank_table
from .study import combine

MIN_RANKED = 3  # Spearman ρ over fewer cells says nothing


def with_training_truth(result: dict, truth: TrainingTruth) -> dict:
    """`result` (one run's ranking study) with the runs' truth: each row's ``truth`` the runs' mean final test
    accuracy (None for a cell without runs; its benchmark number kept as ``benchmark_truth``), ``table`` ranked on
    the cells that have runs, ``benchmark_table`` the benchmark's ranking of those same cells, and ``truth_runs``:
    how many cells have runs, and ρ of the two truths. ConfigError when the runs are of another space or fewer than
    3 ranked cells have runs."""
    space = result.get("space") or DEFAULT_SPACE
    if truth.space != space:
        raise ConfigError(f"--truth-runs trained {truth.space}-space cells, but {result['run']} is a {space}-space "
                          f"supernet; pass training runs of its cells")
    rows = [{**row, "truth": truth.accuracy.get(row["genotype"]), "truth_seeds": truth.seeds.get(row["genotype"]),
             "benchmark_truth": row["truth"]} for row in result["subnets"]]
    ranked = [row for row in rows if row["truth"] is not None]
    if len(ranked) < MIN_RANKED:
        raise ConfigError(f"only {len(ranked)} of the {len(rows)} ranked subnetworks have training runs in "
                          f"--truth-runs; ρ needs at least {MIN_RANKED}: train more of those cells (the JSON of "
                          f"--out lists them) or rank the cells the runs trained (--subnets FILE)")
    budgets = result["budgets"]
    both = [row for row in ranked if row["benchmark_truth"] is not None]
    agreement = spearman([row["truth"] for row in both], [row["benchmark_truth"] for row in both]) \
        if len(both) >= MIN_RANKED else math.nan
    names = {row["genotype"] for row in rows}
    return {**result, "subnets": rows, "table": rank_table(ranked, budgets),
            "benchmark_table": rank_table(ranked, budgets, truth_key="benchmark_truth"),
            "benchmark_truth": result["truth"],
            "truth": {"label": truth.label, "title": "from-scratch training runs' final test accuracy",
                      "column": "runs_test_acc", "meaning": truth.label, "line": truth.label,
                      "settings": truth.settings},
            "truth_runs": {"ranked": len(ranked), "without_runs": len(rows) - len(ranked),
                           "runs_not_ranked": sum(genotype not in names for genotype in truth.accuracy),
                           "spearman_with_benchmark": None if math.isnan(agreement) else agreement,
                           "cells_with_both": len(both)}}


def benchmark_view(document: dict) -> dict | None:
    """The document of :func:`combine` re-read against the benchmark on the same cells (each run's
    ``benchmark_table`` as its table, mean ± std over runs again); None when the document has no runs' truth."""
    if "benchmark_truth" not in document["runs"][0]:
        return None
    return combine([{key: value for key, value in run.items() if key not in ("benchmark_table", "benchmark_truth",
                                                                            "truth_runs")}
                    | {"table": run["benchmark_table"], "truth": run["benchmark_truth"]}
                    for run in document["runs"]])
