"""The one-shot ranking study of a trained supernet run: its subnetworks' estimates, their benchmark truth (the run's
space's: NB201 look-up, NB301 surrogate in one batched call), the rank table;
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
from ..search import CHECKPOINT, CheckpointError, build_components, load_search_checkpoint, resolve_device
from ..spaces import SearchSpace
from .estimates import estimates, mean_over_runs, rank_table
from .subnets import FinetuneSettings, SubnetFinetuner, sample_subnets

log = logging.getLogger(__name__)
CACHE = "subnet_rankings"


@dataclass(frozen=True)
class RankingSettings:
    """What a ranking study of one run does (the defaults are the paper's: 200 subnetworks, B = 100, 200, 300)."""

    subnets: int | tuple[str, ...] = 200  # how many random ones, or genotype strings of the run's space
    budgets: tuple[int, ...] = (100, 200, 300)
    lr: float | None = None  # None: the learning rate the supernet ended with
    seed: int = 0
    valid_batches: int | None = None
    data_dir: str | None = None  # None: where the run read its data (its content hash is checked either way)
    benchmark: str | None = None  # None: the run's own --benchmark
    truth_dataset: str | None = None  # None: the dataset searched, if NB201 has it, else cifar10
    device: str = "auto"


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
    space = parts.space
    genotypes = _subnets(settings, space)
    budgets = tuple(sorted(set(settings.budgets)))
    finetune = FinetuneSettings(budgets=budgets, lr=lr, momentum=config.momentum, nesterov=config.nesterov,
                                weight_decay=config.weight_decay, grad_clip=config.grad_clip,
                                batch_size=config.batch_size, seed=settings.seed, valid_batches=settings.valid_batches)
    benchmark = space.load_benchmark(settings.benchmark if settings.benchmark is not None else config.benchmark)
    if benchmark is None:
        raise ConfigError(f"ranking subnetworks of the {space.name} space needs its benchmark for the truth: pass "
                          f"--benchmark ({space.benchmark_label})")
    truths = space.benchmark_fields(benchmark, genotypes)  # looked up now, never cached; batched where it can
    label, _ = space.benchmark_truth(truths, settings.truth_dataset or config.dataset)
    if label.endswith("valid") and space.benchmark_key == "nb201":
        log.warning("the benchmark has no test accuracies: the truth is NB201 %s (pass --benchmark with a table for "
                    "test numbers)", label)
    described = {"run_epoch": state["epoch"], "run_id": state["run_id"], **asdict(finetune),
                 "subnets": [g.to_str() for g in genotypes]}
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
    rows = [_with_estimates(traces[g.to_str()], fields, budgets, space, settings.truth_dataset or config.dataset)
            for g, fields in zip(genotypes, truths)]
    scale = {name: getattr(config, name) for name in ("space", "C", "N", "layers", "epochs", "batch_size")}
    scale["train_images"] = len(parts.data.train)
    return {"run": str(run_dir), "kind": config.kind, "method": config.method_label, "seed": config.seed,
            "dataset": config.dataset, "scale": scale, "data": state.get("data"), "settings": described,
            "cache": str(cache),
            "truth": {space.benchmark_key: label, "label": label, **space.truth_names(label)},
            "budgets": list(budgets), "subnets": rows, "table": rank_table(rows, list(budgets))}


def combine(results: list[dict]) -> dict:
    """Several runs' studies side by side, and the mean ± std over runs of every number of their tables."""
    budgets = results[0]["budgets"]
    labels = {result["truth"]["label"] for result in results}
    if any(result["budgets"] != budgets for result in results) or len(labels) > 1:
        raise ConfigError("the runs' studies differ in their budgets or their benchmark truth; rank them with the "
                          "same --B and --benchmark (and runs of one search space)")
    return {"runs": results, "budgets": budgets, "truth": results[0]["truth"],
            "mean_over_runs": mean_over_runs([r["table"] for r in results], budgets)}


def _subnets(settings: RankingSettings, space: SearchSpace) -> list:
    if isinstance(settings.subnets, int):
        if space.path_count is not None and settings.subnets > space.path_count:
            raise ConfigError(f"--subnets {settings.subnets}: the {space.name} space has only {space.path_count:,} "
                              f"subnetworks; give 1..{space.path_count}")
        return sample_subnets(settings.subnets, settings.seed, space)
    genotypes = [space.parse_genotype(text) for text in settings.subnets]
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


def _with_estimates(trace: dict, fields: dict, budgets: tuple[int, ...], space: SearchSpace, dataset: str) -> dict:
    """A subnetwork's row: its truth from the benchmark fields looked up now (never cached), and its estimates at
    each budget (None at a budget where its training diverged: a non-finite loss by then)."""
    _, (truth,) = space.benchmark_truth([fields], dataset)
    valid = {int(k): v for k, v in trace["valid"].items()}
    rows = {}
    for budget in budgets:
        seen = [*trace["train_losses"][:budget], *trace["valid_minibatch_losses"][:budget],
                valid[budget]["valid_loss"]]
        finite = all(math.isfinite(value) for value in seen)
        rows[str(budget)] = estimates(trace["train_losses"], trace["valid_minibatch_losses"], valid, budget) \
            if finite else None
    keys = {key: value for key, value in fields.items() if key != space.benchmark_key}  # e.g. nb201_index
    return {"genotype": trace["genotype"], **keys, "truth": truth, "estimates": rows}

