"""Reading a search's run directory: config.json, metrics.jsonl, genotypes.jsonl, genotype.json.

Used by the scripts that read finished searches (plot_curves, plot_alpha, compare_runs, export_genotype). Imports neither torch
nor matplotlib, so they start fast.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..nb201.labels import NB201_DATASETS, NB201_SPLITS, nb201_label

GENOTYPE_FORMATS = ("nb201", "json")


class RunDirError(ValueError):
    """A run directory that is missing, damaged or lacks what was asked for; the message says which."""


class NoFinishedEpoch(RunDirError):
    """A run directory with no finished epoch yet (a run in its first epoch, a failed or killed start)."""


# numbers a metrics row may hold (None where undefined); anything else there means a damaged file
NUMERIC_KEYS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "steps", "alpha_steps", "paths",
                "alpha_entropy", "nb201_index", "skip_count", "param_free_count", "tse_ema", "lr", "seconds")
DAMAGED = "the file is written by the run; resume the run to rewrite it, or restore the file"


# ---- reading ------------------------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a .jsonl file, one per line.

    A run killed while appending may leave a partial last line: it is skipped (the next resume rewrites the file).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RunDirError(f"{path} is not UTF-8 text (byte {error.start}); {DAMAGED}") from error
    except OSError as error:
        raise RunDirError(f"cannot read {path}: {error.strerror or error}") from error
    lines = [line for line in text.splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):
                break
            raise RunDirError(f"{path}: line {number} is not JSON ({error})") from error
    return rows


def check_run_dir(path: str | Path) -> Path:
    """`path` as a Path, if it is a search's run directory (it holds metrics.jsonl); RunDirError otherwise."""
    path = Path(path)
    if not path.exists():
        raise RunDirError(f"run directory {path} does not exist")
    if not path.is_dir():
        if path.name == "sweep.json":  # `DIR/*` of a sweep folder (scripts/sweep.py) matches it: DIR/*/ does not
            raise RunDirError(f"{path} is a sweep's record, not a run directory; pass its run directories: "
                              f"{path.parent}/*/")
        raise RunDirError(f"{path} is not a directory; pass the --out directory of a search")
    if not (path / "metrics.jsonl").is_file():
        if not any(child.name != ".lock" for child in path.iterdir()):
            raise NoFinishedEpoch(f"{path} has no finished epoch (it is empty: a failed or killed start)")
        raise RunDirError(f"{path} is not a search run directory (no metrics.jsonl); pass the --out directory of a search")
    return path


def read_config(path: str | Path, *, written_by: str = "train_search.py") -> dict:
    """config.json of a run directory ({} when absent); RunDirError when it is not a JSON object."""
    file = Path(path) / "config.json"
    if not file.is_file():
        return {}
    return read_json_object(file, written_by=written_by)


def read_json_object(file: str | Path, *, written_by: str = "train_search.py") -> dict:
    """The JSON object in `file`; RunDirError (naming the command that writes it) when it is unreadable, not JSON
    or not an object."""
    file = Path(file)
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise RunDirError(f"{file} is not UTF-8 text; it is written by {written_by}, restore or remove it") from error
    except json.JSONDecodeError as error:
        raise RunDirError(f"{file} is not JSON ({error}); it is written by {written_by}, restore or remove it") from error
    except OSError as error:
        raise RunDirError(f"cannot read {file}: {error.strerror or error}") from error
    if not isinstance(value, dict):
        raise RunDirError(f"{file} is not a JSON object; it is written by {written_by}, restore or remove it")
    return value


def read_metrics(path: str | Path) -> list[dict]:
    """The metrics.jsonl rows of a run directory; RunDirError when it has no finished epoch."""
    path = check_run_dir(path)
    rows = read_jsonl(path / "metrics.jsonl")
    if not rows:
        raise NoFinishedEpoch(f"{path} has no finished epoch yet (metrics.jsonl is empty)")
    _check_rows(rows, path / "metrics.jsonl", _check_metrics_row)
    return rows


