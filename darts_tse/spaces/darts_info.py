"""The DARTS space, torch-free half: its genotype (DARTS' ``Genotype`` literal), the names of its 14 edges × 2 cell
types and its ops, its record fields (per cell type) and how its NB301-surrogate numbers read."""
from __future__ import annotations

from ..darts_space.genotype import (CELL_TYPES, DARTS_OPS, DARTS_OPS_NO_NONE, EDGES, NUM_INPUTS, DartsGenotype,
                                    GenotypeError)
from ..nb301.surrogate import NB301_LABEL
from .base import SpaceError, SpaceInfo

OP_LISTS = {"all": DARTS_OPS, "no-none": DARTS_OPS_NO_NONE}  # --ops: DARTS' 8 ops, or DrNAS' 7 (no none)


class DartsInfo(SpaceInfo):
    """The DARTS space: two cell types (normal, reduce), each with its own 14 × n-op α; NB301-surrogate numbers."""

    name = "darts"
    cell_types = CELL_TYPES
    benchmark_key = "nb301"
    benchmark_keys = ("nb301",)
    kept_edges = 8  # 2 per node
    path_count = None  # (14 choose... ) ~10^18 cells per the DARTS paper
    benchmark_label = NB301_LABEL
    genotype_type = DartsGenotype
    genotype_error = GenotypeError

    def parse_genotype(self, text: str) -> DartsGenotype:
        return DartsGenotype.from_str(text)

    def genotype_to_dict(self, genotype: DartsGenotype) -> dict:
        """DARTS' four fields, the literal, and each cell's kept edges named (``{"edge": "2<-0", "op": ...}``)."""
        named = {cell: [{"edge": f"{k // 2 + NUM_INPUTS}<-{source}", "op": op}
                        for k, (op, source) in enumerate(genotype.cell(cell))] for cell in CELL_TYPES}
        return {"space": self.name, "string": genotype.to_str(), **genotype.to_dict(), "edges": named}

    def genotype_from_dict(self, values: dict) -> DartsGenotype:
        if not isinstance(values, dict):
            raise GenotypeError(f"a DARTS genotype's JSON is an object with normal, normal_concat, reduce and "
                                f"reduce_concat, got {type(values).__name__}")
        return DartsGenotype.from_dict({key: value for key, value in values.items()
                                        if key not in ("space", "string", "edges")})

    def genotype_fields(self, genotype: DartsGenotype) -> dict:
        """The genotype (DARTS' literal); skip and parameter-free op counts per cell type. ``skip_count`` and
        ``param_free_count`` without a suffix are the normal cell's (the count DARTS' collapse is judged by, as in
        P-DARTS and DARTS+), so that the readers' curves work in both spaces."""
        skips, free = _by_cell(genotype.skip_count), _by_cell(genotype.param_free_count)
        return {"genotype": genotype.to_str(), "skip_count": skips["normal"], "param_free_count": free["normal"],
                **{f"skip_count_{cell}": skips[cell] for cell in CELL_TYPES},
                **{f"param_free_count_{cell}": free[cell] for cell in CELL_TYPES}}

    def edge_names(self) -> tuple[str, ...]:
        """``target<-source`` by state (0, 1 the cell's inputs, 2..5 its nodes), in DARTS' edge order."""
        return tuple(f"{node + NUM_INPUTS}<-{source}" for node, source in EDGES)

    def op_names(self, ops: str = "all") -> tuple[str, ...]:
        if ops not in OP_LISTS:
            raise GenotypeError(f"unknown op list {ops!r}; choose one of: {', '.join(OP_LISTS)}")
        return tuple(OP_LISTS[ops])

    def benchmark_text(self, fields: dict) -> str:
        value = (fields.get("nb301") or {}).get("valid_acc")
        return "NB301 n/a" if value is None else f"NB301 surrogate valid {value:.2f}%"

    def curve_value(self, row: dict, dataset: str, split: str) -> float | None:
        return (row.get("nb301") or {}).get("valid_acc")

    def choose_curve(self, runs_rows: list[list[dict]], dataset: str | None, split: str | None) -> tuple[str, str]:
        """The surrogate's CIFAR-10 valid accuracy (the only number NB301 has)."""
        if (dataset or "cifar10") != "cifar10" or (split or "valid") != "valid":
            raise SpaceError(f"the NB301 surrogate has CIFAR-10 valid accuracies only; drop --dataset {dataset} "
                             f"--split {split}")
        if not any(self.curve_value(row, "cifar10", "valid") is not None for rows in runs_rows for row in rows):
            raise SpaceError("no run has NB301-surrogate numbers (DARTS-space searches record them with --benchmark "
                             "model_v2.onnx)")
        return "cifar10", "valid"

    def curve_title(self, dataset: str, split: str) -> str:
        return "NB301 surrogate valid"

    def curve_meaning(self, dataset: str, split: str) -> str:
        return (f"{NB301_LABEL} (%) of the derived genotype: a fitted model's prediction of NB301's 8-cell, "
                f"100-epoch training, not a look-up")

    def truth_names(self, label: str) -> dict:
        return {"title": label, "column": "nb301_valid_acc",
                "meaning": "a fitted model's prediction of NB301's 8-cell, 100-epoch training (%), not a look-up, "
                           "not DARTS' 600-epoch test error"}

    def benchmark_truth(self, fields: list[dict], dataset: str) -> tuple[str, list[float | None]]:
        """The surrogate's CIFAR-10 valid accuracy (whatever the run's dataset: NB301 has only CIFAR-10)."""
        return NB301_LABEL, [(f.get("nb301") or {}).get("valid_acc") for f in fields]


def _by_cell(counts: dict[str, int]) -> dict[str, int]:
    """A genotype's per-cell-type count ({"normal": n, "reduce": m}), every cell type present."""
    return {cell: int(counts[cell]) for cell in CELL_TYPES}
