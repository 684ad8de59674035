"""A learning-curve store (``nb201.curves``) written from from-scratch training runs of NB201 cells
(``scripts/train_genotype.py``), so that query-based NAS (``scripts/query_search.py``) runs on our own curves
(torch-free).

One row per NB201 cell, from the runs of its seeds, all of one protocol. Per cell and epoch: ``train_loss`` = the
mean over the seeds of the epoch's mean training loss (metrics.jsonl ``train_loss``), ``epoch_time`` = the mean over
the seeds of the epoch's measured ``seconds`` (wall time of training and the test split's evaluation, on whatever
machine ran it), ``total_time`` = the sum of ``epoch_time`` over the epochs; ``final_test`` = the mean over the seeds
of the last epoch's ``test_acc`` (the data's test split). The runs have no validation split: ``valid_loss``,
``valid_acc``, ``valtest_acc`` and ``final_valid`` are NaN. With ``per_seed`` each seed's own curves and times are
stored on the seed axis, in the order of ``meta["seeds"]`` (the runs' seeds, not NB201's 777/888/999).

Refused, in one line naming the runs: a run that is not a training run, of a DARTS-space cell, unfinished (fewer
rows than its epochs), runs that mix settings (anything but the cell and the seed, the data's sha256 included), a
cell whose seeds differ from the others' (the mean would be over another set), a seed given twice.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..files import atomic_write
from ..nb201.curves import (
    ARCH_COLUMNS,
    EPOCH_COLUMNS,
    FORMAT,
    FULL_EPOCHS,
    RUNS_ORIGIN,
    SEED_ARCH_COLUMNS,
    CurveStore,
    CurveStoreError,
    check_output,
    column_key,
    store_keys,
    write_store,
)
from ..space.genotype import NUM_ARCHITECTURES, Genotype
from .runs import Run, RunDirError
from .train_runs import TrainGroup, group_training_runs, is_training_run

COLUMNS = {
    "train_loss": "mean over the seeds of each epoch's mean minibatch training loss (metrics.jsonl train_loss)",
    "valid_loss": "NaN: the training runs have no validation split",
    "valid_acc": "NaN: the training runs have no validation split",
    "valtest_acc": "NaN: the training runs have no validation split",
    "epoch_time": "mean over the seeds of each epoch's measured wall-clock seconds (metrics.jsonl seconds: training "
                  "and the test split's evaluation, on whatever machine ran it)",
    "total_time": "the sum of epoch_time over the runs' epochs (seconds)",
    "final_valid": "NaN: the training runs have no validation split",
    "final_test": "mean over the seeds of the last epoch's test accuracy (%) on the data's test split",
}
PER_SEED_NOTE = "per-seed arrays: each seed's own train_loss, epoch_time and total_time, in the order of meta seeds"


@dataclass
class TrainingExport:
    """What an export of training runs wrote: the store, its cells, the seeds each cell averages, the runs read."""

    output: Path
    cells: int
    seeds: list[int]
    runs: int
    coverage: str


def export_training_curves(runs: Sequence[Run], output: str | Path, *, per_seed: bool = False,
                           overwrite: bool = False) -> TrainingExport:
    """Write the curve store of the training runs ``runs`` (see the module docstring) to ``output`` (``.npz``),
    atomically; refuses an existing ``output`` unless ``overwrite``. CurveStoreError / RunDirError (one line) for runs
    that cannot make one store."""
    output = Path(output)
    check_output(output, overwrite)
    groups = _check_runs(runs)
    seeds = sorted(run.config["seed"] for run in groups[0].runs)
    epochs = int(groups[0].settings["epochs"])
    dataset = str(groups[0].settings["dataset"])
    rows = sorted((Genotype.parse(group.genotype).index, group) for group in groups)
    arrays: dict[str, np.ndarray] = {"indices": np.array([index for index, _ in rows], dtype=np.int64)}
    per_cell = [_cell_columns(group, seeds, epochs) for _, group in rows]
    for name in EPOCH_COLUMNS + ARCH_COLUMNS:
        arrays[column_key(dataset, name)] = np.stack([cell[name] for cell in per_cell]).astype(_dtype(name))
    if per_seed:
        for name in EPOCH_COLUMNS + SEED_ARCH_COLUMNS:
            arrays[column_key(dataset, name, True)] = np.stack([cell["seed." + name] for cell in per_cell]).astype(_dtype(name))
    assert set(arrays) == {"indices", *store_keys([dataset], per_seed)}
    meta = _meta(groups, rows, dataset, seeds, epochs, per_seed)
    atomic_write(output, lambda handle: write_store(handle, meta, arrays))
    try:
        check = CurveStore(output)
        check.curves(dataset).epoch_time, check.curves(dataset).total_time  # the clock's columns are checked on reading
    except CurveStoreError:
        os.unlink(output)  # what this call wrote, and only that: an existing file was refused above
        raise
    return TrainingExport(output=output, cells=len(rows), seeds=seeds, runs=sum(len(g.runs) for g in groups),
                          coverage=check.coverage)


# ---- checks -------------------------------------------------------------------------------------------------------
def _check_runs(runs: Sequence[Run]) -> list[TrainGroup]:
    if not runs:
        raise RunDirError("no training runs given; give the run directories of scripts/train_genotype.py")
    for run in runs:
        if not is_training_run(run):
            raise RunDirError(f"{run.path} is not a training run (scripts/train_genotype.py); a curve store of "
                              f"training runs reads only those")
        if run.config.get("space", "nb201") != "nb201":
            raise RunDirError(f"{run.path} trains a {run.config.get('space')}-space cell; a curve store holds NB201 "
                              f"cells: leave it out")
        epochs = run.config.get("epochs")
        if not isinstance(epochs, int) or not 1 <= epochs <= FULL_EPOCHS:
            raise RunDirError(f"{run.path} trains {epochs} epochs; a curve store holds 1..{FULL_EPOCHS} epochs per curve")
        done = len({row["epoch"] for row in run.metrics})
        if done != epochs or run.metrics[-1]["epoch"] != epochs - 1:
            raise RunDirError(f"{run.path} finished {done} of its {epochs} epochs; let it finish (train_genotype.py "
                              f"--resume --out {run.path}) or leave it out")
    groups = group_training_runs(list(runs))  # refuses a seed given twice for one cell and settings
    _check_one_setting(groups)
    _check_same_seeds(groups)
    return groups


def _check_one_setting(groups: list[TrainGroup]) -> None:
    """Every group shares its settings but the cell: a store is one protocol on one data."""
    first = {k: v for k, v in groups[0].settings.items() if k != "genotype"}
    for group in groups[1:]:
        other = {k: v for k, v in group.settings.items() if k != "genotype"}
        differ = sorted(key for key in set(first) | set(other) if first.get(key) != other.get(key))
        if differ:
            shown = ", ".join(f"{key} {_short(first.get(key))} vs {_short(other.get(key))}" for key in differ[:3])
            raise RunDirError(f"the runs mix settings ({shown}{', ...' if len(differ) > 3 else ''}: "
                              f"{groups[0].runs[0].path} vs {group.runs[0].path}); a curve store holds runs of one "
                              f"protocol on one data: export each setting to its own store")


def _check_same_seeds(groups: list[TrainGroup]) -> None:
    """Every cell has the same seeds, so that each mean is over the same set."""
    seeds = {g.genotype: sorted(run.config["seed"] for run in g.runs) for g in groups}
    common = max(seeds.values(), key=lambda s: (len(s), s))
    for genotype, own in seeds.items():
        if own != common:
            raise RunDirError(f"cell {genotype} has the runs of seeds {_list(own)}, another has {_list(common)}; every "
                              f"cell's mean must be over the same seeds: give the missing runs (train_genotype.py "
                              f"--seed S), or leave the extra seeds' runs out")


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _list(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds)) or "(none)"


# ---- columns ------------------------------------------------------------------------------------------------------
def _cell_columns(group: TrainGroup, seeds: list[int], epochs: int) -> dict[str, np.ndarray]:
    """One cell's columns (mean over seeds) and, under ``seed.<column>``, each seed's, in the order of ``seeds``."""
    by_seed = {run.config["seed"]: run for run in group.runs}
    loss = np.array([[_value(by_seed[s], e, "train_loss") for e in range(epochs)] for s in seeds])
    seconds = np.array([[_value(by_seed[s], e, "seconds") for e in range(epochs)] for s in seeds])
    final = np.array([_value(by_seed[s], epochs - 1, "test_acc") for s in seeds])
    nan_curve, nan = np.full(epochs, math.nan), np.float64(math.nan)
    columns = {"train_loss": loss.mean(axis=0), "valid_loss": nan_curve, "valid_acc": nan_curve,
               "valtest_acc": nan_curve, "epoch_time": seconds.mean(axis=0), "total_time": seconds.mean(axis=0).sum(),
               "final_valid": nan, "final_test": final.mean()}
    columns.update({"seed.train_loss": loss, "seed.epoch_time": seconds, "seed.total_time": seconds.sum(axis=1)})
    for name in ("valid_loss", "valid_acc", "valtest_acc"):
        columns["seed." + name] = np.full((len(seeds), epochs), math.nan)
    columns["seed.final_valid"] = np.full(len(seeds), math.nan)
    return columns


def _value(run: Run, epoch: int, key: str) -> float:
    rows = [row for row in run.metrics if row["epoch"] == epoch]
    value = rows[-1].get(key) if rows else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunDirError(f"{run.path}/metrics.jsonl has no finite {key} at epoch {epoch}; it is damaged")
    if key == "seconds" and value <= 0:
        raise RunDirError(f"{run.path}/metrics.jsonl records {value} seconds for epoch {epoch} (rounded to ms); a "
                          f"query's clock needs each epoch to take time")
    return float(value)


def _dtype(name: str):
    return np.float64 if name in ARCH_COLUMNS else np.float32


def _meta(groups: list[TrainGroup], rows: list, dataset: str, seeds: list[int], epochs: int, per_seed: bool) -> dict:
    first = groups[0].runs[0]
    settings = {k: v for k, v in groups[0].settings.items() if k not in ("genotype", "data")}
    data = dict(first.config.get("data") or {})
    data.pop("normalisation", None)
    shas = {run.config["seed"]: (run.config.get("data") or {}).get("sha256") for run in groups[0].runs}
    if len(set(shas.values())) > 1:  # synthetic data: drawn anew for every seed
        data["sha256"] = {str(seed): sha for seed, sha in sorted(shas.items())}
    return {
        "format": FORMAT,
        "kind": "darts_tse learning-curve store of from-scratch training runs of NB201 cells",
        "origin": RUNS_ORIGIN,
        "source": f"{sum(len(g.runs) for g in groups)} training runs (scripts/train_genotype.py), {len(groups)} cells "
                  f"x {len(seeds)} seeds",
        "epochs": epochs,
        "datasets": [dataset],
        "per_seed": per_seed,
        "seeds": seeds,
        "num_architectures": len(rows),
        "of": NUM_ARCHITECTURES,
        "bad": [],
        "settings": settings,
        "data": data,
        "columns": COLUMNS,
        "curves": f"mean over the seeds {_list(seeds)}" + (f"; {PER_SEED_NOTE}" if per_seed else ""),
        "machines": _machines(groups),
        "runs": [{"index": int(index), "genotype": group.genotype,
                  "runs": {str(run.config["seed"]): str(run.path) for run in group.runs}} for index, group in rows],
    }


def _machines(groups: list[TrainGroup]) -> list[dict]:
    """Where the runs' seconds were measured: each distinct (device, its name, threads) with how many runs ran there
    (from config.json's environment; the seconds of different machines are not comparable)."""
    counts: dict[tuple, int] = {}
    for run in (run for group in groups for run in group.runs):
        environment = run.config.get("environment") or {}
        key = (environment.get("device_type"), environment.get("device_name"), environment.get("threads"))
        counts[key] = counts.get(key, 0) + 1
    return [{"device_type": d, "device_name": n, "threads": t, "runs": c} for (d, n, t), c in sorted(
        counts.items(), key=lambda item: -item[1])]
