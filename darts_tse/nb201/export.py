"""Export an official ``.pth`` or a NATS-Bench source to a CSV table, so the multi-GB load is paid once."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from .api_backend import ApiBenchmark
from .base import BenchmarkError
from .loader import load_benchmark
from .table import format_row, write_table


def export_table(source: str | Path, output: str | Path, progress: bool = True) -> int:
    """Write every architecture ``source`` holds to ``output`` (nb201_accuracy.csv columns); returns the row count."""
    benchmark = load_benchmark(source)
    if not isinstance(benchmark, ApiBenchmark):
        raise BenchmarkError(f"{source} is already a table; export reads an official .pth or a NATS-Bench directory")
    indexes = benchmark.available_indexes()
    if not indexes:
        raise BenchmarkError(f"{benchmark.source} holds no architectures to export")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    try:
        count = write_table(partial, _rows(benchmark, indexes, progress))
        partial.replace(output)  # a failed export leaves no table that looks complete
    finally:
        partial.unlink(missing_ok=True)  # nor a half-written .partial beside it
    return count


def _rows(benchmark: ApiBenchmark, indexes: list[int], progress: bool) -> Iterator[list[str]]:
    for index in tqdm(indexes, desc="export NB201", unit="arch", disable=None if progress else True):
        result, seeds = benchmark.read(index)
        yield format_row(result, seeds)
