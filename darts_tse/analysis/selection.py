"""Which runs a report reads, from the paths a user gives (``runs/*``): a ``runs/`` folder as it really is.

A path may be a run directory, a sweep folder (``sweep.json``: its job directories), a compare-methods folder
(``compare_methods.json`` and its sweep in ``runs/``), or a folder of query-search runs (plot_query). What a report
cannot use is left out with a one-line note, never silently: a run with no finished epoch (a failed start, a run in
its first epoch), a query search that did not finish, a run of another kind (a query run given to compare_runs, a
one-shot supernet given to compare_runs). A search run twice with the same settings and seed (the smoke command run
twice) counts once: the newest (the one whose metrics.jsonl was written last), with a note naming the others.
Imports neither torch nor matplotlib; reads only JSON.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

from .runs import NoFinishedEpoch, Run, RunDirError, check_search_run, load_run, read_json_object
from .seed_groups import search_settings

Note = Callable[[str], None]
SWEEP_RECORD = "sweep.json"                 # darts_tse.sweeps.record.SWEEP_FILE
COMPARISON_RECORD = "compare_methods.json"  # darts_tse.cli.compare_methods.SETTINGS_FILE
COMPARISON_RUNS = "runs"                    # its sweep folder
QUERY_LOG = "query.jsonl"                   # a query-search run (darts_tse.query)


def _quiet(line: str) -> None:
    """The default note: drop it."""


def expand_folders(paths: Iterable[str | Path], note: Note = _quiet) -> list[Path]:
    """`paths` with every sweep folder replaced by its job directories (in sweep.json's order) and every
    compare-methods folder by its searches; other paths as given. A path given twice (``runs/sweep runs/sweep/*/``)
    is kept once."""
    out: list[Path] = []
    records = []
    for path in map(Path, paths):
        if path.is_file() and path.name == SWEEP_RECORD:  # `DIR/*` of a sweep folder matches its record
            records.append(path)  # its jobs are the other paths of the glob; alone, the reader says what to pass
            continue
        if path.is_dir() and (path / COMPARISON_RECORD).is_file() and (path / COMPARISON_RUNS).is_dir():
            note(f"{path}: a compare-methods folder; reading its searches in {path / COMPARISON_RUNS}")
            path = path / COMPARISON_RUNS
        if path.is_dir() and (path / SWEEP_RECORD).is_file():
            out += _sweep_jobs(path, note)
        else:
            out.append(path)
    if not out:
        out = records
    kept, seen = [], set()
    for path in out:
        if path.resolve() in seen:
            note(f"{path} is given twice: counting it once")
            continue
        seen.add(path.resolve())
        kept.append(path)
    return kept


def _sweep_jobs(folder: Path, note: Note) -> list[Path]:
    """The job directories of a sweep folder that exist (a job not yet started has none: noted)."""
    document = read_json_object(folder / SWEEP_RECORD, written_by="the sweep command")
    jobs = document.get("jobs")
    if not isinstance(jobs, list) or not all(isinstance(job, dict) and isinstance(job.get("name"), str)
                                             for job in jobs):
        raise RunDirError(f"{folder / SWEEP_RECORD} is damaged (no list of named jobs); it is written by the sweep "
                          f"command, restore it")
    started = [folder / job["name"] for job in jobs if (folder / job["name"]).is_dir()]
    if len(started) < len(jobs):
        note(f"{folder}: {len(jobs) - len(started)} of its {len(jobs)} jobs have no run directory yet (not started)")
    return started


def is_query_run(path: Path) -> bool:
    """Whether `path` is a query-search run directory (it has query.jsonl)."""
    return (path / QUERY_LOG).is_file()


def load_search_runs(paths: Iterable[str | Path], note: Note = _quiet, *, searches_only: bool = False) -> list[Run]:
    """The runs of `paths` (folders expanded) that a report of searches can read, each search counted once.

    Left out, each with a note: runs with no finished epoch, query-search runs, and with `searches_only` one-shot
    supernet runs (they derive no genotype). RunDirError when nothing is left (naming why the first was left out),
    or for a damaged run (a report never reads around damage)."""
    runs, reasons, unfinished = [], [], 0
    for path in expand_folders(paths, note):
        reason = None
        if path.is_dir() and is_query_run(path):
            reason = f"{path} is a query-based search (plot-query reads it)"
        else:
            try:
                run = load_run(path)
            except NoFinishedEpoch as error:
                reason, unfinished = str(error), unfinished + 1
            else:
                try:
                    runs.append(check_search_run(run) if searches_only else run)
                except RunDirError as error:  # a one-shot supernet's run
                    reason = str(error)
        if reason:
            reasons.append(reason)
    if not runs:
        if unfinished == len(reasons):
            raise RunDirError(f"none of the {len(reasons)} run directories given has a finished epoch yet")
        raise RunDirError(reasons[0] if len(reasons) == 1 else
                          f"none of the {len(reasons)} paths given is a search run with a finished epoch "
                          f"({reasons[0]}; ...)")
    for reason in reasons:  # noted only when there is a report to make (else the error says it, in one line)
        note(f"skipping {reason}")
    return count_repeats_once(runs, note)


def query_run_paths(paths: Iterable[str | Path], note: Note = _quiet) -> list[Path]:
    """The finished query-search runs among `paths`: run directories, and the folders that hold them (the
    ``-o/--out`` of query-search, ``runs/``). Left out with a note: an unfinished query run (no summary.json) and
    what is not a query run (a search, a sweep). RunDirError when nothing is left."""
    found, reasons, skipped = [], [], []
    for path in map(Path, paths):
        if path.is_dir() and not is_query_run(path):
            inside = sorted(child for child in path.iterdir() if child.is_dir() and is_query_run(child))
            if inside:
                note(f"{path}: reading the {len(inside)} query-search runs in it")
            candidates = inside or [path]
        else:
            candidates = [path]
        for candidate in candidates:
            if candidate.is_dir() and not is_query_run(candidate):
                reason = f"{candidate} is not a query-search run (no {QUERY_LOG})"
            elif candidate.is_dir() and not (candidate / "summary.json").is_file():
                reason = f"{candidate}: its query search did not finish (no summary.json)"
            else:
                found.append(candidate)  # a finished run, or a path load_query_run explains
                continue
            reasons.append(reason)
            skipped.append(candidate)
    if not found and len(skipped) == 1:
        return skipped  # one path alone: the run reader says what it lacks, as for any path given alone
    if not found:
        raise RunDirError(f"none of the {len(reasons)} paths given is a finished query-search run ({reasons[0]}; ...)"
                          if reasons else "no run directory given")
    for reason in reasons:
        note(f"skipping {reason}")
    return list(dict.fromkeys(found))


def repeat_key(run: Run) -> str | None:
    """What makes two runs the same search: their search settings and seed (None for a run without a readable
    config, which is never taken for a repeat)."""
    try:
        settings = search_settings(run)
    except RunDirError:
        return None
    return json.dumps([settings, run.config.get("seed")], sort_keys=True)


def count_repeats_once(runs: list[Run], note: Note = _quiet) -> list[Run]:
    """`runs` with each repeated search (same settings and seed) kept once: the newest (metrics.jsonl written
    last; ties: the later directory name), in the place of the first; a note names the ones left out."""
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        key = repeat_key(run)
        if key is not None:
            by_key.setdefault(key, []).append(run)
    kept = []
    for run in runs:
        key = repeat_key(run)
        same = by_key.get(key, [run]) if key is not None else [run]
        if run is not same[0]:
            continue
        newest = max(same, key=lambda r: ((r.path / "metrics.jsonl").stat().st_mtime_ns, r.path.name))
        if len(same) > 1:
            others = ", ".join(str(r.path) for r in same if r is not newest)
            note(f"{newest.path} repeats the search of {others} (same settings, seed {newest.config.get('seed')}): "
                 f"counting the newest, {newest.path}, once")
        kept.append(newest)
    return kept
