"""Searches that differ only in their seed, grouped, with their per-epoch curves as mean ± std over search seeds.

Two numbers are averaged over different seeds here, and the labels keep them apart: an NB201 accuracy is already the
benchmark's mean over *its* training seeds (of one architecture); a group's curve is the mean, and the sample standard
deviation (n − 1), of one number over the *search* seeds of a method. Imports neither torch nor matplotlib.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass

from .config import METHODS, NOT_SEARCH_RELEVANT, SearchConfig
from .runs import Run, RunDirError, nb201_label, nb201_value, run_label

# Settings that may differ between the seeds of one group: the seed, and what does not change what a search computes.
SEED_INDEPENDENT = NOT_SEARCH_RELEVANT | {"seed"}
CURVE_KEYS = ("nb201", "train_loss", "valid_loss", "skip_count")
STATISTIC = "mean and sample standard deviation (n - 1) over search seeds"


@dataclass
class RunGroup:
    """Runs with the same search settings (every setting but the seed and the ones in SEED_INDEPENDENT)."""

    label: str
    settings: dict
    runs: list[Run]

    @property
    def seeds(self) -> list:
        return [run.config.get("seed") for run in self.runs]


@dataclass
class Series:
    """One number by epoch: its mean, sample std (NaN for fewer than 2 values) and count of runs that have it."""

    epochs: list[int]
    mean: list[float]
    std: list[float]
    count: list[int]


@dataclass
class Curves:
    """What one line per panel of the plot shows: a single run, or the mean of a group (with its spread)."""

    label: str
    series: dict[str, Series]  # by CURVE_KEYS
    seeds: int


def search_settings(run: Run) -> dict:
    """The settings that make a search what it is: its config.json without the seed, the run-local settings and the
    method-specific settings its method does not use (``--K`` of a darts run)."""
    if not run.config:
        raise RunDirError(f"{run.path} has no config.json, so its settings are unknown; the mean over seeds needs "
                          f"the config.json that train_search.py writes")
    if run.config.get("method") not in METHODS:
        raise RunDirError(f"{run.path}/config.json names no known method (method: {run.config.get('method')!r}); "
                          f"pass the --out directory of a search")
    unused = SearchConfig.from_dict(run.config).unused_settings()
    return {name: value for name, value in run.config.items() if name not in SEED_INDEPENDENT and name not in unused}


def group_runs(runs: list[Run]) -> list[RunGroup]:
    """The runs grouped by their search settings, in the order each group first appears.

    A group's label is the method (and K for TSE), plus each setting whose value tells this group from another with
    the same method. RunDirError when one group holds the same seed twice (the mean would count a search twice).
    """
    keyed: dict[str, list[Run]] = {}
    for run in runs:
        keyed.setdefault(json.dumps(search_settings(run), sort_keys=True), []).append(run)
    groups = [RunGroup(_method_label(members[0].config), search_settings(members[0]), members)
              for members in keyed.values()]
    for group in groups:
        _check_distinct_seeds(group)
    _tell_apart(groups)
    return groups


def run_curves(run: Run, label: str, dataset: str, split: str) -> Curves:
    """The curves of a single run (its values; no spread)."""
    return _curves(label, [run], dataset, split)


def group_curves(group: RunGroup, dataset: str, split: str) -> Curves:
    """The curves of a group: at each epoch, the mean and sample std over the seeds that finished it."""
    seeds = len(group.runs)
    return _curves(f"{group.label} (mean ± std, {seeds} seed{'s' if seeds > 1 else ''})", group.runs, dataset, split)


def summary(group: RunGroup, dataset: str, split: str, epoch: int | None = None) -> dict:
    """The group's numbers at `epoch` (0-based; default: the last epoch every run of the group finished).

    Per CURVE_KEYS number: {"mean", "std", "n"}; also the epoch, the seeds, and the distinct genotypes derived then.
    """
    last_common = min(run.metrics[-1]["epoch"] for run in group.runs)
    epoch = last_common if epoch is None else epoch
    rows = []
    for run in group.runs:
        row = next((row for row in run.metrics if row.get("epoch") == epoch), None)
        if row is None:
            raise RunDirError(f"{run.path} has not finished epoch {epoch} (0-based; its last is {run.metrics[-1]['epoch']})")
        rows.append(row)
    numbers = {key: _stats([_row_value(row, key, dataset, split) for row in rows]) for key in CURVE_KEYS}
    genotypes = sorted({row["genotype"] for row in rows})
    return {"label": group.label, "epoch": epoch, "seeds": group.seeds, "runs": [str(run.path) for run in group.runs],
            "settings": group.settings, **numbers, "genotypes": genotypes}


def format_summary(summaries: list[dict], dataset: str, split: str, given_epoch: bool = False) -> str:
    """The summaries as a fixed-width table, with a title saying what every number is (``given_epoch``: all
    summaries are at one epoch the user chose)."""
    when = (f"At epoch {summaries[0]['epoch']} (0-based)" if given_epoch
            else "At the last epoch every seed of a group finished")
    title = (f"{when}: {STATISTIC}.\n"
             f"NB201 = 200-epoch {nb201_label(dataset, split)} accuracy (%) of the derived genotype (the benchmark's "
             f"mean over its own training seeds).")
    header = ["group", "seeds", "epoch", f"NB201 {nb201_label(dataset, split)}", "skip edges",
              "search-train loss", "search-valid loss", "genotypes"]
    lines = [header]
    for item in summaries:
        lines.append([item["label"], str(len(item["seeds"])), str(item["epoch"]), _pm(item["nb201"], 2),
                      _pm(item["skip_count"], 1), _pm(item["train_loss"], 3), _pm(item["valid_loss"], 3),
                      item["genotypes"][0] if len(item["genotypes"]) == 1 else f"{len(item['genotypes'])} distinct"])
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    return "\n".join([title, "", *table])


# ---- helpers ------------------------------------------------------------------------------------------------------
def _curves(label: str, runs: list[Run], dataset: str, split: str) -> Curves:
    epochs = sorted({row["epoch"] for run in runs for row in run.metrics})
    by_epoch = [{row["epoch"]: row for row in run.metrics} for run in runs]
    series = {}
    for key in CURVE_KEYS:
        stats = [_stats([_row_value(rows[epoch], key, dataset, split) for rows in by_epoch if epoch in rows])
                 for epoch in epochs]
        series[key] = Series(epochs, [s["mean"] for s in stats], [s["std"] for s in stats], [s["n"] for s in stats])
    return Curves(label, series, len(runs))


def _row_value(row: dict, key: str, dataset: str, split: str) -> float | None:
    """The value of one CURVE_KEYS number in a metrics row (None where absent)."""
    value = nb201_value(row, dataset, split) if key == "nb201" else row.get(key)
    return None if value is None else float(value)


def _stats(values: list[float | None]) -> dict:
    """{"mean", "std", "n"} of the values that are not None (NaN where there are too few)."""
    present = [value for value in values if value is not None]
    mean = statistics.fmean(present) if present else math.nan
    std = statistics.stdev(present) if len(present) > 1 else math.nan
    return {"mean": mean, "std": std, "n": len(present)}


def _pm(stats: dict, digits: int) -> str:
    if stats["n"] == 0:
        return "n/a"
    text = f"{stats['mean']:.{digits}f}"
    return text if math.isnan(stats["std"]) else f"{text} ± {stats['std']:.{digits}f}"


def _method_label(config: dict) -> str:
    return run_label(config).rsplit(" seed ", 1)[0]


def _check_distinct_seeds(group: RunGroup) -> None:
    seen: dict = {}
    for run in group.runs:
        seed = run.config.get("seed")
        if seed in seen:
            raise RunDirError(f"{seen[seed].path} and {run.path} are the same search (same settings, seed {seed}); "
                              f"pass each search once, or the mean over seeds would count it twice")
        seen[seed] = run


def _tell_apart(groups: list[RunGroup]) -> None:
    """Append to each label the settings that differ between groups that share it."""
    by_label: dict[str, list[RunGroup]] = {}
    for group in groups:
        by_label.setdefault(group.label, []).append(group)
    for same in by_label.values():
        if len(same) < 2:
            continue
        every_name = dict.fromkeys(name for group in same for name in group.settings)
        names = [name for name in every_name if len({json.dumps(g.settings.get(name)) for g in same}) > 1]
        for group in same:
            group.label += " " + " ".join(f"{name}={group.settings.get(name)}" for name in names)
