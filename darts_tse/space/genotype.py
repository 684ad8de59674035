"""NB201 cell genotypes: parse and format the NB201 string, derive from α, enumerate, convert to/from the NB201 index.

A cell has nodes 0..3 and six edges in the canonical order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``; its string is
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (one group per target node 1, 2, 3; ``~i`` names the source node).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:  # genotypes are torch-free: the run readers use them
    import torch

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (target, source)
NUM_EDGES = len(EDGES)
NUM_OPS = len(OPS)
NUM_NODES = 4
NUM_ARCHITECTURES = NUM_OPS**NUM_EDGES
PARAMETER_FREE_OPS = frozenset({"none", "skip_connect", "avg_pool_3x3"})
ORDER_FILE = Path(__file__).with_name("nb201_order.npy")


class GenotypeError(ValueError):
    """A malformed NB201 string, an unknown op, or an out-of-range index."""


def _edge_index(target: int, source: int) -> int:
    return EDGES.index((target, source))


@dataclass(frozen=True)
class Genotype:
    """One NB201 cell: the op name on each of the six edges, in canonical edge order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != NUM_EDGES:
            raise GenotypeError(f"an NB201 cell has {NUM_EDGES} edges, got {len(self.ops)} ops: {self.ops}")
        for op in self.ops:
            if op not in OPS:
                raise GenotypeError(f"unknown op {op!r}; NB201 ops are {', '.join(OPS)}")

    # ---- string form -------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Parse an NB201 string such as ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|...|...|``."""
        text = text.strip()
        groups = text.split("+")
        if len(groups) != NUM_NODES - 1:
            raise GenotypeError(
                f"malformed NB201 string {text!r}: expected {NUM_NODES - 1} node groups joined by '+', "
                f"got {len(groups)}; the form is |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
            )
        ops: list[str | None] = [None] * NUM_EDGES
        for target, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
                raise GenotypeError(f"malformed node group {group!r} in {text!r}: each group must be |op~i|...|")
            tokens = group[1:-1].split("|")
            if len(tokens) != target:
                raise GenotypeError(
                    f"node {target} group {group!r} must have {target} edge(s) (one from each earlier node), got {len(tokens)}"
                )
            for token in tokens:
                op, sep, source_text = token.partition("~")
                if not sep or not (source_text.isascii() and source_text.isdigit()):
                    raise GenotypeError(f"malformed edge {token!r} in {text!r}: expected op~source, e.g. nor_conv_3x3~0")
                source = int(source_text)
                if op not in OPS:
                    raise GenotypeError(f"unknown op {op!r} in {text!r}; NB201 ops are {', '.join(OPS)}")
                if source >= target:
                    raise GenotypeError(f"edge {token!r} of node {target} must come from an earlier node (0..{target - 1})")
                edge = _edge_index(target, source)
                if ops[edge] is not None:
                    raise GenotypeError(f"edge {source}->{target} appears twice in {text!r}")
                ops[edge] = op
        return cls(tuple(ops))  # every slot is filled: each group has `target` distinct sources < target

    def to_str(self) -> str:
        """The canonical NB201 string."""
        groups = []
        for target in range(1, NUM_NODES):
            edges = [f"{self.ops[_edge_index(target, source)]}~{source}" for source in range(target)]
            groups.append("|" + "|".join(edges) + "|")
        return "+".join(groups)

    __str__ = to_str

    # ---- numeric forms -----------------------------------------------------------------------------------
    @property
    def op_indices(self) -> tuple[int, ...]:
        """Index into OPS of each edge's op."""
        return tuple(OPS.index(op) for op in self.ops)

    @classmethod
    def from_op_indices(cls, indices: Sequence[int]) -> Genotype:
        """Build from one OPS index per edge."""
        if any(not 0 <= int(i) < NUM_OPS for i in indices):
            raise GenotypeError(f"op indices must lie in 0..{NUM_OPS - 1}, got {list(indices)}")
        return cls(tuple(OPS[int(i)] for i in indices))

    @property
    def code(self) -> int:
        """Base-5 code of the op indices (edge 0 most significant); a bijection onto 0..15624, not the NB201 index."""
        value = 0
        for index in self.op_indices:
            value = value * NUM_OPS + index
        return value

    @classmethod
    def from_code(cls, code: int) -> Genotype:
        """Inverse of :attr:`code`."""
        if not 0 <= code < NUM_ARCHITECTURES:
            raise GenotypeError(f"cell code must lie in 0..{NUM_ARCHITECTURES - 1}, got {code}")
        digits = []
        for _ in range(NUM_EDGES):
            code, digit = divmod(code, NUM_OPS)
            digits.append(digit)
        return cls.from_op_indices(digits[::-1])

    @property
    def index(self) -> int:
        """The official NAS-Bench-201 / NATS-Bench topology index (0..15624)."""
        return int(_code_to_index()[self.code])

    @classmethod
    def from_index(cls, index: int) -> Genotype:
        """The cell with the given official NB201 index."""
        if not 0 <= index < NUM_ARCHITECTURES:
            raise GenotypeError(f"NB201 index must lie in 0..{NUM_ARCHITECTURES - 1}, got {index}")
        return cls.from_code(int(_index_to_code()[index]))

    @classmethod
    def from_alpha(cls, alpha: torch.Tensor) -> Genotype:
        """Derive the cell from architecture parameters of shape (6, 5): argmax per edge."""
        if tuple(alpha.shape) != (NUM_EDGES, NUM_OPS):
            raise GenotypeError(f"α must have shape ({NUM_EDGES}, {NUM_OPS}), got {tuple(alpha.shape)}")
        return cls.from_op_indices(alpha.detach().argmax(dim=-1).tolist())

    @classmethod
    def all(cls) -> Iterator[Genotype]:
        """All 15,625 NB201 cells, in official NB201 index order."""
        for code in _index_to_code():
            yield cls.from_code(int(code))

    # ---- summaries ---------------------------------------------------------------------------------------
    @property
    def skip_count(self) -> int:
        """Number of skip_connect edges (DARTS' failure mode is a cell full of them)."""
        return self.ops.count("skip_connect")

    @property
    def param_free_count(self) -> int:
        """Number of edges whose op has no weights (none, skip_connect, avg_pool_3x3)."""
        return sum(op in PARAMETER_FREE_OPS for op in self.ops)


@lru_cache(maxsize=1)
def _index_to_code() -> np.ndarray:
    if not ORDER_FILE.is_file():
        raise FileNotFoundError(f"{ORDER_FILE} is missing; rebuild it with scripts/build_nb201_order.py")
    return np.load(ORDER_FILE)


@lru_cache(maxsize=1)
def _code_to_index() -> np.ndarray:
    order = _index_to_code()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order), dtype=order.dtype)
    return inverse

