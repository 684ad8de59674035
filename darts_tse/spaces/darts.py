"""The DARTS space, whole: :class:`DartsInfo` and what it builds (the supernet, random paths, the NB301 surrogate)."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from ..darts_space import DartsGenotype, DartsSearchNetwork
from ..darts_space.genotype import CELL_TYPES, CONCAT, NUM_INPUTS, NUM_NODES
from ..nb301 import NB301Surrogate, load_benchmark
from .base import SearchSpace
from .darts_info import NB301_LABEL, OP_LISTS, DartsInfo

log = logging.getLogger(__name__)
NO_BENCHMARK = ("no benchmark numbers in the DARTS space: pass --benchmark PATH/model_v2.onnx (the NB301 surrogate, "
                "YAHPO Gym v2) to record each epoch's genotype's " + NB301_LABEL)


@lru_cache(maxsize=1)
def _say_no_benchmark_once() -> None:
    log.warning("%s", NO_BENCHMARK)


class DartsSpace(DartsInfo, SearchSpace):
    """The DARTS space (Liu et al., ICLR 2019): 8 cells at C = 16, reduction cells at layers//3 and 2·layers//3."""

    def build_supernet(self, config, num_classes: int, mixing, *, autocast_dtype=None) -> DartsSearchNetwork:
        return DartsSearchNetwork(config.C, config.layers, num_classes, mixing=mixing, ops=OP_LISTS[config.ops],
                                  partial_channels=config.partial_channels or 1,
                                  track_running_stats=config.track_running_stats,
                                  channels_last=config.channels_last, autocast_dtype=autocast_dtype)

    # ---- paths -------------------------------------------------------------------------------------------------
    def random_path(self, generator: torch.Generator) -> DartsGenotype:
        """RandNAS in the DARTS space: ``DartsGenotype.random`` (per node 2 distinct inputs among the earlier states,
        one non-none op each), seeded from `generator` (so a resumed run draws the same paths)."""
        return DartsGenotype.random(_numpy_rng(generator), OP_LISTS["no-none"])

    def fair_paths(self, generator: torch.Generator) -> list[DartsGenotype]:
        """FairNAS in the DARTS space. A DARTS subnetwork keeps 2 of the incoming edges of each node, so strict
        fairness over every edge cannot hold within one minibatch; our rule: the edges are drawn once per minibatch
        (per cell type and node, 2 distinct inputs, uniformly), and on each drawn edge an independent random
        permutation of the 7 non-none ops; path k takes the k-th op of every permutation. So the 7 paths train every
        non-none op of every drawn edge exactly once (strict fairness per drawn edge), and every edge is drawn
        equally often in expectation."""
        ops = OP_LISTS["no-none"]
        cells = {}
        for cell in CELL_TYPES:
            edges = []
            for node in range(NUM_NODES):
                inputs = sorted(torch.randperm(NUM_INPUTS + node, generator=generator)[:2].tolist())
                edges += [(source, torch.randperm(len(ops), generator=generator).tolist()) for source in inputs]
            cells[cell] = edges
        return [_genotype({cell: [(ops[order[k]], source) for source, order in edges]
                           for cell, edges in cells.items()}) for k in range(len(ops))]

    def distinct_paths(self, count: int, seed: int) -> list[DartsGenotype]:
        """`count` distinct ``DartsGenotype.random`` draws from a generator seeded with `seed`."""
        if count < 1:
            raise ValueError(f"the number of distinct genotypes must be >= 1, got {count}")
        rng = np.random.default_rng(int(seed))
        found: dict[str, DartsGenotype] = {}
        while len(found) < count:
            genotype = DartsGenotype.random(rng, OP_LISTS["no-none"])
            found.setdefault(genotype.to_str(), genotype)
        return list(found.values())

    # ---- the NB301 surrogate -----------------------------------------------------------------------------------
    def load_benchmark(self, path: str | None) -> NB301Surrogate | None:
        """The NB301 surrogate of `path` (``nb301.load_benchmark``: NB201 files and ONNX files that are not the
        surrogate are refused in one line), or None (no benchmark numbers; said once)."""
        if path is None:
            _say_no_benchmark_once()
            return None
        return load_benchmark(path)

    def benchmark_fields(self, benchmark: NB301Surrogate | None, genotypes: Sequence[DartsGenotype]) -> list[dict]:
        """{"nb301": {"valid_acc": % , "label": ...}} per genotype from one batched surrogate call (None without
        one)."""
        if benchmark is None:
            return [{"nb301": None} for _ in genotypes]
        return [{"nb301": {"valid_acc": result.valid_accuracy, "label": result.label}}
                for result in benchmark.query_many(list(genotypes))]


def _numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded by one draw from `generator` (its state then carries the whole draw)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


def _genotype(cells: dict[str, list[tuple[str, int]]]) -> DartsGenotype:
    return DartsGenotype(normal=cells["normal"], normal_concat=CONCAT, reduce=cells["reduce"], reduce_concat=CONCAT)
