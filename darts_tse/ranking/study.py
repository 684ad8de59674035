"""The one-shot ranking study of a trained supernet run: its subnetworks' estimates, their NB201 truth, the rank table;
and, over several runs (the paper's supernet seeds), the mean ± std of every number.

Each subnetwork's trace is appended to ``<run>/subnet_rankings/<key>/traces.jsonl`` as soon as it is trained (``key``
names the settings and the checkpoint), so an interrupted study continues where it stopped and a repeated one
costs nothing. The estimates are computed from the traces when the table is made.
"""
from __future__ import annotations

import hashlib
import json
import math
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from ..config import ConfigError, config_from_dict
from ..files import atomic_write_text, run_lock
from ..nb201 import load_benchmark, nb201_label
from ..search import (CHECKPOINT, CheckpointError, build_components, load_search_checkpoint, nb201_dataset_for,
                      nb201_lookup, resolve_device)
from ..space import Genotype
from .baselines import ZeroCostSettings, size_baselines, zero_cost_scores
from .estimates import DEFAULT_TSE_E_LAST, estimates, mean_over_runs, rank_table
from .subnets import FinetuneSettings, SubnetFinetuner, sample_subnets

log = logging.getLogger(__name__)
CACHE = "subnet_rankings"
VAL_ACC = ("all", "reference")  # all of search-valid (or valid_batches of it) | the TSE code's one 64-image minibatch
REFERENCE_VAL_BATCH = 64  # rubinxin/TSE oneshot_nb201/search-cell.py: --val_batch_size default 64, one batch per eval


@dataclass(frozen=True)
class RankingSettings:
    """What a ranking study of one run does (the defaults are the paper's: 200 subnetworks, B = 100, 200, 300)."""

    subnets: int | tuple[str, ...] = 200  # how many random ones, or NB201 strings
    budgets: tuple[int, ...] = (100, 200, 300)
    lr: float | None = None  # None: the learning rate the supernet ended with
    seed: int = 0
    valid_batches: int | None = None
    data_dir: str | None = None  # None: where the run read its data (its content hash is checked either way)
    benchmark: str | None = None  # None: the run's own --benchmark
    truth_dataset: str | None = None  # None: the dataset searched, if NB201 has it, else cifar10
    device: str = "auto"
    # the reference's protocol, one switch each (docs/oneshot.md names the file each comes from)
    val_acc: str = "all"  # "reference": Val Acc on one 64-image search-valid minibatch, as the TSE code's val_acc
    no_clip: bool = False  # fine-tune without the run's gradient clip (the TSE code never clips)
    budget_offset: int = 0  # 1: "B" reads the trace after B + 1 steps, as the TSE code's batch_idx % 100 == 0 does
    tse_e_last: int = DEFAULT_TSE_E_LAST  # TSE-E: the last k minibatches
    zero_cost: ZeroCostSettings | None = ZeroCostSettings()  # None: no zero-cost baselines (the size ones stay)


