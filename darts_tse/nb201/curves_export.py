"""Build a curve store (``curves.py``) from a NATS-Bench topology source through ``nats_bench``, resumably.

An export of all 15,625 architectures reads ~600 ``get_more_info`` results per architecture (0.1 s here) and can
run for an hour or more (four times that with per-seed arrays). Progress is kept in ``OUTPUT.parts/`` beside the
output: every ``shard_size`` architectures are written as one shard, atomically; re-running the same command reads
the shards and continues after the last one (a kill loses at most the unwritten shard). When every architecture is
done the shards are merged into the output (atomically) and the folder is removed.

A record that cannot be read, or lacks a number the store needs, is reported by index with the reason and left out
(never filled in); records reported bad are tried again by the next run, so the store's list of bad records is
complete. Indices asked for that have no record file are reported the same way.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from darts_tse.estimators import read_nats_epochs, read_nats_final
from darts_tse.files import LOCK_FILE, atomic_write, atomic_write_text, run_lock
from darts_tse.space.genotype import NUM_ARCHITECTURES

from .api_backend import API_SOURCES
from .curves import (
    ARCH_COLUMNS,
    CURVE_SOURCES,
    EPOCH_COLUMNS,
    FORMAT,
    FULL_EPOCHS,
    HP,
    SEED_ARCH_COLUMNS,
    SEEDS,
    CurveStore,
    CurveStoreError,
    check_output,
    column_key,
    store_keys,
    write_store,
)
from .nats import NatsBenchmark

SHARD_SIZE = 250
SETTINGS_FILE = "settings.json"
MERGED_FILE = "merged.npz"  # the merged store, checked in the parts folder before it becomes the output


@dataclass
class ExportReport:
    """What an export wrote: the store, how many architectures it holds, the skipped records, what was resumed."""

    output: Path
    exported: int
    resumed: int
    bad: list[dict] = field(default_factory=list)
    coverage: str = ""


def export_curves(source: str | Path, output: str | Path, *, datasets: Sequence[str] = tuple(CURVE_SOURCES),
                  epochs: int = FULL_EPOCHS, per_seed: bool = False, indices: Iterable[int] | None = None,
                  shard_size: int = SHARD_SIZE, overwrite: bool = False, progress: bool = True) -> ExportReport:
    """Write the curve store of ``source`` (a NATS-tss-v1_0-3ffb9-simple directory) to ``output`` (``.npz``).

    ``datasets``: which of cifar10, cifar100, imagenet16-120; ``epochs``: keep epochs 1..E of each curve (the
    200-epoch totals are always kept); ``per_seed``: also each seed's arrays; ``indices``: a subset (default: every
    record file). Refuses an existing ``output`` unless ``overwrite``; resumes from ``OUTPUT.parts/`` (see module).
    """
    datasets, epochs, shard_size = _check_settings(datasets, epochs, shard_size)
    output = Path(output)
    check_output(output, overwrite)
    if not Path(source).exists():
        raise CurveStoreError(f"NATS-Bench source {source} does not exist; give the NATS-tss-v1_0-3ffb9-simple directory")
    bench = NatsBenchmark(source)
    available = bench.available_indexes()
    wanted = sorted(set(available if indices is None else (int(i) for i in indices)))
    if wanted and not 0 <= wanted[0] <= wanted[-1] < NUM_ARCHITECTURES:
        raise CurveStoreError(f"NB201 indices lie in 0..{NUM_ARCHITECTURES - 1}; got {wanted[0]}..{wanted[-1]}")
    absent = [i for i in wanted if i not in set(available)]
    bad = [{"index": i, "reason": f"no record file in {bench.path}"} for i in absent]
    wanted = [i for i in wanted if i not in set(absent)]
    settings = {"format": FORMAT, "source": str(bench.path.resolve()), "datasets": list(datasets), "epochs": epochs,
                "per_seed": per_seed, "indices": None if indices is None else wanted}
    keys = store_keys(datasets, per_seed)

    parts = output.with_name(output.name + ".parts")
    held = False
    try:
        with run_lock(parts):
            held = True
            _check_parts_settings(parts, settings)
            shards = _read_shards(parts, keys)
            done = {int(i) for shard in shards for i in shard["indices"]}
            todo = [i for i in wanted if i not in done]
            number = _next_shard_number(parts)  # after the highest on disk: a deleted shard's number is not reused
            buffer: list[dict] = []
            bar = tqdm(total=len(wanted), initial=len(wanted) - len(todo), desc="export curves", unit="arch",
                       disable=None if progress else True)
            with bar:
                for index in todo:
                    record, reason = read_record(bench, index, datasets, epochs, per_seed)
                    if record is None:
                        bad.append({"index": index, "reason": reason})
                        bar.write(f"skipped NB201 index {index}: {reason}")
                    else:
                        buffer.append(record)
                    if len(buffer) == shard_size:
                        shards.append(_write_shard(parts, number, buffer, keys))
                        number, buffer = number + 1, []
                    bar.update()
                if buffer:
                    shards.append(_write_shard(parts, number, buffer, keys))
            arrays = _merge(shards, keys)
            if not len(arrays["indices"]):
                reasons = "; ".join(f"{b['index']}: {b['reason']}" for b in bad[:3])
                raise CurveStoreError(f"no architecture of {bench.path} could be exported ({reasons})")
            bad.sort(key=lambda b: b["index"])
            meta = _meta(bench, settings, len(arrays["indices"]), bad)
            merged = parts / MERGED_FILE  # checked before it replaces the output and before any shard goes
            atomic_write(merged, lambda handle: write_store(handle, meta, arrays))
            try:
                check = CurveStore(merged)
                for dataset in check.datasets:  # the clock's columns are checked on reading
                    check.curves(dataset).epoch_time, check.curves(dataset).total_time
            except CurveStoreError as error:
                merged.unlink()
                raise CurveStoreError(f"the merged store of {parts} is not valid ({error}); its shards are kept "
                                      f"there, and {output} is untouched") from None
            os.replace(merged, output)
    except BaseException:
        if held:
            _remove_if_no_shards(parts)  # nothing to continue: the next export may use other flags
        raise
    shutil.rmtree(parts)
    return ExportReport(output=output, exported=len(arrays["indices"]), resumed=len(done), bad=bad,
                        coverage=CurveStore(output).coverage)


# ---- one record -------------------------------------------------------------------------------------------------
def read_record(bench: NatsBenchmark, index: int, datasets: Sequence[str], epochs: int,
                per_seed: bool) -> tuple[dict | None, str]:
    """The store's arrays of one architecture (``{key: array}`` plus ``indices``), or (None, the reason it is bad)."""
    try:
        bench._prepare(index)
        record: dict = {"indices": np.int64(index)}
        for dataset in datasets:
            columns = _run_columns(bench.api, index, dataset, epochs, False)
            for name in EPOCH_COLUMNS + ARCH_COLUMNS:
                record[column_key(dataset, name)] = columns[name]
            if per_seed:
                record.update(_seed_columns(bench.api, index, dataset, epochs))
        return record, ""
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of one record is reported by index and skipped
        return None, " ".join(f"{type(error).__name__}: {error}".split())
    finally:
        bench._release(index)


