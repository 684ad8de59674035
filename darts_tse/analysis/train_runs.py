"""Training runs (scripts/train_genotype.py) over seeds: one row per genotype and settings, the mean ± sample std of
the test accuracy (and the final training loss) over the seeds (torch-free).

Runs that differ only in their seed (and the run-local settings: --out, device, threads, W&B, where the genotype was
read from) form a group; each group is compared at the last epoch all of its seeds finished (or `epoch`).
"""
from __future__ import annotations

import itertools
import json
import math
import statistics
from dataclasses import dataclass

from ..config import NOT_SEARCH_RELEVANT, TrainConfig
from ..estimators import ArchitectureRecord, CurveSet, LearningCurve, MissingArchitecture, spearman
from .runs import Run, RunDirError

RUN_LOCAL = NOT_SEARCH_RELEVANT | {"seed", "genotype_source"}


@dataclass
class TrainGroup:
    """The seeds of one genotype under one set of settings."""

    settings: dict
    runs: list[Run]

    @property
    def genotype(self) -> str:
        return self.settings["genotype"]

    def epoch(self, epoch: int | None = None) -> int:
        """`epoch`, or the last epoch every seed finished (RunDirError when a seed lacks `epoch`)."""
        last = min(run.metrics[-1]["epoch"] for run in self.runs)
        if epoch is None:
            return last
        if epoch > last:
            short = [str(run.path) for run in self.runs if run.metrics[-1]["epoch"] < epoch]
            raise RunDirError(f"epoch {epoch} is not finished by {', '.join(short)}; choose --epoch {last} or less")
        return epoch

    def values(self, key: str, epoch: int) -> list[float]:
        return [row[key] for run in self.runs for row in run.metrics if row["epoch"] == epoch and key in row]


def is_training_run(run: Run) -> bool:
    """Whether `run` is a training run (config.json's kind "train")."""
    return run.config.get("kind") == "train"


def group_training_runs(runs: list[Run]) -> list[TrainGroup]:
    """The training runs grouped by genotype and settings (RunDirError for a run that is not a training run, or a
    seed that appears twice in one group)."""
    keyed: dict[str, TrainGroup] = {}
    for run in runs:
        if not is_training_run(run):
            raise RunDirError(f"{run.path} is not a training run (scripts/train_genotype.py); compare training runs "
                              f"and searches separately")
        config = TrainConfig.from_dict(run.config).to_dict()
        settings = {key: value for key, value in config.items() if key not in RUN_LOCAL}
        if run.config.get("dataset") != "synthetic":  # synthetic data is drawn anew for every seed
            settings["data"] = (run.config.get("data") or {}).get("sha256")
        key = json.dumps(settings, sort_keys=True, default=str)
        keyed.setdefault(key, TrainGroup(settings, [])).runs.append(run)
    for group in keyed.values():
        seeds = [run.config.get("seed") for run in group.runs]
        twice = sorted({seed for seed in seeds if seeds.count(seed) > 1}, key=str)
        if twice:
            raise RunDirError(f"seed(s) {', '.join(map(str, twice))} of genotype {group.genotype} appear twice among "
                              f"the runs given; give each training run once")
    return list(keyed.values())


def mean_std(values: list[float]) -> str:
    """'mean ± std' (sample std, n - 1; '± n/a' for one value)."""
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    spread = f"{statistics.stdev(values):.2f}" if len(values) > 1 else "n/a"
    return f"{mean:.2f} ± {spread}"


def training_table(runs: list[Run], epoch: int | None = None) -> str:
    """A markdown table: per genotype and settings, the mean ± std over seeds of the test accuracy and the training
    loss at the compared epoch (0-based), with the protocol, dataset, seeds and the network's weights."""
    lines = ["| genotype | protocol | dataset | epoch | seeds | test acc % (mean ± std) | train loss | weights |",
             "|---|---|---|---|---|---|---|---|"]
    for group in group_training_runs(runs):
        at = group.epoch(epoch)
        weights = (group.runs[0].config.get("network") or {}).get("weights")
        loss = group.values("train_loss", at)
        genotype = group.genotype.replace("|", "\\|")  # a markdown cell
        lines.append(f"| `{genotype}` | {group.settings.get('protocol')} | {group.settings.get('dataset')} | "
                     f"{at} | {len(group.runs)} | {mean_std(group.values('test_acc', at))} | "
                     f"{statistics.fmean(loss) if loss else math.nan:.4f} | {weights if weights is not None else 'n/a'} |")
    return "\n".join(lines + ["", "test acc: the dataset's test split, evaluated after the epoch; mean and sample "
                                  "standard deviation (n - 1) over the seeds"])


