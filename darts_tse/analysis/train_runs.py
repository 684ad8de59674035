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
from ..spaces.info import space_info
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
    groups = group_training_runs(runs)
    for group in groups:
        at = group.epoch(epoch)
        weights = (group.runs[0].config.get("network") or {}).get("weights")
        loss = group.values("train_loss", at)
        genotype = group.genotype.replace("|", "\\|")  # a markdown cell
        lines.append(f"| `{genotype}` | {group.settings.get('protocol')} | {group.settings.get('dataset')} | "
                     f"{at} | {len(group.runs)} | {mean_std(group.values('test_acc', at))} | "
                     f"{statistics.fmean(loss) if loss else math.nan:.4f} | {weights if weights is not None else 'n/a'} |")
    return "\n".join(lines + _split_genotype_notes(groups)
                     + ["", "test acc: the dataset's test split, evaluated after the epoch; mean and sample "
                            "standard deviation (n - 1) over the seeds"])


def _split_genotype_notes(groups: list[TrainGroup]) -> list[str]:
    """'note: genotype X has 2 groups that differ in batch_size (8 vs 16)' for every genotype of several groups (an
    empty list when each genotype is one group)."""
    by_genotype: dict[str, list[TrainGroup]] = {}
    for group in groups:
        by_genotype.setdefault(group.genotype, []).append(group)
    notes = []
    for genotype, shared in by_genotype.items():
        if len(shared) > 1:
            differ = "; ".join(f"{name} ({' vs '.join(values)})" for name, values in _differences(shared).items())
            notes.append(f"note: genotype `{genotype}` has {len(shared)} groups that differ in {differ}")
    return [""] + notes if notes else []


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


# ---- the from-scratch truth of a one-shot ranking (scripts/rank_subnets.py --truth-runs) --------------------------
@dataclass(frozen=True)
class TrainingTruth:
    """Training runs of one setting as a ranking's truth: each genotype's mean final test accuracy over its seeds."""

    accuracy: dict[str, float]  # genotype (its space's string) -> mean over seeds of test_acc at the final epoch
    seeds: dict[str, int]       # genotype -> how many seeds that mean is over
    epoch: dict[str, int]       # genotype -> the final epoch (0-based): the last every seed of it finished
    space: str
    settings: dict              # the setting every run shares (config.json without genotype and run-local keys)
    label: str                  # what the numbers are: runs, seeds, split, data, scale, protocol, epoch


def training_truth(runs: list[Run]) -> TrainingTruth:
    """The runs' truth: per genotype, the mean over its seeds of the test accuracy at the last epoch every seed
    finished (as :func:`training_table` compares them). RunDirError when the runs mix settings (anything but the
    genotype and the run-local keys differs), when a run is not a training run, or when one seed appears twice."""
    groups = group_training_runs(runs)
    differ = _differing_settings(groups)
    if differ:
        raise RunDirError(f"the training runs mix settings ({'; '.join(differ)}): a truth is the runs of one "
                          f"setting; pass only those (compare_runs shows the groups)")
    space = space_info(groups[0].settings.get("space"))
    accuracy, seeds, epochs = {}, {}, {}
    for group in groups:
        at = group.epoch()
        values = [_row(run, at).get("test_acc") for run in group.runs]
        if any(not isinstance(value, (int, float)) or isinstance(value, bool) for value in values):
            raise RunDirError(f"a run of {group.genotype} has no test_acc at epoch {at} in its metrics.jsonl; "
                              f"it is not a complete training run")
        try:
            genotype = space.parse_genotype(group.genotype).to_str()
        except ValueError as error:
            raise RunDirError(f"{group.runs[0].path}/config.json: genotype {group.genotype!r} is not a "
                              f"{space.name}-space genotype ({error})") from error
        accuracy[genotype], seeds[genotype], epochs[genotype] = statistics.fmean(values), len(values), at
    settings = {key: value for key, value in groups[0].settings.items() if key != "genotype"}
    return TrainingTruth(accuracy, seeds, epochs, space.name, settings,
                         _truth_label(settings, runs[0].config.get("data") or {}, seeds, epochs))


def _differing_settings(groups: list[TrainGroup]) -> list[str]:
    """'name: a vs b' for each setting (genotype aside) whose value differs between the groups."""
    return [f"{name}: {' vs '.join(values)}" for name, values in _differences(groups).items()]


def _differences(groups: list[TrainGroup]) -> dict[str, list[str]]:
    """Each setting (genotype aside) whose value differs between the groups -> its distinct values (JSON, in the
    groups' order)."""
    names = dict.fromkeys(name for group in groups for name in group.settings if name != "genotype")
    differ = {}
    for name in names:
        values = dict.fromkeys(json.dumps(group.settings.get(name), sort_keys=True, default=str) for group in groups)
        if len(values) > 1:
            differ[name] = list(values)
    return differ


def _span(values) -> str:
    """'3' or '2-3'."""
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _truth_label(settings: dict, data: dict, seeds: dict[str, int], epochs: dict[str, int]) -> str:
    """'from-scratch training runs: mean final test accuracy (%) over K seeds, test split of <data>, <scale>'."""
    source = data.get("source") or settings.get("data_dir")
    images = data.get("test_images")
    where = (f"{settings.get('dataset')}" + (f" at {source}" if source else "")
             + (f" ({images:,} test images)" if images else ""))
    cells = (f"C={settings.get('C')} layers={settings.get('layers')}" if settings.get("space") == "darts"
             else f"C={settings.get('C')} N={settings.get('N')}")
    planned = settings.get("epochs")
    final = (f"epoch {_span(epochs.values())} (0-based), the last every seed finished"
             + ("" if all(epoch + 1 == planned for epoch in epochs.values()) else f", of {planned} planned"))
    return (f"from-scratch training runs: mean final test accuracy (%) over {_span(seeds.values())} seeds, test split "
            f"of {where}, {cells}, {planned} epochs, batch {settings.get('batch_size')}, protocol "
            f"{settings.get('protocol')}; final = {final}")
