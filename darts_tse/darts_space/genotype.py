"""DARTS-space genotypes (torch-free): DARTS' ``Genotype`` literal, JSON, derivation from α, random cells.

A cell has two inputs (states 0 and 1: the outputs of the two previous cells) and four intermediate nodes (states
2..5). Node ``i`` (0..3, state ``i + 2``) may take an edge from each of the ``i + 2`` earlier states, so a cell has 14
candidate edges, numbered as DARTS numbers them: node ``i``'s edges start at offset ``i * (i + 3) // 2`` (0, 2, 5, 9)
and edge ``offset(i) + j`` comes from state ``j``. A genotype keeps two edges per node, each with one op, as DARTS'
``Genotype(normal=[(op, input), ...8 pairs], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``:
pairs ``2i`` and ``2i + 1`` belong to node ``i``; the cell's output concatenates states 2..5.

Derivation from α is DARTS' own rule (quark0/darts ``cnn/model_search.py``, ``Network.genotype``): softmax each edge's
α over all ops (``none`` included); for each node keep the two incoming edges whose largest non-``none`` weight is
largest (ties: the lower input index first), and give each kept edge its argmax non-``none`` op (ties: the earlier op).
The kept pairs are listed strongest edge first, as DARTS prints them. NASLib instead drops ``none`` and renormalises
the remaining weights of each edge before ranking edges; because the renormalisation divides each edge by its own
``1 - w_none``, an edge with much weight on ``none`` can rank above an edge it ranks below under DARTS' rule, so the
two rules can pick different cells from the same α (``tests/test_darts_genotype.py`` shows a case).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DARTS_OPS_NO_NONE: tuple[str, ...] = DARTS_OPS[1:]  # DrNAS' DARTS-space list
GENOTYPE_OPS = frozenset(DARTS_OPS_NO_NONE)  # the ops a derived cell may hold (a kept edge is never `none`)
PARAMETER_FREE_OPS = frozenset({"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"})
NUM_NODES = 4  # intermediate nodes per cell
NUM_INPUTS = 2  # cell inputs (states 0 and 1)
NUM_EDGES = sum(NUM_INPUTS + i for i in range(NUM_NODES))  # 14
CONCAT: tuple[int, ...] = tuple(range(NUM_INPUTS, NUM_INPUTS + NUM_NODES))  # (2, 3, 4, 5)
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")  # row 0 and row 1 of the supernet's α
# EDGES[e] = (node, input state) of edge e, in DARTS' order.
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(NUM_NODES) for j in range(NUM_INPUTS + i))
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


class GenotypeError(ValueError):
    """A malformed DARTS genotype (literal, JSON, α or op list); the message names the problem."""


def edge_index(node: int, source: int) -> int:
    """The index (0..13) of the edge from state ``source`` into intermediate node ``node`` (0..3)."""
    if not 0 <= node < NUM_NODES or not 0 <= source < NUM_INPUTS + node:
        raise GenotypeError(f"no edge from state {source} into node {node}: node i takes states 0..i+1")
    return node * (node + 3) // 2 + source


Cell = tuple[tuple[str, int], ...]


def _cell(pairs: Any, name: str) -> Cell:
    """Validate and freeze one cell's (op, input) pairs."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise GenotypeError(f"{name} must be a list of (op, input) pairs, got {pairs!r}")
    pairs = list(pairs)
    if len(pairs) != 2 * NUM_NODES:
        raise GenotypeError(f"{name} must have {2 * NUM_NODES} (op, input) pairs (2 per node, 4 nodes), got {len(pairs)}")
    out = []
    for k, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise GenotypeError(f"{name}[{k}] must be an (op, input) pair, got {pair!r}")
        op, source = pair
        if not isinstance(op, str) or op not in GENOTYPE_OPS:
            raise GenotypeError(f"{name}[{k}]: unknown op {op!r}; a DARTS genotype's ops are {', '.join(DARTS_OPS_NO_NONE)}")
        if isinstance(source, bool) or not isinstance(source, (int, np.integer)):
            raise GenotypeError(f"{name}[{k}]: input must be an integer state index, got {source!r}")
        node = k // 2
        if not 0 <= source < NUM_INPUTS + node:
            raise GenotypeError(f"{name}[{k}]: node {node} takes inputs 0..{node + 1}, got {source}")
        out.append((op, int(source)))
    for node in range(NUM_NODES):
        if out[2 * node][1] == out[2 * node + 1][1]:
            raise GenotypeError(f"{name}: node {node} takes input {out[2 * node][1]} twice; its two inputs must differ")
    return tuple(out)


