"""``load_benchmark``: pick the backend by what the path is."""
from __future__ import annotations

from pathlib import Path

from .base import BenchmarkError, NB201Benchmark
from .curves import CurvesBenchmark
from .nats import NatsBenchmark
from .official import OfficialBenchmark
from .offline import OfflineBenchmark, warn_offline_once
from .table import TableBenchmark

KINDS_HINT = (
    "pass a table CSV (make one with scripts/export_nb201_table.py), the official NAS-Bench-201-v1_*.pth, "
    "a NATS-tss-v1_0-3ffb9-simple directory, or a curve store .npz (scripts/export_nb201_curves.py)"
)


def load_benchmark(path: str | Path | None) -> NB201Benchmark:
    """``None`` → offline valid-only default (warns once); a directory → NATS-Bench (fast mode); ``*.csv`` → table;
    ``*.pth`` → official NAS-Bench-201 file; ``*.pickle.pbz2`` → single-file NATS-Bench; ``*.npz`` → curve store.
    Else BenchmarkError."""
    if path is None:
        warn_offline_once()
        return OfflineBenchmark()
    path = Path(path).expanduser()
    if not path.exists():
        raise BenchmarkError(f"benchmark path {path} does not exist; {KINDS_HINT}")
    name = path.name.lower()
    if path.is_dir() or name.endswith(".pickle.pbz2"):
        return NatsBenchmark(path)
    if name.endswith(".csv"):
        return TableBenchmark(path)
    if name.endswith(".pth"):
        return OfficialBenchmark(path)
    if name.endswith(".npz"):
        return CurvesBenchmark(path)
    raise BenchmarkError(f"unknown benchmark format {path.name!r} (expected .csv, .pth, .pickle.pbz2, .npz or a "
                         f"directory); {KINDS_HINT}")
