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

from ..config import METHODS, NOT_SEARCH_RELEVANT, SearchConfig
from ..spaces.info import info_of
from .runs import Run, RunDirError, check_search_run, context_labels, run_label, runs_space, with_context

# Settings that may differ between the seeds of one group: the seed, and what does not change what a search computes.
SEED_INDEPENDENT = NOT_SEARCH_RELEVANT | {"seed"}
CURVE_KEYS = ("nb201", "train_loss", "valid_loss", "skip_count")
STATISTIC = "mean and sample standard deviation (n - 1) over search seeds"


@dataclass
class RunGroup:
    """Runs with the same search settings (see :func:`search_settings`): the seeds of one method."""

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


def search_settings(run: Run) -> dict:
    """The settings that make a search what it is: its config.json (missing keys at their defaults) without the seed,
    the run-local settings and the settings its method or dataset does not use (``--K`` of a darts run); plus the
    content hash of the data it searched on (config.json's ``data.sha256``, where recorded; not for synthetic data,
    which each seed draws anew), so that runs on different data never share a group."""
    if not run.config:
        raise RunDirError(f"{run.path} has no config.json, so its settings are unknown; the mean over seeds needs "
                          f"the config.json that train_search.py writes")
    check_search_run(run)
    if run.config.get("method") not in METHODS:
        raise RunDirError(f"{run.path}/config.json names no known method (method: {run.config.get('method')!r}); "
                          f"pass the --out directory of a search")
    config = SearchConfig.from_dict(run.config)
    unused = set(config.unused_settings())
    settings = {name: value for name, value in config.to_dict().items()
                if name not in SEED_INDEPENDENT and name not in unused}
    data = run.config.get("data")
    if config.dataset != "synthetic" and isinstance(data, dict) and data.get("sha256"):
        settings["data_sha256"] = data["sha256"]
    return settings


def group_runs(runs: list[Run]) -> list[RunGroup]:
    """The runs grouped by their search settings, in the order each group first appears.

    A group's label is the method (and K for TSE), plus each setting whose value tells this group from another with
    the same method. RunDirError when one group holds the same seed twice (the mean would count a search twice).
    """
    keyed: dict[str, RunGroup] = {}
    for run in runs:
        settings = search_settings(run)
        key = json.dumps(settings, sort_keys=True)
        if key not in keyed:
            keyed[key] = RunGroup(run_label(run.config, with_seed=False), settings, [])
        keyed[key].runs.append(run)
    groups = list(keyed.values())
    for group in groups:
        _check_distinct_seeds(group)
    for group, context in zip(groups, context_labels([group.runs[0].config for group in groups])):
        group.label = with_context(group.label, context)
    _tell_apart(groups)
    return groups


def run_curves(run: Run, label: str, dataset: str, split: str) -> Curves:
    """The curves of a single run (its values; no spread)."""
    return _curves(label, [run], dataset, split)


def group_curves(group: RunGroup, dataset: str, split: str) -> Curves:
    """The curves of a group: at each epoch, the mean and sample std over the seeds that finished it (the label says
    how many seeds that is, a range when some seeds stopped earlier)."""
    curves = _curves(group.label, group.runs, dataset, split)
    finished = [set(_rows_by_epoch(run)) for run in group.runs]
    runs_per_epoch = [sum(epoch in epochs for epochs in finished) for epoch in curves.series["nb201"].epochs]
    fewest, most = min(runs_per_epoch), max(runs_per_epoch)
    seeds = f"{most} seed{'s' if most > 1 else ''}" if fewest == most else f"{fewest}-{most} seeds"
    curves.label = f"{group.label} (mean ± std, {seeds})"
    return curves


def summary(group: RunGroup, dataset: str, split: str, epoch: int | None = None) -> dict:
    """The group's numbers at `epoch` (0-based; default: the last epoch every run of the group finished).

    Per CURVE_KEYS number: {"mean", "std", "n"} (n: the seeds that have it); also the epoch, the seeds, the runs that
    had not finished their planned epochs ("unfinished") and the distinct genotypes derived at that epoch.
    """
    by_epoch = [_rows_by_epoch(run) for run in group.runs]
    epoch = min(max(rows) for rows in by_epoch) if epoch is None else epoch
    for run, rows in zip(group.runs, by_epoch):
        if epoch not in rows:
            raise RunDirError(f"{run.path} has not finished epoch {epoch} (0-based; its last is {max(rows)}); choose an "
                              f"--epoch that every run has, or leave out the runs that stopped earlier")
    rows = [rows[epoch] for rows in by_epoch]
    unfinished = [{"run": str(run.path), "seed": run.config.get("seed"), "finished": len(done),
                   "epochs": run.config.get("epochs")}
                  for run, done in zip(group.runs, by_epoch) if len(done) < run.config.get("epochs", 0)]
    return {"label": group.label, "epoch": epoch, "seeds": group.seeds, "runs": [str(run.path) for run in group.runs],
            "unfinished": unfinished, "settings": group.settings,
            **{key: _stats([_row_value(row, key, dataset, split, runs_space(group.runs)) for row in rows])
               for key in CURVE_KEYS},
            "genotypes": sorted({row["genotype"] for row in rows if row.get("genotype") is not None})}