def _run_columns(api, index: int, dataset: str, epochs: int, is_random: bool | int) -> dict[str, np.ndarray]:
    """The columns of one dataset from ``get_more_info`` (mean over seeds, or one seed), as the module docstring says."""
    source = CURVE_SOURCES[dataset]
    infos = read_nats_epochs(api, index, source, epochs=epochs, hp=HP, is_random=is_random)
    train_loss = _required(infos, "train-loss", source)
    all_time = _required(infos, "train-all-time", source)
    epoch_time = np.diff(all_time, prepend=0.0)
    if np.any(epoch_time <= 0):  # the query clock charges these seconds: each epoch must take time
        raise ValueError(f"{source} train-all-time does not increase at epoch {int(np.argmax(epoch_time <= 0)) + 1}")
    (valid_ds, valid_key), (test_ds, test_key) = API_SOURCES[dataset]
    return {
        "train_loss": train_loss,
        "valid_loss": _optional(infos, "valid-loss"),
        "valid_acc": _optional(infos, "valid-accuracy"),
        "valtest_acc": _optional(infos, "valtest-accuracy"),
        "epoch_time": epoch_time,
        "total_time": _final(api, index, source, "train-all-time", is_random),
        "final_valid": _final(api, index, valid_ds, valid_key, is_random),
        "final_test": _final(api, index, test_ds, test_key, False) if is_random is False else np.float64(math.nan),
    }