def _check_rows(rows: list, file: Path, check_row) -> None:
    """RunDirError naming the line of the first damaged row or repeated epoch of a .jsonl file."""
    seen: dict[int, int] = {}
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or isinstance(row.get("epoch"), bool) or not isinstance(row.get("epoch"), int) \
                or row["epoch"] < 0:
            raise RunDirError(f"{file}: line {number} is not a row of an epoch (no integer 'epoch' >= 0); {DAMAGED}")
        problem = check_row(row)
        if problem:
            raise RunDirError(f"{file}: line {number} (epoch {row['epoch']}) {problem}; {DAMAGED}")
        if row["epoch"] in seen:
            raise RunDirError(f"{file}: epoch {row['epoch']} appears twice (lines {seen[row['epoch']]} and {number}); "
                              f"{DAMAGED}")
        seen[row["epoch"]] = number


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _check_metrics_row(row: dict) -> str | None:
    """What is wrong with a metrics row, or None."""
    for key in NUMERIC_KEYS:
        if key in row and not _is_number(row[key]):
            return f"has {key} = {row[key]!r}, not a number"
    if "genotype" in row and not isinstance(row["genotype"], str):
        return f"has genotype = {row['genotype']!r}, not an NB201 string"
    nb201 = row.get("nb201")
    if nb201 is not None and (not isinstance(nb201, dict) or not all(
            isinstance(splits, dict) and all(_is_number(v) for v in splits.values()) for splits in nb201.values())):
        return "has an nb201 entry that is not {dataset: {split: number}}"
    return None


def _check_genotype_row(row: dict) -> str | None:
    if not isinstance(row.get("genotype"), str):
        return "has no NB201 string under 'genotype'"
    return None


@dataclass
class Run:
    """One run directory's settings and per-epoch rows."""

    path: Path
    config: dict
    metrics: list[dict]

    @property
    def label(self) -> str:
        return run_label(self.config, self.path)


def load_run(path: str | Path) -> Run:
    """config.json and metrics.jsonl of a run directory."""
    metrics = read_metrics(path)
    return Run(Path(path), read_config(path), metrics)


def check_search_run(run: Run) -> Run:
    """`run` if it is a differentiable search's; RunDirError saying where to go for a one-shot supernet's or a
    training run's."""
    if run.config.get("kind", "search") == "oneshot":
        raise RunDirError(f"{run.path} is a one-shot supernet run (scripts/train_oneshot.py): it derives no genotype; "
                          f"rank its subnetworks with scripts/rank_subnets.py")
    if run.config.get("kind") == "train":
        raise RunDirError(f"{run.path} is a training run (scripts/train_genotype.py): its genotype is in its "
                          f"config.json; compare its seeds with scripts/compare_runs.py, rank the estimators on its "
                          f"curves with scripts/rank_estimators.py --train-runs")
    return run


def load_runs(paths, *, note=None) -> list[Run]:
    """The runs of `paths`, leaving out (with a one-line `note`, e.g. printed) each directory with no finished epoch
    yet, such as a run in its first epoch or a failed start; RunDirError when no run is left, or for a damaged one."""
    runs = []
    for path in paths:
        try:
            runs.append(load_run(path))
        except NoFinishedEpoch as error:
            if note is not None:
                note(f"skipping {error}")
    if not runs:
        raise RunDirError(f"none of the {len(list(paths))} run directories given has a finished epoch yet")
    return runs


def run_label(config: dict, path: Path | None = None, *, with_seed: bool = True) -> str:
    """'darts-tse K=100 seed 0' (K for the TSE methods only); the directory name when config.json is missing."""
    method = config.get("method")
    if method is None:
        return Path(path).name if path is not None else "run"
    k = f" K={config['K']}" if str(method).endswith("-tse") and "K" in config else ""
    return f"{method}{k} seed {config.get('seed', '?')}" if with_seed else f"{method}{k}"


def unique_labels(runs: list[Run]) -> list[str]:
    """Each run's label, with the directory name appended where two runs would share one."""
    labels = [run.label for run in runs]
    return [f"{label} ({run.path.name})" if labels.count(label) > 1 else label for run, label in zip(runs, labels)]


# ---- NB201 series -------------------------------------------------------------------------------------------------
def nb201_value(row: dict, dataset: str, split: str) -> float | None:
    """The NB201 accuracy of one metrics row (None where the benchmark lacks it)."""
    return ((row.get("nb201") or {}).get(dataset) or {}).get(split)


