"""The NB201 space, torch-free half: its genotype (one op per edge of six), names, record fields and NB201 numbers."""
from __future__ import annotations

from ..nb201.labels import NB201_DATASETS, nb201_label
from ..space.genotype import EDGES, NUM_ARCHITECTURES, OPS, Genotype, GenotypeError
from .base import SpaceInfo


def nb201_dataset_for(dataset: str) -> str:
    """The NB201 dataset whose numbers judge a run on `dataset`: itself if NB201 has it, else CIFAR-10."""
    return dataset if dataset in NB201_DATASETS else "cifar10"


class NB201Info(SpaceInfo):
    """NAS-Bench-201: one cell type (one α of 6 edges × 5 ops shared by every cell), NB201 look-ups."""

    name = "nb201"
    cell_types = ("cell",)
    benchmark_key = "nb201"
    benchmark_keys = ("nb201_index", "nb201")
    path_count = NUM_ARCHITECTURES
    benchmark_label = "NB201 200-epoch accuracy (%), the benchmark's mean over seeds"
    genotype_type = Genotype
    genotype_error = GenotypeError

    def parse_genotype(self, text: str) -> Genotype:
        return Genotype.parse(text)

    def genotype_to_dict(self, genotype: Genotype) -> dict:
        return {"space": self.name, "string": genotype.to_str(),
                "cell": [{"edge": f"{target}<-{source}", "op": op} for (target, source), op in zip(EDGES, genotype.ops)]}

    def genotype_from_dict(self, values: dict) -> Genotype:
        if not isinstance(values, dict) or not isinstance(values.get("string"), str):
            raise GenotypeError("an NB201 genotype's JSON needs its \"string\" (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|)")
        return Genotype.parse(values["string"])

    def genotype_fields(self, genotype: Genotype) -> dict:
        return {"genotype": genotype.to_str(), "skip_count": genotype.skip_count,
                "param_free_count": genotype.param_free_count}

    def edge_names(self) -> tuple[str, ...]:
        return tuple(f"{target}<-{source}" for target, source in EDGES)

    def op_names(self, ops: str = "all") -> tuple[str, ...]:
        return OPS

    def benchmark_text(self, fields: dict) -> str:
        c10 = (fields.get("nb201") or {}).get("cifar10") or {}
        if c10.get("test") is not None:
            return f"NB201 cifar10 test {c10['test']:.2f}"
        if c10.get("valid") is not None:
            return f"NB201 cifar10-valid valid {c10['valid']:.2f}"
        return "NB201 n/a"

    def truth_names(self, label: str) -> dict:
        return {"title": f"NB201 {label} accuracy", "column": f"nb201_{label.replace(' ', '_')}",
                "meaning": "200-epoch NB201 accuracy (%), the benchmark's mean over its training seeds"}

    def benchmark_truth(self, fields: list[dict], dataset: str) -> tuple[str, list[float | None]]:
        """NB201's accuracy on the run's dataset (CIFAR-10 for a dataset NB201 lacks): test where the benchmark has
        it for any genotype, else valid."""
        dataset = nb201_dataset_for(dataset)
        split = "test" if any(((f.get("nb201") or {}).get(dataset) or {}).get("test") is not None for f in fields) \
            else "valid"
        return nb201_label(dataset, split), [((f.get("nb201") or {}).get(dataset) or {}).get(split) for f in fields]