def _seed_columns(api, index: int, dataset: str, epochs: int) -> dict[str, np.ndarray]:
    """Each of SEEDS' columns, stacked on a seed axis; NaN rows for a seed the record lacks."""
    present = set(api.arch2infos_dict[index][HP].get_dataset_seeds(CURVE_SOURCES[dataset]))
    per_seed = [_run_columns(api, index, dataset, epochs, seed) if seed in present else None for seed in SEEDS]
    out = {}
    for name in EPOCH_COLUMNS + SEED_ARCH_COLUMNS:
        shape = (epochs,) if name in EPOCH_COLUMNS else ()
        out[column_key(dataset, name, True)] = np.stack(
            [np.full(shape, math.nan) if columns is None else columns[name] for columns in per_seed])
    return out


def _required(infos: list[dict], key: str, source: str) -> np.ndarray:
    values = _optional(infos, key)
    if not np.isfinite(values).all():
        raise ValueError(f"{source} has no finite {key} at epoch {int(np.argmin(np.isfinite(values))) + 1}")
    return values


def _optional(infos: list[dict], key: str) -> np.ndarray:
    return np.array([math.nan if info.get(key) is None else float(info[key]) for info in infos], dtype=np.float64)


def _final(api, index: int, api_dataset: str, key: str, is_random: bool | int) -> np.float64:
    value = read_nats_final(api, index, api_dataset, hp=HP, is_random=is_random).get(key)
    if value is None or not math.isfinite(float(value)):
        raise ValueError(f"{api_dataset} has no finite {key} after {FULL_EPOCHS} epochs")
    return np.float64(value)