# ---- the rank study on training runs' own curves (scripts/rank_estimators.py --train-runs) -----------------------
def training_curve_set(runs: list[Run], seed: int | None = None) -> CurveSet:
    """The training runs as curves for the estimators' rank study, one architecture per genotype (group).

    Curves: the epochs' mean training losses, and the test losses and accuracies as the held-out curves (these runs
    have no validation split); of seed `seed`, or the mean over the seeds. Truth: the last epoch's test accuracy,
    mean over the seeds, or, with `seed`, over the OTHER seeds (so that curve and truth come from different runs).
    Groups whose seeds finished different numbers of epochs are compared at the shortest.
    """
    label = f"seed {seed}'s curve" if seed is not None else "the mean curve over seeds"
    truth = "the other seeds'" if seed is not None else "the seeds'"
    curve_set = CurveSet(source=f"{len(runs)} training runs ({label})",
                         truth=f"final test accuracy ({truth} mean at the last epoch all seeds finished)")
    for group in group_training_runs(runs):
        last = group.epoch()
        chosen = [run for run in group.runs if seed is None or run.config.get("seed") == seed]
        judges = [run for run in group.runs if seed is None or run.config.get("seed") != seed]
        if not chosen or not judges:
            curve_set.missing.append(MissingArchitecture(group.genotype, f"no seed {seed}, or no other seed"))
            continue
        curves = {key: [statistics.fmean(_row(run, epoch)[key] for run in chosen) for epoch in range(last + 1)]
                  for key in ("train_loss", "test_loss", "test_acc")}
        final = statistics.fmean(_row(run, last)["test_acc"] for run in judges)
        try:
            record = ArchitectureRecord(group.genotype, LearningCurve(curves["train_loss"], curves["test_loss"],
                                                                      curves["test_acc"]), final)
        except ValueError as error:
            curve_set.missing.append(MissingArchitecture(group.genotype, str(error)))
            continue
        curve_set.records.append(record)
    return curve_set


def _row(run: Run, epoch: int) -> dict:
    rows = [row for row in run.metrics if row["epoch"] == epoch]
    if not rows:
        raise RunDirError(f"{run.path} has no row for epoch {epoch}; {run.path}/metrics.jsonl is damaged")
    return rows[-1]


def seed_agreement(runs: list[Run]) -> list[tuple[int, int, float, int]]:
    """(seed a, seed b, Spearman ρ of the genotypes' final test accuracies, genotypes compared) for every pair of
    seeds, at each group's last epoch all of its seeds finished."""
    finals: dict[int, dict[str, float]] = {}
    for group in group_training_runs(runs):
        last = group.epoch()
        for run in group.runs:
            finals.setdefault(run.config.get("seed"), {})[group.genotype] = _row(run, last)["test_acc"]
    pairs = []
    for a, b in itertools.combinations(sorted(finals), 2):
        shared = sorted(set(finals[a]) & set(finals[b]))
        rho = spearman([finals[a][g] for g in shared], [finals[b][g] for g in shared]) if len(shared) > 2 else math.nan
        pairs.append((a, b, rho, len(shared)))
    return pairs


def weights_baseline(runs: list[Run], curve_set: CurveSet) -> float:
    """Spearman ρ of the networks' weight counts (config.json) with the curve set's truth: the parameter-count
    baseline."""
    weights = {group.genotype: (group.runs[0].config.get("network") or {}).get("weights")
               for group in group_training_runs(runs)}
    pairs = [(weights[r.id], r.final_test_acc) for r in curve_set.records if weights.get(r.id) is not None]
    return spearman(*zip(*pairs)) if len(pairs) > 2 else math.nan
