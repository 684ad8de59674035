"""The search-space protocol: what a space supplies to the loop, the architects, the samplers, the tasks, tracking
and the readers, so that none of them branches on the space.

A space is a torch-free description (its genotype type, the names of its edges and ops, its record fields, its
benchmark) plus the torch-bound parts it builds on demand (its supernet, its benchmark backend). Importing this room
imports no torch: the readers of run directories use it.

A supernet of any space exposes the same small interface (:class:`Supernet`): ``alpha`` (one registered
``nn.Parameter``; NB201: 6 edges × 5 ops, DARTS: 2 cell types × 14 edges × n ops), ``mixing``,
``arch_parameters()``, ``weight_parameters()``, ``mixing_weights()``, ``probabilities()``, ``genotype()``,
``forward(x, mix=None, *, path=None)`` and ``compile_mixed_forward``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

if TYPE_CHECKING:  # the protocol is torch-free: the readers use it
    import torch


class SpaceError(ValueError):
    """A setting, file or genotype that does not belong to the run's search space (one line for the user)."""


class Supernet(Protocol):
    """The interface every space's supernet offers (the loop, architects, samplers and tasks use only this)."""

    alpha: Any
    mixing: Any

    def arch_parameters(self) -> list: ...
    def weight_parameters(self) -> list: ...
    def mixing_weights(self) -> torch.Tensor: ...
    def probabilities(self) -> torch.Tensor: ...
    def genotype(self) -> Any: ...
    def compile_mixed_forward(self, mode: str | None = None, *, backend: str = "inductor") -> None: ...
    def __call__(self, x: torch.Tensor, mix: torch.Tensor | None = None, *, path: Any = None) -> torch.Tensor: ...


class SpaceInfo(ABC):
    """The torch-free half of a search space: its genotypes, the names of its edges and ops, its record fields and
    how its benchmark numbers read. The readers of run directories use only this half (:func:`space_info`)."""

    name: str
    cell_types: tuple[str, ...]  # the rows of α: ("cell",) for one α shared by every cell, ("normal", "reduce") ...
    benchmark_key: str  # the record's field with the derived genotype's benchmark numbers, e.g. "nb201"
    benchmark_keys: tuple[str, ...]  # every record field the benchmark writes (e.g. nb201_index, nb201)
    kept_edges: int  # edges a genotype's cell keeps (the most skip_connects it can have): NB201 6, DARTS 8
    path_count: int | None  # how many distinct subnetworks (paths) the space has; None: too many to matter
    benchmark_label: str  # what those numbers are, for the console and the docs

    # ---- genotypes ---------------------------------------------------------------------------------------------
    @abstractmethod
    def parse_genotype(self, text: str) -> Any:
        """The genotype written as `text` (the space's own string form); the space's GenotypeError if malformed."""

    @abstractmethod
    def genotype_from_dict(self, values: dict) -> Any:
        """The genotype of :meth:`genotype_to_dict`'s JSON form."""

    @abstractmethod
    def genotype_to_dict(self, genotype: Any) -> dict:
        """The genotype as JSON-ready data that names its edges and ops."""

    @abstractmethod
    def genotype_fields(self, genotype: Any) -> dict:
        """The genotype's fields of an epoch's record (the string, skip and parameter-free op counts)."""

    def counts_text(self, record: dict) -> str:
        """The record's skip counts for the console, e.g. 'skip 2' (per cell type where the space has several)."""
        if len(self.cell_types) == 1:
            return f"skip {record['skip_count']}"
        return "skip " + " ".join(f"{cell} {record[f'skip_count_{cell}']}" for cell in self.cell_types)

    # ---- names -------------------------------------------------------------------------------------------------
    @abstractmethod
    def edge_names(self) -> tuple[str, ...]:
        """The names of one cell type's edges, in α's order (e.g. ``1<-0``)."""

    @abstractmethod
    def op_names(self, ops: str = "all") -> tuple[str, ...]:
        """The op names of α's last dimension for the op list `ops` ('all' or 'no-none')."""

    def arch_names(self, ops: str = "all") -> dict:
        """The names of α's dimensions, for genotype.json and the plots."""
        return {"space": self.name, "cell_types": list(self.cell_types), "edges": list(self.edge_names()),
                "ops": list(self.op_names(ops))}

    def named_rows(self, table: list, ops: str = "all") -> list[tuple[str, str, list]]:
        """(cell type label, edge name, the edge's row over the ops) for an α-shaped nested list (as genotypes.jsonl
        holds); the cell type label is '' for a space with one cell type."""
        tables = table if len(self.cell_types) > 1 else [table]
        labels = self.cell_types if len(self.cell_types) > 1 else ("",)
        return [(label, edge, row) for label, rows in zip(labels, tables) for edge, row in zip(self.edge_names(), rows)]

    def check_arch_table(self, table, ops: str = "all") -> bool:
        """Whether `table` is an α-shaped nested list of numbers for this space and op list."""
        shape = ((len(self.cell_types),) if len(self.cell_types) > 1 else ()) + (len(self.edge_names()),
                                                                                 len(self.op_names(ops)))
        def fits(value, dims) -> bool:
            if not dims:
                return isinstance(value, (int, float)) and not isinstance(value, bool)
            return isinstance(value, list) and len(value) == dims[0] and all(fits(v, dims[1:]) for v in value)
        return fits(table, shape)

    def per_cell(self, function: Callable[[Any], float], tensor: torch.Tensor) -> dict[str, float]:
        """`function` of each cell type's rows of an α-shaped tensor, by cell type name."""
        if len(self.cell_types) == 1:
            return {self.cell_types[0]: function(tensor)}
        return {name: function(tensor[index]) for index, name in enumerate(self.cell_types)}

    def entropy_fields(self, entropy: Callable[[Any], float], probabilities: torch.Tensor) -> dict:
        """The α-entropy fields of an epoch's record: ``alpha_entropy`` (every edge), and one per cell type where
        there are several."""
        fields = {"alpha_entropy": entropy(probabilities)}
        if len(self.cell_types) > 1:
            fields |= {f"alpha_entropy_{name}": value for name, value in self.per_cell(entropy, probabilities).items()}
        return fields

    @abstractmethod
    def benchmark_text(self, fields: dict) -> str:
        """A short labelled summary of a record's benchmark numbers (:meth:`SearchSpace.benchmark_fields`)."""

    @abstractmethod
    def benchmark_truth(self, fields: list[dict], dataset: str) -> tuple[str, list[float | None]]:
        """(label, one number per genotype or None) of the benchmark accuracy that ranks subnetworks, read from
        records' benchmark fields; `dataset` is the run's dataset."""


    @abstractmethod
    def truth_names(self, label: str) -> dict:
        """How a ranking's truth of :meth:`benchmark_truth`'s `label` is named: ``title`` (a table's or plot's),
        ``column`` (a CSV's) and ``meaning`` (what the numbers are)."""


    # ---- the readers' benchmark curve -----------------------------------------------------------------------------
    @abstractmethod
    def curve_value(self, row: dict, dataset: str, split: str) -> float | None:
        """The benchmark number of a metrics row that the readers plot and tabulate (None where absent)."""

    @abstractmethod
    def choose_curve(self, runs_rows: list[list[dict]], dataset: str | None, split: str | None) -> tuple[str, str]:
        """The (dataset, split) of the benchmark number to read for these runs' rows (defaults chosen from what the
        rows hold); SpaceError naming the problem."""

    @abstractmethod
    def curve_title(self, dataset: str, split: str) -> str:
        """The benchmark number's short name, e.g. 'NB201 cifar10 test'."""

    def split_meaning(self, dataset: str, split: str) -> str:
        """How the benchmark's (dataset, split) was trained and evaluated, where that needs saying ('' otherwise)."""
        return ""

    @abstractmethod
    def curve_meaning(self, dataset: str, split: str) -> str:
        """What the benchmark number of a derived genotype is, in a sentence's words."""


