"""Reading a search's run directory: config.json, metrics.jsonl, genotypes.jsonl, genotype.json.

Used by the scripts that read finished searches (plot_curves, plot_alpha, compare_runs, export_genotype). Imports neither torch
nor matplotlib, so they start fast.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..commands import invocation
from ..spaces.base import SpaceError
from ..spaces.info import info_of

GENOTYPE_FORMATS = ("nb201", "darts", "json")  # a space's own string (by the space's name), or the whole entry


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
        raise RunDirError(f"{run.path} is a one-shot supernet run ({invocation('train-oneshot')}): it derives no "
                          f"genotype; rank its subnetworks with {invocation('rank-subnets')}")
    if run.config.get("kind") == "train":
        raise RunDirError(f"{run.path} is a training run ({invocation('train-genotype')}): its genotype is in its "
                          f"config.json; compare its seeds with {invocation('compare-runs')}, rank the estimators on "
                          f"its curves with {invocation('rank-estimators')} --train-runs")
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


# the settings that give a search its scale (a smoke run or the paper's), named in labels where runs differ in them
SCALE_SETTINGS = ("C", "N", "epochs", "batch_size", "steps_per_epoch", "max_train_samples", "image_size")
UNSET_SCALE = {"steps_per_epoch": "all", "max_train_samples": "all", "image_size": "native"}  # what None means


def context_labels(configs: list[dict]) -> list[str]:
    """What sets each run apart from the others in its data and scale, for its label: '' when all share them, else
    e.g. 'fashion-mnist, C=8 N=1 epochs=2' (the dataset, with the file of your own data, 'npz (x.npz)', where the
    runs differ in data; then each scale setting whose value differs between the runs)."""
    def data(config: dict) -> str:
        return str(config.get("dataset", "?"))

    def source(config: dict) -> str:
        return str(((config.get("data") or {}).get("source")) or config.get("data_dir") or "")

    def differ(value) -> bool:
        return len({json.dumps(value(config), sort_keys=True, default=str) for config in configs}) > 1

    own_data = ("npz", "folder")
    show_data = differ(data) or (differ(source) and data(configs[0]) in own_data)
    scale = [name for name in SCALE_SETTINGS if differ(lambda config: config.get(name))]
    labels = []
    for config in configs:
        parts = [data(config) + (f" ({Path(source(config)).name})" if data(config) in own_data else "")] \
            if show_data else []
        if scale:
            parts.append(" ".join(f"{name}={UNSET_SCALE.get(name) if config.get(name) is None else config.get(name)}"
                                  for name in scale))
        labels.append(", ".join(parts))
    return labels


def with_context(label: str, context: str) -> str:
    """`label` with its data-and-scale context in brackets (as is when there is none)."""
    return f"{label} [{context}]" if context else label


def unique_labels(runs: list[Run]) -> list[str]:
    """Each run's label, naming its dataset and scale where the runs differ in them, with the directory name
    appended where two runs would still share one."""
    labels = [with_context(run.label, context)
              for run, context in zip(runs, context_labels([run.config for run in runs]))]
    return [f"{label} ({run.path.name})" if labels.count(label) > 1 else label for run, label in zip(runs, labels)]


# ---- NB201 series -------------------------------------------------------------------------------------------------
def nb201_value(row: dict, dataset: str, split: str) -> float | None:
    """The NB201 accuracy of one metrics row (None where the benchmark lacks it)."""
    return ((row.get("nb201") or {}).get(dataset) or {}).get(split)


def runs_space(runs: list[Run]):
    """The search space the runs share (``spaces.SpaceInfo``; runs recorded before spaces were named are NB201's);
    RunDirError when they searched different spaces."""
    spaces = {info_of(run.config).name for run in runs}
    if len(spaces) > 1:
        raise RunDirError(f"the runs searched different spaces ({', '.join(sorted(spaces))}); compare runs of one space")
    return info_of(runs[0].config if runs else {})


def choose_nb201(runs: list[Run], dataset: str | None = None, split: str | None = None) -> tuple[str, str]:
    """The (dataset, split) of the benchmark number to read: NB201 by default cifar10 test if every run has it, else
    cifar10-valid valid (with a dataset but no split: its test numbers if every run has them, else its valid ones);
    the DARTS space: the NB301 surrogate's CIFAR-10 valid accuracy. RunDirError when the chosen numbers are absent
    from every run."""
    try:
        return runs_space(runs).choose_curve([run.metrics for run in runs], dataset, split)
    except SpaceError as error:
        raise RunDirError(str(error)) from error


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
    """The genotype of `epoch` (default: the latest finished one): epoch, genotype, the benchmark's fields (NB201:
    nb201_index, nb201; DARTS: nb301), probabilities, alpha, the space, the genotype as JSON naming its edges and ops
    (``cell``) and the names of α's dimensions (``names``).

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
    config = read_config(path)
    try:
        space = info_of(config)
        cell = space.genotype_to_dict(space.parse_genotype(entry["genotype"]))
    except (SpaceError, ValueError) as error:  # an unknown space, a damaged genotype string
        raise RunDirError(f"{path}: epoch {entry['epoch']}'s genotype cannot be read ({error}); {DAMAGED}") from error
    return {"epoch": entry["epoch"], "genotype": entry["genotype"],
            **{key: entry.get(key, metrics.get(key)) for key in space.benchmark_keys},
            "probabilities": entry.get("probabilities"), "alpha": entry.get("alpha"),
            "space": space.name, "cell": cell, "names": space.arch_names(config.get("ops", "all"))}


def format_genotype(entry: dict, fmt: str | None = None) -> str:
    """The genotype in its space's own form ('nb201': the NB201 string; 'darts': DARTS' ``Genotype(...)`` literal,
    which pastes into DARTS' genotypes.py; None: the run's space's), or the whole entry as indented JSON ('json')."""
    space = entry.get("space", "nb201")
    if fmt == "json":
        return json.dumps(entry, indent=2)
    if fmt is None or fmt == space:
        return entry["genotype"]
    if fmt in GENOTYPE_FORMATS:
        raise RunDirError(f"--format {fmt}: the run searched the {space} space; use --format {space} or json")
    raise RunDirError(f"unknown format {fmt!r}; choose one of: {', '.join(GENOTYPE_FORMATS)}")


def _span(epochs: list) -> str:
    numbers = [e for e in epochs if isinstance(e, int)]
    if numbers and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}..{numbers[-1]}"
    return ", ".join(map(str, epochs))