def _concat(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, range):
        value = list(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise GenotypeError(f"{name} must be a list of state indices, got {value!r}")
    items = list(value)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items) or tuple(items) != CONCAT:
        raise GenotypeError(f"{name} must be {list(CONCAT)} (this space concatenates its 4 nodes), got {items!r}")
    return CONCAT


@dataclass(frozen=True, init=False)
class DartsGenotype:
    """One DARTS-space architecture: a normal and a reduction cell, with DARTS' ``Genotype`` fields.

    ``normal`` and ``reduce`` hold 8 ``(op, input)`` pairs each (2 per node; no ``none``; the two inputs of a node
    differ); ``normal_concat`` and ``reduce_concat`` are always ``(2, 3, 4, 5)``. Lists are accepted and frozen.
    """

    normal: Cell
    normal_concat: tuple[int, ...]
    reduce: Cell
    reduce_concat: tuple[int, ...]

    def __init__(self, normal: Any, normal_concat: Any = CONCAT, reduce: Any = None, reduce_concat: Any = CONCAT):
        if reduce is None:
            raise GenotypeError("a DARTS genotype needs both cells: normal=[...] and reduce=[...]")
        object.__setattr__(self, "normal", _cell(normal, "normal"))
        object.__setattr__(self, "normal_concat", _concat(normal_concat, "normal_concat"))
        object.__setattr__(self, "reduce", _cell(reduce, "reduce"))
        object.__setattr__(self, "reduce_concat", _concat(reduce_concat, "reduce_concat"))

    # ---- DARTS' literal ----------------------------------------------------------------------------------
    def to_str(self) -> str:
        """DARTS' ``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])`` literal.

        It pastes into DARTS' ``genotypes.py`` (as ``NAME = <literal>``) and parses back with :meth:`from_str`.
        """
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})"
        )

    __str__ = to_str

    @classmethod
    def from_str(cls, text: str) -> DartsGenotype:
        """Parse DARTS' literal, optionally as ``NAME = Genotype(...)``; ``range(2, 6)`` is accepted for a concat.

        The text is parsed with :mod:`ast` and read with ``ast.literal_eval`` on each argument: nothing is evaluated.
        """
        if not isinstance(text, str):
            raise GenotypeError(f"a DARTS genotype literal must be a string, got {type(text).__name__}")
        try:
            module = ast.parse(text.strip())
        except SyntaxError as exc:
            raise GenotypeError(f"malformed DARTS genotype literal: {exc.msg} (line {exc.lineno}); "
                                "expected Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])") from None
        if len(module.body) != 1:
            raise GenotypeError("a DARTS genotype literal must be one Genotype(...) expression or one NAME = Genotype(...)")
        stmt = module.body[0]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            call = stmt.value
        elif isinstance(stmt, ast.Expr):
            call = stmt.value
        else:
            raise GenotypeError("a DARTS genotype literal must be one Genotype(...) expression or one NAME = Genotype(...)")
        if not (isinstance(call, ast.Call) and _call_name(call.func) == "Genotype"):
            raise GenotypeError("a DARTS genotype literal must be a call Genotype(normal=[...], ..., reduce_concat=[...])")
        if len(call.args) > len(_FIELDS) or any(isinstance(a, ast.Starred) for a in call.args):
            raise GenotypeError(f"Genotype(...) takes at most {len(_FIELDS)} positional fields: {', '.join(_FIELDS)}")
        values: dict[str, Any] = {}
        for field, node in zip(_FIELDS, call.args):
            values[field] = _literal(node, field)
        for keyword in call.keywords:
            if keyword.arg is None or keyword.arg not in _FIELDS:
                raise GenotypeError(f"Genotype(...) has no field {keyword.arg!r}; its fields are {', '.join(_FIELDS)}")
            if keyword.arg in values:
                raise GenotypeError(f"Genotype(...) field {keyword.arg!r} is given twice")
            values[keyword.arg] = _literal(keyword.value, keyword.arg)
        missing = [f for f in _FIELDS if f not in values]
        if missing:
            raise GenotypeError(f"Genotype(...) lacks {', '.join(missing)}")
        return cls(**values)

    # ---- JSON ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, list]:
        """A JSON-ready dict with DARTS' four fields; pairs become ``[op, input]`` lists."""
        return {
            "normal": [[op, j] for op, j in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, j] for op, j in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DartsGenotype:
        """Inverse of :meth:`to_dict` (e.g. read from a run's JSON)."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"a DARTS genotype dict must be a JSON object with {', '.join(_FIELDS)}, got {type(data).__name__}")
        keys = set(data)
        if keys != set(_FIELDS):
            extra, missing = sorted(keys - set(_FIELDS)), [f for f in _FIELDS if f not in keys]
            raise GenotypeError(f"a DARTS genotype dict needs exactly {', '.join(_FIELDS)} (missing {missing}, unknown {extra})")
        return cls(**{f: data[f] for f in _FIELDS})

    # ---- derivation and sampling ---------------------------------------------------------------------------
    @classmethod
    def from_alpha(cls, alpha: Any, ops: Sequence[str] = DARTS_OPS) -> DartsGenotype:
        """DARTS' derivation from α of shape (2, 14, len(ops)) (row 0 normal, row 1 reduce): softmax, then
        :meth:`from_weights`. ``alpha`` may be a numpy array or a (CPU or GPU) torch tensor."""
        a = _as_array(alpha, ops)
        a = a - a.max(axis=-1, keepdims=True)
        weights = np.exp(a)
        return cls.from_weights(weights / weights.sum(axis=-1, keepdims=True), ops)

    @classmethod
    def from_weights(cls, weights: Any, ops: Sequence[str] = DARTS_OPS) -> DartsGenotype:
        """DARTS' rule on per-edge op weights of shape (2, 14, len(ops)) (e.g. a supernet's ``probabilities()``):
        per node keep the 2 edges with the largest non-``none`` weight, each with its argmax non-``none`` op."""
        w = _as_array(weights, ops)
        keep = np.array([op != "none" for op in ops])
        names = [op for op in ops if op != "none"]
        cells = []
        for row in w:
            w_ops = row[:, keep]
            pairs: list[tuple[str, int]] = []
            for node in range(NUM_NODES):
                start = edge_index(node, 0)
                strength = w_ops[start:start + NUM_INPUTS + node].max(axis=1)
                for source in np.argsort(-strength, kind="stable")[:2]:
                    pairs.append((names[int(np.argmax(w_ops[start + source]))], int(source)))
            cells.append(pairs)
        return cls(normal=cells[0], reduce=cells[1])

    @classmethod
    def random(cls, rng: np.random.Generator, ops: Sequence[str] = DARTS_OPS) -> DartsGenotype:
        """A uniformly random genotype (a RandNAS path): per node, 2 distinct inputs among the earlier states (in
        increasing order) and one non-``none`` op of ``ops`` each; ``rng`` is a numpy Generator."""
        names = _check_ops(ops)
        names = [op for op in names if op != "none"]
        cells = []
        for _ in CELL_TYPES:
            pairs = []
            for node in range(NUM_NODES):
                for source in sorted(int(s) for s in rng.choice(NUM_INPUTS + node, size=2, replace=False)):
                    pairs.append((names[int(rng.integers(len(names)))], source))
            cells.append(pairs)
        return cls(normal=cells[0], reduce=cells[1])

    # ---- views and summaries -------------------------------------------------------------------------------
    def cell(self, cell_type: str) -> Cell:
        """The (op, input) pairs of ``"normal"`` or ``"reduce"``."""
        if cell_type not in CELL_TYPES:
            raise GenotypeError(f"cell type must be one of {', '.join(CELL_TYPES)}, got {cell_type!r}")
        return self.normal if cell_type == "normal" else self.reduce

    def edges(self, cell_type: str) -> dict[int, str]:
        """The kept edges of one cell as {edge index (0..13): op}."""
        return {edge_index(k // 2, j): op for k, (op, j) in enumerate(self.cell(cell_type))}

    def canonical(self) -> DartsGenotype:
        """The same cells with each node's two pairs ordered by input (the order carries no meaning)."""
        def order(cell: Cell) -> list[tuple[str, int]]:
            return [p for node in range(NUM_NODES) for p in sorted(cell[2 * node:2 * node + 2], key=lambda p: p[1])]
        return DartsGenotype(normal=order(self.normal), reduce=order(self.reduce))

    @property
    def skip_count(self) -> dict[str, int]:
        """skip_connect edges per cell type, ``{"normal": n, "reduce": m}`` (DARTS' collapse shows in ``normal``)."""
        return {t: sum(op == "skip_connect" for op, _ in self.cell(t)) for t in CELL_TYPES}

    @property
    def param_free_count(self) -> dict[str, int]:
        """Edges with a weight-free op (pools, skip_connect) per cell type, ``{"normal": n, "reduce": m}``."""
        return {t: sum(op in PARAMETER_FREE_OPS for op, _ in self.cell(t)) for t in CELL_TYPES}


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):  # e.g. genotypes.Genotype
        return func.attr
    return None