class SearchSpace(SpaceInfo):
    """A whole search space: the torch-free :class:`SpaceInfo` and what it builds (its supernet, its paths, its
    benchmark backend). Subclasses fill in the class attributes and the abstract methods."""

    # ---- the run's settings and its supernet -------------------------------------------------------------------
    @abstractmethod
    def build_supernet(self, config, num_classes: int, mixing, *, autocast_dtype=None) -> Supernet:
        """The supernet `config` describes (C, cells, op list, partial channels, fast paths)."""

    # ---- paths (one-shot) --------------------------------------------------------------------------------------
    @abstractmethod
    def random_path(self, generator: torch.Generator) -> Any:
        """One uniformly random subnetwork (a path the supernet's forward takes), drawn from `generator`."""

    @abstractmethod
    def fair_paths(self, generator: torch.Generator) -> list:
        """FairNAS strict fairness: the paths of one minibatch, which together train each op of each trained edge
        exactly once; SpaceError where the space has no such rule."""

    @abstractmethod
    def distinct_paths(self, count: int, seed: int) -> list:
        """`count` distinct random genotypes, the same for a seed in every process (probes, ranked subnetworks)."""

    # ---- size baselines of a ranking (docs/estimators.md) -------------------------------------------------------
    has_cell_baselines = False  # True: the ranking scores cells by size and by zero-cost proxies of their network

    def cell_baselines(self, genotype: Any, dataset: str) -> dict:
        """The size baselines of `genotype`'s stand-alone network on `dataset` (conv weights of the effective cell,
        params, FLOPs); {} for a space that has none yet."""
        return {}

    # ---- the benchmark -----------------------------------------------------------------------------------------
    @abstractmethod
    def load_benchmark(self, path: str | None) -> Any:
        """The space's benchmark read from `path` (None: the space's default, or no benchmark); one-line errors for
        a file of another space."""

    @abstractmethod
    def benchmark_fields(self, benchmark: Any, genotypes: Sequence[Any]) -> list[dict]:
        """Each genotype's benchmark fields of a record (batched where the benchmark can), e.g.
        ``{"nb201_index": i, "nb201": {...}}``; the numbers are None where the benchmark has none."""
