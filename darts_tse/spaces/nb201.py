"""The NB201 space, whole: :class:`NB201Info` and what it builds (the supernet, random paths, the NB201 look-up)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch

from ..nb201 import ArchitectureNotInBenchmark, BenchmarkError, NB201Benchmark, RecordUnreadable, load_benchmark
from ..space import NUM_EDGES, NUM_OPS, Genotype, NB201SearchNetwork
from ..space.size import size_baselines
from .base import SearchSpace
from .nb201_info import NB201Info, nb201_dataset_for

log = logging.getLogger(__name__)
Path_ = tuple[int, ...]  # a path: one op index (into space.OPS) per edge


def random_cells(count: int, seed: int) -> list[Path_]:
    """`count` distinct uniformly random paths (cells), the same for a seed in every process (their own generator):
    the first `count` of a seeded permutation of all 15,625, as base-5 codes (edge 0 the most significant digit)."""
    total = NUM_OPS**NUM_EDGES
    if not 1 <= count <= total:
        raise ValueError(f"the number of distinct cells must lie in 1..{total}, got {count}")
    codes = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[:count].tolist()
    return [tuple((code // NUM_OPS**(NUM_EDGES - 1 - edge)) % NUM_OPS for edge in range(NUM_EDGES)) for code in codes]


def random_path(generator: torch.Generator) -> Path_:
    """A uniformly random path: an independent uniform op on each of the 6 edges."""
    return tuple(torch.randint(0, NUM_OPS, (NUM_EDGES,), generator=generator).tolist())


def nb201_lookup(benchmark: NB201Benchmark, genotype: Genotype) -> tuple[int, dict | None]:
    """(NB201 index, {dataset: {valid, test}}) of `genotype`; the numbers are None, with a warning, where a partial
    benchmark lacks the architecture or its record is corrupt (an unreadable benchmark or a missing package still
    raises)."""
    try:
        result = benchmark.query(genotype)
    except (ArchitectureNotInBenchmark, RecordUnreadable) as error:
        log.warning("no NB201 numbers for %s: %s", genotype.to_str(), error)
        return genotype.index, None
    return result.index, {k: v for k, v in result.to_dict().items() if k not in ("index", "genotype")}


class NB201Space(NB201Info, SearchSpace):
    """NAS-Bench-201 (the project's default space)."""

    has_cell_baselines = True

    def cell_baselines(self, genotype: Genotype, dataset: str) -> dict:
        return size_baselines(genotype, nb201_dataset_for(dataset))

    def build_supernet(self, config, num_classes: int, mixing, *, autocast_dtype=None) -> NB201SearchNetwork:
        return NB201SearchNetwork(config.C, config.N, num_classes, mixing=mixing,
                                  track_running_stats=config.track_running_stats,
                                  channels_last=config.channels_last, autocast_dtype=autocast_dtype)

    def random_path(self, generator: torch.Generator) -> Path_:
        return random_path(generator)

    def fair_paths(self, generator: torch.Generator) -> list[Path_]:
        """An independent random permutation of the 5 ops on each edge; path k takes the k-th op of every edge's
        permutation, so the 5 paths train every op of every edge exactly once."""
        orders = [torch.randperm(NUM_OPS, generator=generator).tolist() for _ in range(NUM_EDGES)]
        return [tuple(order[k] for order in orders) for k in range(NUM_OPS)]

    def distinct_paths(self, count: int, seed: int) -> list[Genotype]:
        return [Genotype.from_op_indices(path) for path in random_cells(count, seed)]

    def load_benchmark(self, path: str | None) -> NB201Benchmark:
        if path is not None and Path(path).name.lower().endswith(".onnx"):
            raise BenchmarkError(f"--benchmark {path} is an ONNX file (the NB301 surrogate of the DARTS space); an NB201 "
                              f"run takes an NB201 table, .pth, NATS-Bench directory or curve store, or pass "
                              f"--space darts")
        return load_benchmark(path)

    def benchmark_fields(self, benchmark: NB201Benchmark, genotypes: Sequence[Genotype]) -> list[dict]:
        fields = []
        for genotype in genotypes:
            index, nb201 = nb201_lookup(benchmark, Genotype.from_op_indices(genotype)
                                        if not isinstance(genotype, Genotype) else genotype)
            fields.append({"nb201_index": index, "nb201": nb201})
        return fields