def rank_run(run_dir: str | Path, settings: RankingSettings, *, progress: bool = True,
             echo: Callable[[str], None] = print) -> dict:
    """The ranking study of one run directory: settings, the truth's label, every subnetwork's row, the rank table."""
    run_dir = Path(run_dir)
    state = load_search_checkpoint(run_dir / CHECKPOINT)
    config = config_from_dict(state["config"])
    if settings.data_dir is not None:
        config.data_dir = settings.data_dir
    device = resolve_device(settings.device)
    parts = build_components(config, device)
    if (state.get("data") or {}).get("sha256") not in (None, parts.data.record()["sha256"]):
        raise ConfigError(f"the data in {parts.data.source} differs from the data {run_dir} was trained on (sha256); "
                          f"point --data-dir at that data to rank its subnetworks")
    parts.model.load_state_dict(state["model"])
    lr = settings.lr if settings.lr is not None else float(state["weight_optimizer"]["param_groups"][0]["lr"])
    genotypes = _subnets(settings)
    budgets = tuple(sorted(set(settings.budgets)))
    if settings.val_acc not in VAL_ACC:
        raise ConfigError(f"unknown Val Acc protocol {settings.val_acc!r}; choose one of: {', '.join(VAL_ACC)}")
    reference_val = settings.val_acc == "reference"
    finetune = FinetuneSettings(budgets=tuple(b + settings.budget_offset for b in budgets), lr=lr,
                                momentum=config.momentum, nesterov=config.nesterov,
                                weight_decay=config.weight_decay, grad_clip=None if settings.no_clip else config.grad_clip,
                                batch_size=config.batch_size, seed=settings.seed,
                                valid_batches=1 if reference_val else settings.valid_batches,
                                valid_batch_size=REFERENCE_VAL_BATCH if reference_val else None)
    benchmark = load_benchmark(settings.benchmark if settings.benchmark is not None else config.benchmark)
    dataset = settings.truth_dataset or nb201_dataset_for(config.dataset)
    split = "test" if benchmark.has_test else "valid"
    if split == "valid":
        log.warning("the benchmark has no test accuracies: the truth is NB201 %s (pass --benchmark with a table for "
                    "test numbers)", nb201_label(dataset, split))
    described = {"run_epoch": state["epoch"], "run_id": state["run_id"], **asdict(finetune),
                 "subnets": [g.to_str() for g in genotypes]}
    if described["valid_batch_size"] is None:  # a key only when set, so that earlier studies' caches stay valid
        del described["valid_batch_size"]
    cache = _cache_dir(run_dir, described)
    with run_lock(cache):
        atomic_write_text(cache / "settings.json", json.dumps(described, indent=2) + "\n")
        traces = _read_traces(cache / "traces.jsonl")
        finetuner = SubnetFinetuner(parts.model, parts.data, finetune, device)
        todo = [g for g in genotypes if g.to_str() not in traces]
        if traces:
            echo(f"{run_dir}: {len(traces)} of {len(genotypes)} subnetworks already trained (in {cache}); "
                 f"{len(todo)} to go")
        with open(cache / "traces.jsonl", "a", encoding="utf-8") as handle:
            for genotype in tqdm(todo, desc=f"subnets of {run_dir.name}", unit="subnet", disable=not progress,
                                 dynamic_ncols=True):
                trace = finetuner.run(genotype)
                row = {"genotype": genotype.to_str(), "train_losses": trace.train_losses,
                       "valid_minibatch_losses": trace.valid_minibatch_losses,
                       "valid": {str(b): v for b, v in trace.valid.items()}}
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                traces[row["genotype"]] = row
    zero_cost = _zero_cost(cache, genotypes, parts.data, settings.zero_cost, device, progress, run_dir.name) \
        if settings.zero_cost is not None else {}
    rows = [_with_estimates(traces[g.to_str()], g, budgets, benchmark, dataset, split, settings.budget_offset,
                            settings.tse_e_last) for g in genotypes]
    for row, genotype in zip(rows, genotypes):
        row["baselines"] = size_baselines(genotype, dataset) | zero_cost.get(genotype.to_str(), {})
    scale = {name: getattr(config, name) for name in ("C", "N", "epochs", "batch_size")}
    scale["train_images"] = len(parts.data.train)
    protocol = {"val_acc": settings.val_acc, "finetune_grad_clip": finetune.grad_clip,
                "budget_offset": settings.budget_offset, "tse_e_last": settings.tse_e_last,
                "zero_cost": asdict(settings.zero_cost) if settings.zero_cost is not None else None}
    return {"run": str(run_dir), "kind": config.kind, "method": config.method_label, "seed": config.seed,
            "dataset": config.dataset, "scale": scale, "data": state.get("data"), "settings": described,
            "protocol": protocol, "supernet_config": config.to_dict(),
            "cache": str(cache),
            "truth": {"nb201": nb201_label(dataset, split), "dataset": dataset, "split": split,
                      "meaning": "200-epoch NB201 accuracy (%), the benchmark's mean over its training seeds"},
            "budgets": list(budgets), "subnets": rows, "table": rank_table(rows, list(budgets))}


