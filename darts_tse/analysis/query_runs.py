"""Finished query-based search runs (``scripts/query_search.py``): reading them, and their mean ± std over runs on a
common simulated clock (torch-free, matplotlib-free).

Each run is a step function of the clock: after the query that ends at clock c_i its value is that row's (the
incumbent's test accuracy, say) until the next query ends. The workers of one shared optuna study (``--storage``)
are one search, not independent runs: their queries are merged on the clock (each worker's clock is its own
machine's, all starting at 0, so the merged clock is the study's wall-clock) and the incumbent and best cell are
recomputed over all of them. Runs (or studies) that differ only in their seed form one group; a group's curve is the
mean over its runs at clocks where every run has finished a query and none has stopped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..space.genotype import NUM_ARCHITECTURES
from .runs import RunDirError, read_config, read_json_object, read_jsonl

QUERY_METRICS: dict[str, tuple[str, str]] = {
    "test": ("incumbent_test", "test accuracy of the incumbent (best fitness so far)"),
    "regret": ("regret", "test regret of the incumbent (optimum − its test accuracy)"),
    "best-test": ("best_test", "best test accuracy among the cells queried so far"),
    "best-regret": ("best_regret", "test regret of the best cell queried so far"),
    "best-error": ("best_error", "best test error (%) among the cells queried so far (the paper's Figure 4)"),
}
DERIVED = {"best_error": ("best_test", lambda accuracy: 100.0 - accuracy)}  # metrics computed from a row's numbers
BANDS = ("std", "sem")
WRITER = "scripts/query_search.py"
CONFIG_TYPES = {"dataset": str, "algorithm": str, "fitness_label": str, "labels": dict, "store": dict, "optimum": dict}
ROW_NUMBERS = ("clock_s", "fitness", "test", *(key for key, _ in QUERY_METRICS.values() if key not in DERIVED))
# settings that do not tell two searches apart: the seed, where and how long it ran, its store's path (the store is
# compared by what it holds, _store), the code's version, and what follows from the store and the fitness
SEED_SETTINGS = frozenset({"seed", "run", "runs", "out_dir", "wallclock", "max_queries", "storage", "study_name",
                           "extend_study", "curves", "store", "darts_tse", "space_size", "left_out"})
ALGORITHM_NAMES = {"rs": "RS", "re": "RE", "tpe": "TPE"}


@dataclass
class QueryRun:
    """One finished run (config.json, query.jsonl rows, summary.json), or the merged workers of one shared study
    (``workers``: their run directories; the rows are the study's, on its clock)."""

    path: Path
    config: dict
    rows: list[dict]
    summary: dict
    workers: list[Path] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    @property
    def algorithm(self) -> str:
        """'RE', 'TPE', 'RS'."""
        return ALGORITHM_NAMES.get(self.config["algorithm"], self.config["algorithm"])

    @property
    def label(self) -> str:
        """'RE · TSE-EMA (T=10)'."""
        return f"{self.algorithm} · {self.config['fitness_label']}"

    @property
    def store(self) -> str:
        """'243 of 15,625 NB201 architectures', or '50 of 15,625 NB201 cells, from-scratch training runs'."""
        held = f"{self.config['store'].get('num_architectures', 0):,} of {NUM_ARCHITECTURES:,} NB201"
        if self.config["store"].get("origin") == "training runs":
            return f"{held} cells, from-scratch training runs"
        return f"{held} architectures"

    @property
    def data(self) -> str:
        """What the curves and truth are of: 'NB201 cifar10', or the training runs' data (config.json labels)."""
        return self.config["labels"].get("data") or f"NB201 {self.dataset}"

    @property
    def clock(self) -> str:
        """What the clock's seconds are: 'NB201 training' (runs before labels had it), or the runs' wall time."""
        return self.config["labels"].get("clock") or "NB201 training"

    @property
    def study(self) -> tuple[str, str] | None:
        """(storage, study name) of a worker of a shared optuna study, None for a run of its own."""
        if self.config.get("storage") is None:
            return None
        name = self.config.get("study_name") or (self.summary.get("study") or {}).get("name")
        return str(self.config["storage"]), str(name)

    def values(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(clock in seconds, the metric) after each query."""
        key = QUERY_METRICS[metric][0]
        source, convert = DERIVED.get(key, (key, lambda value: value))
        return (np.array([row["clock_s"] for row in self.rows], dtype=float),
                np.array([convert(row[source]) for row in self.rows], dtype=float))


@dataclass
class QuerySeries:
    """A group's mean and spread (std or sem, see ``band``) over ``n`` runs at ``clock_s``; ``store`` identifies the
    curve store (what it holds and its optimum), ``fitness`` is the legend name (with settings that tell twins apart);
    ``workers``: how many workers each run had (1 for a run of its own, more for a shared study)."""

    dataset: str
    algorithm: str
    fitness: str
    label: str
    n: int
    clock_s: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    band: str
    store: str
    workers: tuple[int, ...] = ()

    @property
    def runs(self) -> str:
        """'3 runs', '1 run (a study of 2 workers)', '2 runs (studies of 2 workers each)'."""
        text = f"{self.n} run{'s' * (self.n > 1)}"
        shared = sorted(set(self.workers))
        if shared and shared != [1]:
            counts = "/".join(map(str, shared))
            text += f" (a study of {counts} workers)" if self.n == 1 else f" (studies of {counts} workers each)"
        return text


def load_query_run(path: str | Path) -> QueryRun:
    """A finished query run; RunDirError naming what is missing or damaged otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory; give the run directories scripts/query_search.py wrote")
    files = {name: path / name for name in ("config.json", "query.jsonl", "summary.json")}
    if not files["query.jsonl"].is_file():
        raise RunDirError(f"{path} is not a query-search run (it has no query.jsonl)")
    if not files["summary.json"].is_file():
        raise RunDirError(f"{path} has no summary.json: its search did not finish (it was killed); leave it out, or "
                          f"move it out of its --out folder and run the same scripts/query_search.py command again: "
                          f"finished runs are skipped, that seed runs anew")
    config = read_config(path, written_by=WRITER)
    summary = read_json_object(files["summary.json"], written_by=WRITER)
    lacking = [key for key, kind in CONFIG_TYPES.items() if not isinstance(config.get(key), kind)]
    if config.get("kind") != "query-based NAS" or lacking:
        raise RunDirError(f"{files['config.json']} is not the config of a query-based search"
                          + (f" (it lacks {', '.join(lacking)}, or they are damaged)" if lacking else ""))
    if not isinstance(config["labels"].get("test"), str) or not _is_number(config["optimum"].get("test")):
        raise RunDirError(f"{files['config.json']} has damaged labels or optimum; it is written by {WRITER}")
    rows = read_jsonl(files["query.jsonl"])
    if not rows or len(rows) != summary.get("queries"):
        raise RunDirError(f"{path}: query.jsonl has {len(rows)} rows but summary.json counts {summary.get('queries')}")
    for number, row in enumerate(rows, 1):
        bad = [key for key in ROW_NUMBERS if not _is_number(row.get(key))] if isinstance(row, dict) else ["a row"]
        if bad:
            raise RunDirError(f"{files['query.jsonl']} line {number}: {', '.join(bad)} is not a finite number (missing, "
                              f"null or damaged); it is written by {WRITER}")
        if number > 1 and row["clock_s"] < rows[number - 2]["clock_s"]:
            raise RunDirError(f"{files['query.jsonl']} line {number}: the clock goes back; it is written by {WRITER}")
    return QueryRun(path, config, rows, summary)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def merge_studies(runs: list[QueryRun]) -> list[QueryRun]:
    """The runs with the workers of each shared optuna study (same storage and study name) merged into one run, in
    first-seen order."""
    merged: list[QueryRun | list[QueryRun]] = []
    studies: dict[tuple[str, str], list[QueryRun]] = {}
    for run in runs:
        if run.study is None:
            merged.append(run)
        elif run.study in studies:
            studies[run.study].append(run)
        else:
            studies[run.study] = [run]
            merged.append(studies[run.study])
    return [item if isinstance(item, QueryRun) else _merged_study(item) for item in merged]


def _merged_study(workers: list[QueryRun]) -> QueryRun:
    """One study's run: every worker's queries in clock order, with the study's incumbent and best cell so far."""
    if len({_store(run) for run in workers}) > 1:
        raise RunDirError(f"the workers of optuna study {workers[0].study[1]!r} used different curve stores: "
                          f"{', '.join(str(run.path) for run in workers)}")
    optimum = float(workers[0].config["optimum"]["test"])
    queries = sorted(((row["clock_s"], worker, number, row) for worker, run in enumerate(workers)
                      for number, row in enumerate(run.rows)), key=lambda item: item[:3])
    rows, incumbent, best = [], None, None
    for count, (_, worker, _, row) in enumerate(queries, 1):
        if incumbent is None or row["fitness"] > incumbent["fitness"]:
            incumbent = row
        if best is None or row["test"] > best["test"]:
            best = row
        rows.append({**row, "query": count, "worker": worker, "incumbent_index": incumbent.get("index"),
                     "incumbent_fitness": incumbent["fitness"], "incumbent_test": incumbent["test"],
                     "incumbent_valid": incumbent.get("valid"), "regret": optimum - incumbent["test"],
                     "best_test": best["test"], "best_regret": optimum - best["test"]})
    first = workers[0]
    return QueryRun(first.path, first.config, rows, first.summary, workers=[run.path for run in workers])


def group_key(run: QueryRun) -> tuple:
    """What a group's runs share: the store, and every setting that tells searches apart (see SEED_SETTINGS; the
    settings the algorithm and fitness do not use do not count)."""
    return (_store(run), *sorted((k, json_key(v)) for k, v in run.config.items() if k not in _ignored(run.config)))


def _ignored(config: dict) -> frozenset[str]:
    unused = config.get("unused_settings")  # those the algorithm and fitness ignore, as the run recorded them
    return SEED_SETTINGS | {"unused_settings"} | (set(unused) if isinstance(unused, list) else set())


def group_query_runs(runs: list[QueryRun]) -> list[list[QueryRun]]:
    """Runs that differ only in their seed (and output, stopping rule, storage), in first-seen order; the workers of
    one shared study count as one run."""
    groups: dict[tuple, list[QueryRun]] = {}
    for run in merge_studies(runs):
        groups.setdefault(group_key(run), []).append(run)
    return list(groups.values())


def query_series(runs: list[QueryRun], metric: str = "test", *, band: str = "std", points: int = 200,
                 log_clock: bool = True) -> list[QuerySeries]:
    """One series per group of runs: mean ± spread of ``metric`` on a grid of ``points`` clocks (log-spaced if asked)."""
    if metric not in QUERY_METRICS:
        raise RunDirError(f"unknown metric {metric!r}; choose {', '.join(QUERY_METRICS)}")
    if band not in BANDS:
        raise RunDirError(f"unknown band {band!r}; choose {', '.join(BANDS)}")
    series = []
    groups = group_query_runs(runs)
    for group in groups:
        dataset = group[0].dataset
        clocks = [run.values(metric) for run in group]
        start, end = max(c[0][0] for c in clocks), min(c[0][-1] for c in clocks)
        grid = _grid(start, max(start, end), points, log_clock)
        values = np.stack([_steps(clock, value, grid) for clock, value in clocks])
        n = len(group)
        spread = values.std(axis=0, ddof=1) if n > 1 else np.zeros(len(grid))
        if band == "sem":
            spread = spread / math.sqrt(n)
        first = group[0]
        series.append(QuerySeries(dataset, first.algorithm, first.config["fitness_label"], first.label, n, grid,
                                  values.mean(axis=0), spread, band, _store(first),
                                  tuple(max(1, len(run.workers)) for run in group)))
    _check_stores(series)
    return _distinct_labels(series, groups)


def format_query_table(series: list[QuerySeries], metric: str) -> str:
    """A text table: each group's mean ± spread at the last common clock."""
    lines = [f"{QUERY_METRICS[metric][1]}, at the last clock every run of a group reached (mean ± {series[0].band} "
             f"over runs)" if series else "no runs"]
    for s in series:
        lines.append(f"  {s.dataset:15s} {s.label:28s} n={s.n:<3d} {s.clock_s[-1] / 3600:9.2f} h   "
                     f"{s.mean[-1]:7.2f} ± {s.spread[-1]:.2f}" + (f"   {s.runs}" if s.runs.endswith(")") else ""))
    return "\n".join(lines)


def json_key(value):
    """A hashable form of a config value."""
    return repr(value) if isinstance(value, (dict, list)) else value


def _store(run: QueryRun) -> str:
    store = run.config.get("store", {})
    return f"{store.get('coverage', '?')}; optimum {run.config.get('optimum', {}).get('index')}"


def _check_stores(series: list[QuerySeries]) -> None:
    for dataset in {s.dataset for s in series}:
        stores = {s.store for s in series if s.dataset == dataset}
        if len(stores) > 1:
            raise RunDirError(f"the {dataset} runs used different curve stores ({' | '.join(sorted(stores))}); their "
                              f"numbers are not comparable: plot them separately")


def _grid(start: float, end: float, points: int, log_clock: bool) -> np.ndarray:
    if end <= start:
        return np.array([start])
    return np.geomspace(start, end, points) if log_clock and start > 0 else np.linspace(start, end, points)


def _steps(clock: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The step function (value of the last query that ended at or before t) at each t of ``grid``."""
    positions = np.searchsorted(clock, grid * (1 + 1e-12), side="right") - 1
    return values[np.clip(positions, 0, len(values) - 1)]


def _distinct_labels(series: list[QuerySeries], groups: list[list[QueryRun]]) -> list[QuerySeries]:
    """Add the settings that tell apart groups that share a dataset and label (e.g. two population sizes)."""
    for s, group in zip(series, groups):
        twins = [g for t, g in zip(series, groups) if t.dataset == s.dataset and t.label == s.label and g is not group]
        if twins:
            config = group[0].config
            differ = sorted(k for k in config if k not in _ignored(config)
                            and any(json_key(t[0].config.get(k)) != json_key(config[k]) for t in twins))
            extra = " (" + ", ".join(f"{k}={config[k]}" for k in differ) + ")"
            s.label += extra
            s.fitness += extra
    return series
