"""A NATS-Bench topology directory in the real on-disk format, holding synthetic cells with a known ordering.

The shared fixture ``../shared/nb201/nats-fake/NATS-tss-v1_0-3ffb9-simple`` has the real records of cells 0, 11 and
284. :func:`write_synthetic_nats` writes ``meta.pickle.pbz2`` (copied) and one ``NNNNNN.pickle.pbz2`` per cell of
:data:`CELLS`: edges 0..4 take ``nor_conv_3x3`` / ``nor_conv_1x1`` / ``avg_pool_3x3`` (quality 2 / 1 / 0), edge 5 is
``skip_connect`` (3^5 = 243 cells). Each record is a copy of a real one (cell 0, 11 or 284 by the cell's code mod 3:
its structure, seeds and epoch times), with every training loss and accuracy replaced by real cell 11's, worsened by
how far the cell's value v (:func:`value`, all distinct) lies below the best: losses × (1 + 0.03 (v_max − v)),
accuracies − (v_max − v) points. So every fitness (TSE-EMA, TSE-E, Val Acc at any T, the final valid) ranks the
cells exactly as their test accuracy, and the best cell is all-``nor_conv_3x3`` on edges 0..4 (:data:`BEST`).
Records hold the ``'200'`` results only, for ``datasets`` (bz2 level 1 instead of nats_bench's 9, to be quick).
"""
from __future__ import annotations

import bz2
import copy
import itertools
import pickle
import shutil
from pathlib import Path

from nats_bench.api_utils import pickle_load

from darts_tse.space import Genotype

VARIED_OPS = ("avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")  # quality 0, 1, 2
CELLS = tuple(Genotype(ops + ("skip_connect",)) for ops in itertools.product(VARIED_OPS, repeat=5))
BEST = Genotype(("nor_conv_3x3",) * 5 + ("skip_connect",))
REAL = (0, 11, 284)
SHAPE = 11  # the real cell whose curves every synthetic cell follows


def value(genotype: Genotype) -> float:
    """Sum of the edge qualities, plus a base-3 tie-break below 0.25: distinct for every cell of CELLS."""
    qualities = [VARIED_OPS.index(op) for op in genotype.ops[:5]]
    return sum(qualities) + sum(q * 3**e for e, q in enumerate(qualities)) / 1000


V_MAX = value(BEST)


def write_synthetic_nats(real_dir: Path, out_dir: Path, cells=CELLS, datasets=("cifar10-valid", "cifar10")) -> Path:
    """Write the directory (see the module docstring); returns ``out_dir``."""
    out_dir.mkdir(parents=True)
    shutil.copy(real_dir / "meta.pickle.pbz2", out_dir / "meta.pickle.pbz2")
    real = {i: pickle_load(str(real_dir / f"{i:06d}.pickle.pbz2"))["200"] for i in REAL}
    for genotype in cells:
        record = _derive(real[REAL[genotype.index % 3]], real[SHAPE], genotype, datasets)
        with bz2.open(out_dir / f"{genotype.index:06d}.pickle.pbz2", "wb", compresslevel=1) as handle:
            pickle.dump({"200": record}, handle, protocol=4)
    return out_dir


def _derive(template: dict, shape: dict, genotype: Genotype, datasets) -> dict:
    gap = V_MAX - value(genotype)
    record = {key: template[key] for key in ("clear_net_done",)}
    record.update(arch_index=genotype.index, arch_str=genotype.to_str(),
                  dataset_seed={d: list(template["dataset_seed"][d]) for d in datasets}, all_results={})
    for (dataset, seed), result in template["all_results"].items():
        if dataset not in datasets:
            continue
        result = copy.deepcopy(result)
        model = shape["all_results"][(dataset, seed)]
        result["train_losses"] = {e: v * (1 + 0.03 * gap) for e, v in model["train_losses"].items()}
        result["eval_losses"] = {k: v * (1 + 0.03 * gap) for k, v in model["eval_losses"].items()}
        result["train_acc1es"] = {e: max(0.1, v - gap) for e, v in model["train_acc1es"].items()}
        result["eval_acc1es"] = {k: max(0.1, v - gap) for k, v in model["eval_acc1es"].items()}
        result["eval_names"] = list(model["eval_names"])
        result["eval_times"] = {k: result["eval_times"].get(k, 0.0) for k in model["eval_acc1es"]}
        result["name"] = genotype.to_str()
        record["all_results"][(dataset, seed)] = result
    return record