def _literal(node: ast.expr, field: str) -> Any:
    """A field's value: a Python literal, or ``range(a, b)`` with integer literals (DARTS prints concat so)."""
    if isinstance(node, ast.Call) and _call_name(node.func) == "range" and isinstance(node.func, ast.Name):
        if node.keywords or not 1 <= len(node.args) <= 2:
            raise GenotypeError(f"field {field!r}: only range(a, b) with integer literals is understood")
        bounds = [_literal(a, field) for a in node.args]
        if any(isinstance(b, bool) or not isinstance(b, int) for b in bounds):
            raise GenotypeError(f"field {field!r}: only range(a, b) with integer literals is understood")
        return list(range(*bounds))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise GenotypeError(f"field {field!r} is not a literal (only lists, tuples, strings, integers and range(a, b))") from None


def _check_ops(ops: Sequence[str]) -> list[str]:
    names = list(ops)
    unknown = [op for op in names if op not in DARTS_OPS]
    if unknown or len(set(names)) != len(names) or not set(names) - {"none"}:
        raise GenotypeError(f"an op list must name distinct DARTS ops ({', '.join(DARTS_OPS)}) and one besides none, got {names}")
    return names


def _as_array(values: Any, ops: Sequence[str]) -> np.ndarray:
    names = _check_ops(ops)
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().cpu().double().numpy()
    a = np.asarray(values, dtype=np.float64)
    shape = (len(CELL_TYPES), NUM_EDGES, len(names))
    if a.shape != shape:
        raise GenotypeError(f"α must have shape {shape} (cell type, edge, op) for {len(names)} ops, got {a.shape}")
    if not np.isfinite(a).all():
        raise GenotypeError("α holds NaN or infinite values; the search diverged, no genotype can be derived")
    return a


# As published in quark0/darts cnn/genotypes.py (DARTS first and second order, CIFAR-10).
DARTS_V1 = DartsGenotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5],
)
DARTS_V2 = DartsGenotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)
