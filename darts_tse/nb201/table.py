"""The table backend: a CSV in the nb201_accuracy.csv format, loaded once into arrays indexed by NB201 index.

Columns: ``index, arch``, then ``{prefix}_valid, {prefix}_test`` per dataset and the optional ``{prefix}_valid_seeds``
(space-separated per-seed valid accuracies), with prefixes ``cifar10, cifar100, imagenet16``. An empty cell is a
missing number (read as None). The table may hold a subset of the architectures (an export of a partial source).
"""
from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from darts_tse.commands import invocation
from darts_tse.space.genotype import NUM_ARCHITECTURES, Genotype

from .base import (
    DATASETS,
    ArchitectureNotInBenchmark,
    BenchmarkError,
    BenchmarkResult,
    NB201Benchmark,
    SplitAccuracy,
    canonical_arch_strings,
    number_or_none,
)

COLUMN_PREFIX: dict[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet16"}
ACCURACY_COLUMNS: tuple[str, ...] = tuple(f"{COLUMN_PREFIX[d]}_{split}" for d in DATASETS for split in ("valid", "test"))
SEED_COLUMNS: tuple[str, ...] = tuple(f"{COLUMN_PREFIX[d]}_valid_seeds" for d in DATASETS)
REQUIRED_COLUMNS: tuple[str, ...] = ("index", "arch") + ACCURACY_COLUMNS
TABLE_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + SEED_COLUMNS
def export_hint() -> str:
    """How to make a table (naming the command the way the user runs this one)."""
    return f"make one with: {invocation('export-nb201-table')} SOURCE -o table.csv"
logger = logging.getLogger(__name__)


class TableBenchmark(NB201Benchmark):
    """NB201 numbers from a CSV table (see the module docstring for its columns)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.source = f"table {self.path.name}"
        self._present, self._arrays = _read_table(self.path)
        rows = int(self._present.sum())
        if rows == 0:
            raise BenchmarkError(f"table {path} has a header but no architecture (a failed export?); {export_hint()}")
        if rows < NUM_ARCHITECTURES:
            logger.warning("table %s holds %d of the %d NB201 architectures (%d missing): epochs whose genotype it "
                           "lacks get nb201: null", self.path, rows, NUM_ARCHITECTURES, NUM_ARCHITECTURES - rows)
        self.has_test = any(
            not np.isnan(self._arrays[f"{COLUMN_PREFIX[d]}_test"][self._present]).all() for d in DATASETS
        )

    def __len__(self) -> int:
        return int(self._present.sum())

    def _lookup(self, index: int, genotype: Genotype) -> BenchmarkResult:
        if not self._present[index]:
            raise ArchitectureNotInBenchmark(
                f"table {self.path} has no row for NB201 index {index} ({genotype.to_str()}); "
                f"use a complete table ({export_hint()} from the full official .pth or NATS directory)"
            )
        accuracies = {
            d: SplitAccuracy(
                valid=number_or_none(self._arrays[f"{COLUMN_PREFIX[d]}_valid"][index]),
                test=number_or_none(self._arrays[f"{COLUMN_PREFIX[d]}_test"][index]),
            )
            for d in DATASETS
        }
        return BenchmarkResult(index=index, genotype=genotype.to_str(), accuracies=accuracies)


def _read_table(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Parse and validate the CSV; returns the presence mask and one float array per accuracy column."""
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise BenchmarkError(f"cannot read table {path}: {error}") from error
    if header is None:
        raise BenchmarkError(f"table {path} is empty; expected the columns {', '.join(TABLE_COLUMNS)} ({export_hint()})")
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise BenchmarkError(
            f"table {path} lacks the column(s) {', '.join(missing)}; expected the columns of nb201_accuracy.csv: "
            f"{', '.join(TABLE_COLUMNS)} ({export_hint()})"
        )
    position = {name: header.index(name) for name in REQUIRED_COLUMNS}
    rows = [row for row in rows if row]
    if any(len(row) != len(header) for row in rows):
        bad = next(number for number, row in enumerate(rows, start=2) if len(row) != len(header))
        raise BenchmarkError(f"table {path} line {bad} has a different number of cells than its header")

    indices = _column_ints(rows, position["index"], path)
    if len(indices) and (indices.min() < 0 or indices.max() >= NUM_ARCHITECTURES):
        raise BenchmarkError(f"table {path} has an index outside 0..{NUM_ARCHITECTURES - 1}")
    if len(np.unique(indices)) != len(indices):
        raise BenchmarkError(f"table {path} lists some NB201 index more than once")
    expected = canonical_arch_strings()
    column = position["arch"]
    for row, index in zip(rows, indices.tolist()):
        if row[column].strip() != expected[index]:
            raise BenchmarkError(
                f"table {path} row for index {index} has arch {row[column]!r}, but NB201 index {index} is "
                f"{expected[index]!r}; the table's index and arch columns disagree"
            )

    present = np.zeros(NUM_ARCHITECTURES, dtype=bool)
    present[indices] = True
    arrays = {}
    for name in ACCURACY_COLUMNS:
        values = np.full(NUM_ARCHITECTURES, np.nan)
        values[indices] = _column_floats(rows, position[name], name, path)
        arrays[name] = values
    return present, arrays


def _column_ints(rows: list[list[str]], column: int, path: Path) -> np.ndarray:
    try:
        return np.array([int(row[column]) for row in rows], dtype=np.int64)
    except ValueError as error:
        raise BenchmarkError(f"table {path} has a non-integer index: {error}") from error


def _column_floats(rows: list[list[str]], column: int, name: str, path: Path) -> np.ndarray:
    cells = [row[column].strip() for row in rows]
    try:
        return np.array([float(cell) if cell else math.nan for cell in cells], dtype=np.float64)
    except ValueError as error:
        raise BenchmarkError(f"table {path} column {name} holds a non-number: {error}") from error


def format_row(result: BenchmarkResult, valid_seeds: Mapping[str, Sequence[float] | None]) -> list[str]:
    """One table row (cells in TABLE_COLUMNS order); floats written exactly (repr), missing numbers empty."""

    def cell(value: float | None) -> str:
        return "" if value is None else repr(float(value))

    out = [str(result.index), result.genotype]
    for d in DATASETS:
        out += [cell(result.accuracies[d].valid), cell(result.accuracies[d].test)]
    for d in DATASETS:
        seeds = valid_seeds.get(d)
        out.append("" if not seeds else " ".join(repr(float(v)) for v in seeds))
    return out


def write_table(path: str | Path, rows: Iterable[list[str]]) -> int:
    """Write rows from :func:`format_row` under the TABLE_COLUMNS header; returns the number of rows."""
    count = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TABLE_COLUMNS)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
