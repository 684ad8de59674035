"""The benchmark interface: result types, the error type, and the cached query every backend shares."""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence, Union

from darts_tse.space.genotype import NUM_ARCHITECTURES, Genotype

from .labels import NB201_DATASETS

DATASETS = NB201_DATASETS  # every result holds these three datasets

ArchLike = Union[Genotype, str, int]


class BenchmarkError(RuntimeError):
    """A benchmark that cannot be read or lacks an architecture; the message names the problem and the fix."""


class ArchitectureNotInBenchmark(BenchmarkError):
    """The benchmark is readable but lacks this architecture (a partial table, fixture or directory)."""


class RecordUnreadable(BenchmarkError):
    """The benchmark is readable but this architecture's own record is not (a corrupt file of a NATS directory)."""


@dataclass(frozen=True)
class SplitAccuracy:
    """200-epoch top-1 accuracy in %, mean over seeds; None where the backend lacks the number."""

    valid: float | None
    test: float | None

    def to_dict(self) -> dict:
        return {"valid": self.valid, "test": self.test}


@dataclass(frozen=True)
class BenchmarkResult:
    """The NB201 numbers of one architecture, ``accuracies`` keyed by :data:`DATASETS`."""

    index: int
    genotype: str
    accuracies: dict[str, SplitAccuracy]

    def to_dict(self) -> dict:
        """``{"index": ..., "genotype": ..., "cifar10": {"valid": ..., "test": ...}, "cifar100": ..., "imagenet16-120": ...}``."""
        out: dict = {"index": self.index, "genotype": self.genotype}
        for dataset in DATASETS:
            out[dataset] = self.accuracies[dataset].to_dict()
        return out


def as_genotype(arch: ArchLike) -> Genotype:
    """A Genotype from a Genotype, an NB201 string or an NB201 index (GenotypeError names a bad string or index)."""
    if isinstance(arch, Genotype):
        return arch
    if isinstance(arch, str):
        return Genotype.parse(arch)
    if isinstance(arch, numbers.Integral) and not isinstance(arch, bool):
        return Genotype.from_index(int(arch))
    raise TypeError(f"expected a Genotype, an NB201 string or an NB201 index, got {type(arch).__name__}")


def number_or_none(value) -> float | None:
    """A plain float, or None for a missing value (None or NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@lru_cache(maxsize=1)
def canonical_arch_strings() -> tuple[str, ...]:
    """NB201 string of every index, in index order (cached: computed once per process, ~0.1 s)."""
    return tuple(genotype.to_str() for genotype in Genotype.all())


def check_arch_strings(archs: Sequence[str], where: str) -> None:
    """Raise BenchmarkError unless ``archs`` (the NB201 meta list of a benchmark) is in official NB201 index order."""
    if len(archs) != NUM_ARCHITECTURES:
        raise BenchmarkError(f"{where} lists {len(archs)} architectures, expected {NUM_ARCHITECTURES}; is it an NB201 topology benchmark?")
    expected = canonical_arch_strings()
    for index, arch in enumerate(archs):
        if arch != expected[index]:
            raise BenchmarkError(f"{where} has architecture {arch!r} at index {index}, but NB201 index {index} is {expected[index]!r}")


class NB201Benchmark(ABC):
    """NB201 look-ups: ``query`` accepts a Genotype, an NB201 string or an index and caches results by index.

    The cache is a per-instance dict (at most 15,625 entries): the search loop queries every epoch.
    """

    source: str
    has_test: bool

    def __init__(self) -> None:
        self._cache: dict[int, BenchmarkResult] = {}

    def query(self, genotype: ArchLike) -> BenchmarkResult:
        """The 200-epoch NB201 numbers of ``genotype``; BenchmarkError if this benchmark lacks the architecture."""
        cell = as_genotype(genotype)
        index = cell.index
        result = self._cache.get(index)
        if result is None:
            result = self._lookup(index, cell)
            self._cache[index] = result
        return result

    @abstractmethod
    def _lookup(self, index: int, genotype: Genotype) -> BenchmarkResult:
        """Read one architecture from the backend (uncached)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"