# ---- shards and the merged store --------------------------------------------------------------------------------
def _check_settings(datasets: Sequence[str], epochs: int, shard_size: int) -> tuple[tuple[str, ...], int, int]:
    datasets = tuple(dict.fromkeys(datasets))
    unknown = [d for d in datasets if d not in CURVE_SOURCES]
    if unknown or not datasets:
        raise CurveStoreError(f"unknown dataset(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(CURVE_SOURCES)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= FULL_EPOCHS:
        raise CurveStoreError(f"--curve-epochs must be an integer in 1..{FULL_EPOCHS}, got {epochs!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise CurveStoreError(f"--shard-size must be a positive integer, got {shard_size!r}")
    return datasets, epochs, shard_size


def _check_parts_settings(parts: Path, settings: dict) -> None:
    """Write the settings of a new export; refuse to continue one started with other settings (one that wrote no
    shard has nothing to continue: its settings are replaced)."""
    file = parts / SETTINGS_FILE
    if file.is_file() and _shard_files(parts):
        try:
            previous = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as error:  # also not UTF-8
            raise CurveStoreError(f"{file} is not JSON ({error}); restore it, or move {parts} aside to start the "
                                  f"export afresh") from error
        if not isinstance(previous, dict):
            raise CurveStoreError(f"{file} is not an export's settings (a JSON {type(previous).__name__}, not an "
                                  f"object); restore it, or move {parts} aside to start the export afresh")
        if previous != settings:
            differ = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise CurveStoreError(f"{parts} holds an export started with other settings ({', '.join(differ)} differ); "
                                  f"rerun with the same flags to continue it, or move {parts} aside to start afresh")
    else:
        atomic_write_text(file, json.dumps(settings) + "\n")


def _shard_files(parts: Path) -> list[Path]:
    return sorted(parts.glob("shard-*.npz"))


def _next_shard_number(parts: Path) -> int:
    numbers = [int(file.stem[len("shard-"):]) for file in _shard_files(parts) if file.stem[len("shard-"):].isdigit()]
    return max(numbers, default=-1) + 1


def _remove_if_no_shards(parts: Path) -> None:
    """Remove what an export that wrote no shard left in ``parts`` (its settings and lock), and the folder if that
    empties it; never a shard, never another file."""
    if parts.is_dir() and not _shard_files(parts):
        for name in (SETTINGS_FILE, LOCK_FILE):
            (parts / name).unlink(missing_ok=True)
        try:
            parts.rmdir()
        except OSError:  # it holds something else: left alone
            pass


def _read_shards(parts: Path, keys: list[str]) -> list[dict]:
    """Every shard in `parts`; CurveStoreError naming the file for one that cannot be read, and for two shards that
    hold the same architecture (a copied or renamed shard): the merge would hold it twice."""
    shards, owner = [], {}
    for file in _shard_files(parts):
        try:
            with np.load(file, allow_pickle=False) as data:
                shard = {key: np.asarray(data[key]) for key in ["indices", *keys]}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise CurveStoreError(f"cannot read export shard {file} ({type(error).__name__}: {error}); move that file "
                                  f"out of {parts} to export its architectures again") from error
        for index in np.atleast_1d(shard["indices"]).tolist():
            if index in owner:
                raise CurveStoreError(f"export shards {owner[index].name} and {file.name} in {parts} both hold NB201 "
                                      f"index {index} (a copied shard?); move one of them out of {parts} and rerun")
            owner[index] = file
        shards.append(shard)
    return shards


def _write_shard(parts: Path, number: int, records: list[dict], keys: list[str]) -> dict:
    shard = {"indices": np.stack([r["indices"] for r in records])}
    shard.update({key: np.stack([r[key] for r in records]).astype(_dtype(key)) for key in keys})  # the store's dtypes
    atomic_write(parts / f"shard-{number:05d}.npz", lambda handle: np.savez_compressed(handle, **shard))
    return shard


def _merge(shards: list[dict], keys: list[str]) -> dict[str, np.ndarray]:
    if not shards:
        return {"indices": np.zeros(0, dtype=np.int64)}
    indices = np.concatenate([s["indices"] for s in shards]).astype(np.int64)
    order = np.argsort(indices, kind="stable")
    arrays = {"indices": indices[order]}
    for key in keys:
        arrays[key] = np.concatenate([s[key] for s in shards])[order].astype(_dtype(key))  # shards of older exports: float64
    return arrays


def _dtype(key: str):
    """The store's dtype of an array key: float64 for the per-architecture numbers, float32 for the curves."""
    return np.float64 if key.rsplit(".", 1)[-1] in ARCH_COLUMNS else np.float32


def _meta(bench: NatsBenchmark, settings: dict, count: int, bad: list[dict]) -> dict:
    try:
        version = metadata.version("nats_bench")
    except metadata.PackageNotFoundError:  # pragma: no cover - nats_bench imported fine above
        version = None
    return {
        "format": FORMAT,
        "kind": "darts_tse NB201 learning-curve store",
        "source": bench.source,
        "hp": HP,
        "epochs": settings["epochs"],
        "datasets": settings["datasets"],
        "curve_sources": {d: CURVE_SOURCES[d] for d in settings["datasets"]},
        "per_seed": settings["per_seed"],
        "seeds": list(SEEDS) if settings["per_seed"] else None,
        "num_architectures": count,
        "of": NUM_ARCHITECTURES,
        "bad": bad,
        "nats_bench": version,
        "curves": "mean over the benchmark's seeds (get_more_info is_random=False)",
    }
