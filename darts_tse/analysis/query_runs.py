"""Finished query-based search runs (``scripts/query_search.py``): reading them, and their mean ± std over runs on a
common simulated clock (torch-free, matplotlib-free).

Each run is a step function of the clock: after the query that ends at clock c_i its value is that row's (the
incumbent's test accuracy, say) until the next query ends. Runs that differ only in their seed form one group; a
group's curve is the mean over its runs at clocks where every run has finished a query and none has stopped.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runs import RunDirError, read_jsonl

QUERY_METRICS: dict[str, tuple[str, str]] = {
    "test": ("incumbent_test", "test accuracy of the incumbent (best fitness so far)"),
    "regret": ("regret", "test regret of the incumbent (optimum − its test accuracy)"),
    "best-test": ("best_test", "best test accuracy among the cells queried so far"),
    "best-regret": ("best_regret", "test regret of the best cell queried so far"),
}
BANDS = ("std", "sem")
CONFIG_KEYS = ("dataset", "algorithm", "fitness_label", "labels", "store", "optimum")
SEED_SETTINGS = frozenset({"seed", "run", "runs", "out_dir", "wallclock", "max_queries", "storage", "study_name",
                           "curves", "store"})  # the store is compared by what it holds (_store), not by its path
ALGORITHM_NAMES = {"rs": "RS", "re": "RE", "tpe": "TPE"}


@dataclass
class QueryRun:
    """One finished run: its directory, config.json, query.jsonl rows and summary.json."""

    path: Path
    config: dict
    rows: list[dict]
    summary: dict

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
        """'243 of 15,625 NB201 architectures'."""
        return f"{self.config['store'].get('num_architectures', 0):,} of 15,625 NB201 architectures"

    def values(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(clock in seconds, the metric) after each query."""
        key = QUERY_METRICS[metric][0]
        return (np.array([row["clock_s"] for row in self.rows], dtype=float),
                np.array([row[key] for row in self.rows], dtype=float))


@dataclass
class QuerySeries:
    """A group's mean and spread (std or sem, see ``band``) over ``n`` runs at ``clock_s``; ``store`` identifies the
    curve store (what it holds and its optimum), ``fitness`` is the legend name (with settings that tell twins apart)."""

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


def load_query_run(path: str | Path) -> QueryRun:
    """A finished query run; RunDirError naming what is missing otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory; give the run directories scripts/query_search.py wrote")
    files = {name: path / name for name in ("config.json", "query.jsonl", "summary.json")}
    if not files["query.jsonl"].is_file():
        raise RunDirError(f"{path} is not a query-search run (it has no query.jsonl)")
    if not files["summary.json"].is_file():
        raise RunDirError(f"{path} has no summary.json: its search did not finish; rerun it, or leave it out")
    config, summary = (_read_object(files[name]) for name in ("config.json", "summary.json"))
    lacking = [key for key in CONFIG_KEYS if key not in config]
    if config.get("kind") != "query-based NAS" or lacking:
        raise RunDirError(f"{files['config.json']} is not the config of a query-based search"
                          + (f" (it lacks {', '.join(lacking)})" if lacking else ""))
    rows = read_jsonl(files["query.jsonl"])
    if not rows or len(rows) != summary.get("queries"):
        raise RunDirError(f"{path}: query.jsonl has {len(rows)} rows but summary.json counts {summary.get('queries')}")
    keys = {"clock_s"} | {key for key, _ in QUERY_METRICS.values()}
    bad = next((number for number, row in enumerate(rows, 1) if not keys <= set(row)), None)
    if bad is not None:
        raise RunDirError(f"{files['query.jsonl']} line {bad} lacks {', '.join(sorted(keys - set(rows[bad - 1])))}")
    return QueryRun(path, config, rows, summary)


def group_query_runs(runs: list[QueryRun]) -> list[list[QueryRun]]:
    """Runs that differ only in their seed (and output, stopping rule, storage), in first-seen order."""
    groups: dict[tuple, list[QueryRun]] = {}
    for run in runs:
        key = (_store(run), *sorted((k, json_key(v)) for k, v in run.config.items() if k not in SEED_SETTINGS))
        groups.setdefault(key, []).append(run)
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
                                  values.mean(axis=0), spread, band, _store(first)))
    _check_stores(series)
    return _distinct_labels(series, groups)


def format_query_table(series: list[QuerySeries], metric: str) -> str:
    """A text table: each group's mean ± spread at the last common clock."""
    lines = [f"{QUERY_METRICS[metric][1]}, at the last clock every run of a group reached (mean ± {series[0].band} "
             f"over runs)" if series else "no runs"]
    for s in series:
        lines.append(f"  {s.dataset:15s} {s.label:28s} n={s.n:<3d} {s.clock_s[-1] / 3600:9.2f} h   "
                     f"{s.mean[-1]:7.2f} ± {s.spread[-1]:.2f}")
    return "\n".join(lines)


def json_key(value):
    """A hashable form of a config value."""
    return repr(value) if isinstance(value, (dict, list)) else value


def _read_object(file: Path) -> dict:
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunDirError(f"cannot read {file} ({error}); it is written by scripts/query_search.py") from error
    if not isinstance(value, dict):
        raise RunDirError(f"{file} is not a JSON object")
    return value


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
            differ = sorted(k for k in config if k not in SEED_SETTINGS
                            and any(json_key(t[0].config.get(k)) != json_key(config[k]) for t in twins))
            extra = " (" + ", ".join(f"{k}={config[k]}" for k in differ) + ")"
            s.label += extra
            s.fitness += extra
    return series