def choose_nb201(runs: list[Run], dataset: str | None = None, split: str | None = None) -> tuple[str, str]:
    """The (dataset, split) to plot: by default cifar10 test if every run has it, else cifar10-valid valid.

    With a dataset but no split: its test numbers if every run has them, else its valid numbers.
    RunDirError when the chosen numbers are absent from every run.
    """
    if dataset == "cifar10-valid":
        if split == "test":  # NB201's cifar10 test numbers come from nets trained on all 50k images, not cifar10-valid
            raise RunDirError("NB201 has no test accuracy recorded for cifar10-valid here; use --dataset cifar10 "
                              "--split test (trained on the full training set), or --split valid")
        dataset, split = "cifar10", split or "valid"
    dataset = dataset or "cifar10"
    if dataset not in NB201_DATASETS:
        raise RunDirError(f"unknown NB201 dataset {dataset!r}; choose one of: cifar10, cifar10-valid, "
                          f"{', '.join(NB201_DATASETS[1:])}")
    if split is None:
        has_test = all(any(nb201_value(row, dataset, "test") is not None for row in run.metrics) for run in runs)
        split = "test" if has_test else "valid"
    if split not in NB201_SPLITS:
        raise RunDirError(f"unknown NB201 split {split!r}; choose valid or test")
    if not any(nb201_value(row, dataset, split) is not None for run in runs for row in run.metrics):
        raise RunDirError(f"no run has NB201 {nb201_label(dataset, split)} accuracies (searches without --benchmark "
                          f"have valid accuracies only)")
    return dataset, split


# ---- genotypes ----------------------------------------------------------------------------------------------------
def read_genotypes(path: str | Path) -> list[dict]:
    """Every finished epoch's genotypes.jsonl row (epoch, genotype, probabilities, alpha), or genotype.json's latest
    epoch alone where genotypes.jsonl is missing or empty; RunDirError when there is neither."""
    path = check_run_dir(path)
    check_search_run(Run(path, read_config(path), []))
    source = path / "genotypes.jsonl"
    rows = read_jsonl(source) if source.is_file() else []
    if not rows and (path / "genotype.json").is_file():
        source = path / "genotype.json"
        try:
            rows = [json.loads(source.read_text(encoding="utf-8"))]
        except UnicodeDecodeError as error:
            raise RunDirError(f"{source} is not UTF-8 text; {DAMAGED}") from error
        except json.JSONDecodeError as error:
            raise RunDirError(f"{source} is not JSON ({error}); it is rewritten after every epoch, "
                              f"so resume the search or restore the file") from error
    if not rows:
        raise NoFinishedEpoch(f"{path} has no finished epoch yet (genotypes.jsonl is empty and there is no genotype.json)")
    _check_rows(rows, source, _check_genotype_row)
    return rows


def genotype_entry(path: str | Path, epoch: int | None = None) -> dict:
    """The genotype of `epoch` (default: the latest finished one): epoch, genotype, nb201_index, nb201, probabilities, alpha.

    Read from genotypes.jsonl (every epoch), falling back to genotype.json (the latest epoch only).
    """
    rows = read_genotypes(path)
    path = Path(path)
    if epoch is None:
        entry = rows[-1]
    else:
        matches = [row for row in rows if row.get("epoch") == epoch]
        if not matches:
            epochs = [row.get("epoch") for row in rows]
            raise RunDirError(f"{path} has no epoch {epoch}; its finished epochs are {_span(epochs)} (0-based)")
        entry = matches[-1]
    metrics = {row["epoch"]: row for row in read_metrics(path)}.get(entry["epoch"], {})
    return {"epoch": entry["epoch"], "genotype": entry["genotype"],
            "nb201_index": entry.get("nb201_index", metrics.get("nb201_index")),
            "nb201": entry.get("nb201", metrics.get("nb201")),
            "probabilities": entry.get("probabilities"), "alpha": entry.get("alpha")}


def format_genotype(entry: dict, fmt: str = "nb201") -> str:
    """The NB201 string ('nb201') or the whole entry as indented JSON ('json')."""
    if fmt == "nb201":
        return entry["genotype"]
    if fmt == "json":
        return json.dumps(entry, indent=2)
    raise RunDirError(f"unknown format {fmt!r}; choose one of: {', '.join(GENOTYPE_FORMATS)}")


def _span(epochs: list) -> str:
    numbers = [e for e in epochs if isinstance(e, int)]
    if numbers and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}..{numbers[-1]}"
    return ", ".join(map(str, epochs))
