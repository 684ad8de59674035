"""The DARTS space, torch-free half: its genotype (DARTS' ``Genotype`` literal), the names of its 14 edges × 2 cell
types and its ops, its record fields (per cell type) and how its NB301-surrogate numbers read."""
from __future__ import annotations

from ..darts_space.genotype import DARTS_OPS, DARTS_OPS_NO_NONE, DartsGenotype, GenotypeError
from .base import SpaceInfo

CELL_TYPES = ("normal", "reduce")
NODES = 4  # intermediate nodes of a cell; node i (state i + 2) has i + 2 incoming edges
OP_LISTS = {"all": DARTS_OPS, "no-none": DARTS_OPS_NO_NONE}  # --ops: DARTS' 8 ops, or DrNAS' 7 (no none)
NB301_LABEL = "NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98"


def darts_edges() -> tuple[tuple[int, int], ...]:
    """(target state, source state) of the 14 edges in α's order: states 0, 1 are the cell's inputs, 2..5 its nodes."""
    return tuple((node + 2, source) for node in range(NODES) for source in range(node + 2))


class DartsInfo(SpaceInfo):
    """The DARTS space: two cell types (normal, reduce), each with its own 14 × n-op α; NB301-surrogate numbers."""

    name = "darts"
    cell_types = CELL_TYPES
    benchmark_key = "nb301"
    benchmark_label = NB301_LABEL
    genotype_type = DartsGenotype
    genotype_error = GenotypeError

    def parse_genotype(self, text: str) -> DartsGenotype:
        return DartsGenotype.from_str(text)

    def genotype_to_dict(self, genotype: DartsGenotype) -> dict:
        return {"space": self.name, "string": genotype.to_str(), **genotype.to_dict()}

    def genotype_from_dict(self, values: dict) -> DartsGenotype:
        if not isinstance(values, dict):
            raise GenotypeError(f"a DARTS genotype's JSON is an object with normal, normal_concat, reduce and "
                                f"reduce_concat, got {type(values).__name__}")
        return DartsGenotype.from_dict({key: value for key, value in values.items()
                                        if key not in ("space", "string")})

    def genotype_fields(self, genotype: DartsGenotype) -> dict:
        """The genotype (DARTS' literal); skip and parameter-free op counts per cell type. ``skip_count`` and
        ``param_free_count`` without a suffix are the normal cell's (the count DARTS' collapse is judged by, as in
        P-DARTS and DARTS+), so that the readers' curves work in both spaces."""
        skips, free = _by_cell(genotype.skip_count), _by_cell(genotype.param_free_count)
        return {"genotype": genotype.to_str(), "skip_count": skips["normal"], "param_free_count": free["normal"],
                **{f"skip_count_{cell}": skips[cell] for cell in CELL_TYPES},
                **{f"param_free_count_{cell}": free[cell] for cell in CELL_TYPES}}

    def edge_names(self) -> tuple[str, ...]:
        return tuple(f"{target}<-{source}" for target, source in darts_edges())

    def op_names(self, ops: str = "all") -> tuple[str, ...]:
        if ops not in OP_LISTS:
            raise GenotypeError(f"unknown op list {ops!r}; choose one of: {', '.join(OP_LISTS)}")
        return tuple(OP_LISTS[ops])

    def benchmark_text(self, fields: dict) -> str:
        value = (fields.get("nb301") or {}).get("valid_acc")
        return "NB301 n/a" if value is None else f"NB301 surrogate valid {value:.4f}"

    def benchmark_truth(self, fields: list[dict], dataset: str) -> tuple[str, list[float | None]]:
        """The surrogate's CIFAR-10 valid accuracy (whatever the run's dataset: NB301 has only CIFAR-10)."""
        return NB301_LABEL, [(f.get("nb301") or {}).get("valid_acc") for f in fields]


def _by_cell(counts) -> dict[str, int]:
    """A genotype's per-cell-type count as {"normal": n, "reduce": m}."""
    return {cell: int(counts[cell]) for cell in CELL_TYPES}