def combine(results: list[dict]) -> dict:
    """Several runs' studies side by side, and the mean ± std over runs of every number of their tables."""
    budgets = results[0]["budgets"]
    labels = {result["truth"]["nb201"] for result in results}
    if any(result["budgets"] != budgets for result in results) or len(labels) > 1:
        raise ConfigError("the runs' studies differ in their budgets or their NB201 truth; rank them with the same "
                          "--B and --benchmark")
    return {"runs": results, "budgets": budgets, "truth": results[0]["truth"],
            "mean_over_runs": mean_over_runs([r["table"] for r in results], budgets)}


def _subnets(settings: RankingSettings) -> list[Genotype]:
    if isinstance(settings.subnets, int):
        return sample_subnets(settings.subnets, settings.seed)
    genotypes = [Genotype.parse(text) for text in settings.subnets]
    if len({g.to_str() for g in genotypes}) != len(genotypes):
        raise ConfigError("the subnetworks file lists a cell twice; list each once")
    return genotypes


def _cache_dir(run_dir: Path, described: dict) -> Path:
    key = hashlib.blake2b(json.dumps(described, sort_keys=True).encode(), digest_size=4).hexdigest()
    budgets = "-".join(map(str, described["budgets"]))
    cache = run_dir / CACHE / f"n{len(described['subnets'])}-B{budgets}-seed{described['seed']}-{key}"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write the subnetworks' traces under {run_dir / CACHE}: "
                          f"{error.strerror or error}; the run directory must be writable") from error
    return cache


def _read_traces(path: Path) -> dict[str, dict]:
    """The traces already written (a torn last line from a kill is dropped; it is trained again)."""
    traces = {}
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break
                raise CheckpointError(f"{path}: line {number} is not JSON; delete that file to train its "
                                      f"subnetworks again") from None
            traces[row["genotype"]] = row
        if lines and not path.read_text(encoding="utf-8").endswith("\n"):
            atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in traces.values()))
    return traces


def _with_estimates(trace: dict, genotype: Genotype, budgets: tuple[int, ...], benchmark, dataset: str,
                    split: str, offset: int = 0, tse_e_last: int = DEFAULT_TSE_E_LAST) -> dict:
    """A subnetwork's row: its truth from the benchmark given now (never cached), and its estimates at each budget
    B, read after B + `offset` steps (None at a budget where its training diverged: a non-finite loss by then)."""
    index, nb201 = nb201_lookup(benchmark, genotype)
    truth = ((nb201 or {}).get(dataset) or {}).get(split)
    valid = {int(k): v for k, v in trace["valid"].items()}
    rows = {}
    for label in budgets:
        budget = label + offset
        seen = [*trace["train_losses"][:budget], *trace["valid_minibatch_losses"][:budget],
                valid[budget]["valid_loss"]]
        finite = all(math.isfinite(value) for value in seen)
        rows[str(label)] = estimates(trace["train_losses"], trace["valid_minibatch_losses"], valid, budget,
                                     tse_e_last=tse_e_last) if finite else None
    return {"genotype": trace["genotype"], "nb201_index": index, "truth": truth, "estimates": rows}



def _zero_cost(cache: Path, genotypes: list[Genotype], data, settings: ZeroCostSettings, device, progress: bool,
               name: str) -> dict[str, dict]:
    """Every cell's zero-cost scores on one search-train minibatch, kept in ``<cache>/zero_cost-<key>.jsonl`` (one
    line per cell, appended as computed) so that a repeated study costs nothing."""
    key = hashlib.blake2b(json.dumps(asdict(settings), sort_keys=True).encode(), digest_size=4).hexdigest()
    path = cache / f"zero_cost-{key}.jsonl"
    done = _read_traces(path)
    todo = [g for g in genotypes if g.to_str() not in done]
    if todo:
        x, y = data.stream("train", settings.batch_size, seed=settings.seed, device=device,
                                stream="zero-cost").batch(0, 0)
        with run_lock(cache), open(path, "a", encoding="utf-8") as handle:
            for genotype in tqdm(todo, desc=f"zero-cost of {name}", unit="cell", disable=not progress,
                                 dynamic_ncols=True):
                row = {"genotype": genotype.to_str(),
                       **zero_cost_scores(genotype, x, y, data.num_classes, settings)}
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                done[row["genotype"]] = row
    return {g: {k: v for k, v in row.items() if k != "genotype"} for g, row in done.items()}