def summary_title(summaries: list[dict], dataset: str, split: str, given_epoch: bool = False) -> str:
    """What every number of the summary table is: when, which statistic, which NB201 accuracy."""
    when = (f"At epoch {summaries[0]['epoch']} (0-based)" if given_epoch
            else "At the last epoch (0-based) every seed of a group finished")
    space = _space_of(summaries)
    return (f"{when}: {STATISTIC}.\n"
            f"{space.curve_title(dataset, split).split()[0]} = {space.curve_meaning(dataset, split)}.")


def summary_rows(summaries: list[dict], dataset: str, split: str) -> list[list[str]]:
    """The summary table's header and one row of cells per group. A number that fewer seeds have than the row
    counts says its n."""
    rows = [["group", "seeds", "epoch", _space_of(summaries).curve_title(dataset, split), "skip edges",
             "search-train loss", "search-valid loss", "genotypes"]]
    for item in summaries:
        seeds = len(item["seeds"])
        rows.append([item["label"], str(seeds), _epoch_cell(item), _pm(item["nb201"], 2, seeds),
                     _pm(item["skip_count"], 1, seeds), _pm(item["train_loss"], 3, seeds),
                     _pm(item["valid_loss"], 3, seeds), _genotype_cell(item["genotypes"])])
    return rows


def format_summary(summaries: list[dict], dataset: str, split: str, given_epoch: bool = False) -> str:
    """The summaries as a fixed-width table, with a title saying what every number is (``given_epoch``: all
    summaries are at one epoch the user chose)."""
    lines = summary_rows(summaries, dataset, split)
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    return "\n".join([summary_title(summaries, dataset, split, given_epoch), "", *table])


def json_document(summaries: list[dict], curves: list[Curves], dataset: str, split: str) -> dict:
    """The summaries and the per-epoch curves of their groups, labelled, with null where a number is undefined."""
    groups = [{**item, "curves": {key: vars(series) for key, series in curve.series.items()}}
              for item, curve in zip(summaries, curves)]
    space = _space_of(summaries)
    return _nan_to_none({"dataset": dataset, "split": split, "space": space.name,
                         "nb201": f"{space.curve_title(dataset, split)}: {space.curve_meaning(dataset, split)}",
                         "statistic": STATISTIC, "groups": groups})


# ---- helpers ------------------------------------------------------------------------------------------------------
def _space_of(summaries: list[dict]):
    """The search space of summarised groups (their settings name it; NB201 where they do not)."""
    return info_of(summaries[0]["settings"] if summaries else {})


def _rows_by_epoch(run: Run) -> dict[int, dict]:
    """The run's metrics rows by epoch (the last row of an epoch, as the other readers take it)."""
    return {row["epoch"]: row for row in run.metrics}


def _curves(label: str, runs: list[Run], dataset: str, split: str) -> Curves:
    by_epoch = [_rows_by_epoch(run) for run in runs]
    epochs = sorted({epoch for rows in by_epoch for epoch in rows})
    series = {}
    space = runs_space(runs)
    for key in CURVE_KEYS:
        stats = [_stats([_row_value(rows[epoch], key, dataset, split, space) for rows in by_epoch if epoch in rows])
                 for epoch in epochs]
        series[key] = Series(epochs, [s["mean"] for s in stats], [s["std"] for s in stats], [s["n"] for s in stats])
    return Curves(label, series)


def _row_value(row: dict, key: str, dataset: str, split: str, space) -> float | None:
    """The value of one CURVE_KEYS number in a metrics row (None where absent); "nb201" is the space's benchmark
    number (NB201 look-up, NB301 surrogate)."""
    value = space.curve_value(row, dataset, split) if key == "nb201" else row.get(key)
    return None if value is None else float(value)


def _stats(values: list[float | None]) -> dict:
    """{"mean", "std", "n"} of the values that are not None (NaN where there are too few)."""
    present = [value for value in values if value is not None]
    mean = statistics.fmean(present) if present else math.nan
    std = statistics.stdev(present) if len(present) > 1 else math.nan
    return {"mean": mean, "std": std, "n": len(present)}


def _pm(stats: dict, digits: int, seeds: int) -> str:
    """'90.52 ± 3.14', '87.00' (one value), with ' (n=2)' when fewer than all seeds have the number; 'n/a' for none."""
    if stats["n"] == 0:
        return "n/a"
    text = f"{stats['mean']:.{digits}f}"
    text = text if math.isnan(stats["std"]) else f"{text} ± {stats['std']:.{digits}f}"
    return text if stats["n"] == seeds else f"{text} (n={stats['n']})"


def _epoch_cell(item: dict) -> str:
    if not item["unfinished"]:
        return str(item["epoch"])
    runs = ", ".join(f"seed {run['seed']} at {run['finished']}/{run['epochs']}" for run in item["unfinished"])
    return f"{item['epoch']} (unfinished: {runs})"


def _genotype_cell(genotypes: list[str]) -> str:
    return genotypes[0] if len(genotypes) == 1 else f"{len(genotypes)} distinct"


def _nan_to_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    return value


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
