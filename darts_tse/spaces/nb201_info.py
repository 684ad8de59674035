"""The NB201 space, torch-free half: its genotype (one op per edge of six), names, record fields and NB201 numbers."""
from __future__ import annotations

from ..nb201.labels import NB201_DATASETS, NB201_SPLITS, nb201_label
from ..space.genotype import EDGES, NUM_ARCHITECTURES, OPS, Genotype, GenotypeError
from .base import SpaceError, SpaceInfo
NB201_SPLIT_MEANING = {
    ("cifar10", "test"): "NB201 'cifar10': trained on all 50k CIFAR-10 training images, tested on the 10k test set",
    ("cifar10", "valid"): "NB201 'cifar10-valid': trained on 25k CIFAR-10 training images, evaluated on the other 25k",
}


def nb201_dataset_for(dataset: str) -> str:
    """The NB201 dataset whose numbers judge a run on `dataset`: itself if NB201 has it, else CIFAR-10."""
    return dataset if dataset in NB201_DATASETS else "cifar10"


class NB201Info(SpaceInfo):
    """NAS-Bench-201: one cell type (one α of 6 edges × 5 ops shared by every cell), NB201 look-ups."""

    name = "nb201"
    cell_types = ("cell",)
    benchmark_key = "nb201"
    benchmark_keys = ("nb201_index", "nb201")
    kept_edges = len(EDGES)
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

    def curve_value(self, row: dict, dataset: str, split: str) -> float | None:
        return ((row.get("nb201") or {}).get(dataset) or {}).get(split)

    def choose_curve(self, runs_rows: list[list[dict]], dataset: str | None, split: str | None) -> tuple[str, str]:
        """By default cifar10 test if every run has it, else cifar10-valid valid; with a dataset but no split: its
        test numbers if every run has them, else its valid numbers."""
        if dataset == "cifar10-valid":
            if split == "test":  # NB201's cifar10 test numbers come from nets trained on all 50k images
                raise SpaceError("NB201 has no test accuracy recorded for cifar10-valid here; use --dataset cifar10 "
                                 "--split test (trained on the full training set), or --split valid")
            dataset, split = "cifar10", split or "valid"
        dataset = dataset or "cifar10"
        if dataset not in NB201_DATASETS:
            raise SpaceError(f"unknown NB201 dataset {dataset!r}; choose one of: cifar10, cifar10-valid, "
                             f"{', '.join(NB201_DATASETS[1:])}")
        if split is None:
            has_test = all(any(self.curve_value(row, dataset, "test") is not None for row in rows) for rows in runs_rows)
            split = "test" if has_test else "valid"
        if split not in NB201_SPLITS:
            raise SpaceError(f"unknown NB201 split {split!r}; choose valid or test")
        if not any(self.curve_value(row, dataset, split) is not None for rows in runs_rows for row in rows):
            raise SpaceError(f"no run has NB201 {nb201_label(dataset, split)} accuracies (searches without --benchmark "
                             f"have valid accuracies only)")
        return dataset, split

    def split_meaning(self, dataset: str, split: str) -> str:
        return NB201_SPLIT_MEANING.get((dataset, split), "")

    def curve_title(self, dataset: str, split: str) -> str:
        return f"NB201 {nb201_label(dataset, split)}"

    def curve_meaning(self, dataset: str, split: str) -> str:
        return (f"200-epoch {nb201_label(dataset, split)} accuracy (%) of the derived genotype (the benchmark's mean "
                f"over its own training seeds)")

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
