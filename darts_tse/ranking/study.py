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

import torch
from tqdm.auto import tqdm

from ..config import VAL_ACC, ConfigError, config_from_dict
from ..data import check_data_files
from ..files import atomic_write_text, run_lock
from ..trust import check_recorded_sources
from ..search import CHECKPOINT, build_components, load_search_checkpoint, resolve_device
from ..spaces import SearchSpace
from .baselines import ZERO_COST, ZeroCostSettings, zero_cost_scores
from .estimates import DEFAULT_TSE_E_LAST, estimates, mean_over_runs, rank_table
from .subnets import FinetuneSettings, SubnetFinetuner, sample_subnets

log = logging.getLogger(__name__)
CACHE = "subnet_rankings"
REFERENCE_VAL_BATCH = 64  # rubinxin/TSE oneshot_nb201/search-cell.py: --val_batch_size default 64, one batch per eval


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
    trust_run_files: bool = False  # read a pickle-format benchmark / data path the run's checkpoint names
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
    named = {name for name in ("benchmark", "data_dir") if getattr(settings, name) is not None}
    check_recorded_sources({**config.to_dict(), "benchmark": settings.benchmark or config.benchmark}, named,
                           trusted=settings.trust_run_files, where=f"the checkpoint in {run_dir}")
    check_data_files(config.dataset, config.data_dir, (state.get("data") or {}).get("files_sha256"),
                     where=f"the run in {run_dir}")  # before a pickle-format dataset is opened
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
    if settings.val_acc not in VAL_ACC:
        raise ConfigError(f"unknown Val Acc protocol {settings.val_acc!r}; choose one of: {', '.join(VAL_ACC)}")
    reference_val = settings.val_acc == "reference"
    finetune = FinetuneSettings(budgets=tuple(b + settings.budget_offset for b in budgets), lr=lr,
                                momentum=config.momentum, nesterov=config.nesterov,
                                weight_decay=config.weight_decay, grad_clip=None if settings.no_clip else config.grad_clip,
                                batch_size=config.batch_size, seed=settings.seed,
                                valid_batches=1 if reference_val else settings.valid_batches,
                                valid_batch_size=REFERENCE_VAL_BATCH if reference_val else None)
    benchmark = space.load_benchmark(settings.benchmark if settings.benchmark is not None else config.benchmark)
    if benchmark is None:
        raise ConfigError(f"ranking subnetworks of the {space.name} space needs its benchmark for the truth: pass "
                          f"--benchmark ({space.benchmark_label})")
    truth_dataset = settings.truth_dataset or config.dataset
    truths = space.benchmark_fields(benchmark, genotypes)  # looked up now, never cached; batched where it can
    label, _ = space.benchmark_truth(truths, truth_dataset)
    if label.endswith("valid") and space.benchmark_key == "nb201":
        log.warning("the benchmark has no test accuracies: the truth is NB201 %s (pass --benchmark with a table for "
                    "test numbers)", label)
    supernet = {"run_id": state["run_id"], "epoch": state["epoch"], "weights": weights_fingerprint(state["model"])}
    described = {"run_epoch": state["epoch"], "run_id": state["run_id"], "weights": supernet["weights"],
                 **asdict(finetune), "subnets": [g.to_str() for g in genotypes]}
    if described["valid_batch_size"] is None:  # a key only when set, so that earlier studies' caches stay valid
        del described["valid_batch_size"]
    cache = _cache_dir(run_dir, described)
    with run_lock(cache):
        atomic_write_text(cache / "settings.json", json.dumps(described, indent=2) + "\n")
        traces = read_traces(cache / "traces.jsonl", supernet, finetune.budgets, space)  # the steps the traces hold
        finetuner = SubnetFinetuner(parts.model, parts.data, finetune, device)
        todo = [g for g in genotypes if g.to_str() not in traces]
        if traces:
            echo(f"{run_dir}: {len(traces)} of {len(genotypes)} subnetworks already trained (in {cache}); "
                 f"{len(todo)} to go")
        with open(cache / "traces.jsonl", "a", encoding="utf-8") as handle:
            for genotype in tqdm(todo, desc=f"subnets of {run_dir.name}", unit="subnet", disable=None if progress else True,
                                 dynamic_ncols=True):
                trace = finetuner.run(genotype)
                row = {"genotype": genotype.to_str(), "train_losses": trace.train_losses,
                       "valid_minibatch_losses": trace.valid_minibatch_losses,
                       "valid": {str(b): v for b, v in trace.valid.items()}, "supernet": supernet}
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                traces[row["genotype"]] = row
    zero_cost = _zero_cost(cache, genotypes, parts.data, settings.zero_cost, device, progress, run_dir.name) \
        if settings.zero_cost is not None and space.has_cell_baselines else {}
    rows = [_with_estimates(traces[g.to_str()], fields, budgets, space, truth_dataset, settings.budget_offset,
                            settings.tse_e_last) for g, fields in zip(genotypes, truths)]
    for row, genotype in zip(rows, genotypes):
        row["baselines"] = space.cell_baselines(genotype, truth_dataset) | zero_cost.get(genotype.to_str(), {})
    scale = {name: getattr(config, name) for name in ("space", "C", "N", "layers", "epochs", "batch_size")}
    scale["train_images"] = len(parts.data.train)
    protocol = {"val_acc": settings.val_acc, "finetune_grad_clip": finetune.grad_clip,
                "budget_offset": settings.budget_offset, "tse_e_last": settings.tse_e_last,
                "zero_cost": asdict(settings.zero_cost) if settings.zero_cost is not None else None}
    return {"run": str(run_dir), "kind": config.kind, "method": config.method_label,
            "space": getattr(config, "space", None), "seed": config.seed,
            "dataset": config.dataset, "scale": scale, "data": state.get("data"), "settings": described,
            "protocol": protocol, "supernet_config": config.to_dict(),
            "cache": str(cache),
            "truth": {space.benchmark_key: label, "label": label, **space.truth_names(label)},
            "budgets": list(budgets), "subnets": rows, "table": rank_table(rows, list(budgets))}


def combine(results: list[dict]) -> dict:
    """Several runs' studies side by side, grouped by their setting (the kind of run, its sampler or method, and its
    space where the config names one), and the mean ± std over the runs of each group (its supernet seeds) of every
    number of their tables. Runs of different kinds (one-shot supernets and differentiable searches) are refused."""
    budgets = results[0]["budgets"]
    labels = {result["truth"]["label"] for result in results}
    if any(result["budgets"] != budgets for result in results) or len(labels) > 1:
        raise ConfigError("the runs' studies differ in their budgets or their benchmark truth; rank them with the "
                          "same --B and --benchmark (and runs of one search space)")
    kinds = sorted({result["kind"] for result in results})
    if len(kinds) > 1:
        listed = "; ".join(f"{result['run']}: {result['kind']}" for result in results)
        raise ConfigError(f"the runs mix kinds of supernet ({listed}): a one-shot supernet and a differentiable "
                          f"search's are ranked for different reasons; rank each kind in its own command")
    groups: dict[str, list[dict]] = {}
    for result in results:
        groups.setdefault(setting_label(result), []).append(result)
    grouped = [{"setting": label, "runs": [result["run"] for result in members],
                "mean_over_runs": mean_over_runs([result["table"] for result in members], budgets)}
               for label, members in groups.items()]
    return {"runs": results, "budgets": budgets, "truth": results[0]["truth"], "groups": grouped,
            "mean_over_runs": grouped[0]["mean_over_runs"] if len(grouped) == 1 else None}


def setting_label(result: dict) -> str:
    """What a run's seeds are averaged within: its method or sampler, and its space where the run names one."""
    space = result.get("space")
    return f"{result['method']}" + (f" on {space}" if space else "")


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


def weights_fingerprint(model_state: dict) -> str:
    """A short hash of a supernet's weights (every tensor's name and bytes, in name order): which checkpoint a trace
    was trained from."""
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(model_state):
        tensor = model_state[name]
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_traces(path: Path, supernet: dict, budgets: tuple[int, ...], space: SearchSpace) -> dict[str, dict]:
    """The traces already written for `supernet` ({run_id, epoch, weights}).

    A row that cannot be a trace (torn by a kill, not JSON, not UTF-8, a wrong shape, shorter than the largest
    budget) is dropped and said so, and the file is rewritten without it, so the next row is never appended after a
    damaged one; the dropped subnetworks are trained again. A row of another supernet (its identity differs, or it
    has none) is refused: the cache was copied from another run, and its traces would be ranked as this run's."""
    return _read_rows(path, lambda raw: _trace_row(raw, budgets, space), supernet, "trained")


def _read_rows(path: Path, parse_row: Callable[[bytes], dict | None], supernet: dict | None,
               redo: str) -> dict[str, dict]:
    """The rows of a cache file by genotype: damaged ones dropped (the file rewritten without them), and rows of
    another supernet refused when `supernet` is given."""
    if not path.is_file():
        return {}
    data = path.read_bytes()
    rows: dict[str, dict] = {}
    damaged: list[int] = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        row = parse_row(raw)
        if row is None:
            damaged.append(number)
            continue
        if supernet is not None and row.get("supernet") != supernet:
            theirs = row.get("supernet")
            origin = ("carries no supernet identity" if theirs is None else
                      f"was trained from run {theirs.get('run_id')}, epoch {theirs.get('epoch')}, weights "
                      f"{theirs.get('weights')}")
            raise ConfigError(f"{path} line {number} {origin}, not from this checkpoint (run {supernet['run_id']}, "
                              f"epoch {supernet['epoch']}, weights {supernet['weights']}): the cache came from another "
                              f"supernet; move {path.parent} out of {path.parent.parent} and rank again")
        rows.setdefault(row["genotype"], row)
    if damaged or (data.strip() and not data.endswith(b"\n")):
        if damaged:
            log.warning("%s: dropped %d damaged row(s) (line %s%s); those subnetworks are %s again", path,
                        len(damaged), ", ".join(map(str, damaged[:5])), " ..." if len(damaged) > 5 else "", redo)
        atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows.values()))
    return rows


def _zero_cost_row(raw: bytes) -> dict | None:
    """The zero-cost row `raw` holds ({genotype, one number or null per proxy}), None when it is not one."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(row, dict) or not isinstance(row.get("genotype"), str):
        return None
    if not all(isinstance(row.get(name), (int, float, type(None))) and not isinstance(row.get(name), bool)
               for name in ZERO_COST):
        return None
    return row


def _trace_row(raw: bytes, budgets: tuple[int, ...], space: SearchSpace) -> dict | None:
    """The trace row `raw` holds, None when it is not one a study wrote for these budgets."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    need = max(budgets)

    def losses(value) -> bool:
        return isinstance(value, list) and len(value) >= need and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)

    if not isinstance(row, dict) or not isinstance(row.get("genotype"), str):
        return None
    valid = row.get("valid")
    if not (losses(row.get("train_losses")) and losses(row.get("valid_minibatch_losses")) and isinstance(valid, dict)
            and all(isinstance(valid.get(str(b)), dict) and {"valid_loss", "valid_acc"} <= valid[str(b)].keys()
                    for b in budgets)):
        return None
    try:
        space.parse_genotype(row["genotype"])
    except ValueError:  # the space's genotype error
        return None
    return row


def _with_estimates(trace: dict, fields: dict, budgets: tuple[int, ...], space: SearchSpace, dataset: str,
                    offset: int = 0, tse_e_last: int = DEFAULT_TSE_E_LAST) -> dict:
    """A subnetwork's row: its truth from the benchmark fields looked up now (never cached), and its estimates at
    each budget B, read after B + `offset` steps (None at a budget where its training diverged: a non-finite loss by
    then)."""
    _, (truth,) = space.benchmark_truth([fields], dataset)
    valid = {int(k): v for k, v in trace["valid"].items()}
    rows = {}
    for label in budgets:
        budget = label + offset
        seen = [*trace["train_losses"][:budget], *trace["valid_minibatch_losses"][:budget],
                valid[budget]["valid_loss"]]
        finite = all(math.isfinite(value) for value in seen)
        rows[str(label)] = estimates(trace["train_losses"], trace["valid_minibatch_losses"], valid, budget,
                                     tse_e_last=tse_e_last) if finite else None
    keys = {key: value for key, value in fields.items() if key != space.benchmark_key}  # e.g. nb201_index
    return {"genotype": trace["genotype"], **keys, "truth": truth, "estimates": rows}



def _zero_cost(cache: Path, genotypes: list, data, settings: ZeroCostSettings, device, progress: bool,
               name: str) -> dict[str, dict]:
    """Every cell's zero-cost scores on one search-train minibatch, kept in ``<cache>/zero_cost-<key>.jsonl`` (one
    line per cell, appended as computed) so that a repeated study costs nothing."""
    key = hashlib.blake2b(json.dumps(asdict(settings), sort_keys=True).encode(), digest_size=4).hexdigest()
    path = cache / f"zero_cost-{key}.jsonl"
    done = _read_rows(path, _zero_cost_row, None, "scored")
    todo = [g for g in genotypes if g.to_str() not in done]
    if todo:
        x, y = data.stream("train", settings.batch_size, seed=settings.seed, device=device,
                                stream="zero-cost").batch(0, 0)
        with run_lock(cache), open(path, "a", encoding="utf-8") as handle:
            for genotype in tqdm(todo, desc=f"zero-cost of {name}", unit="cell", disable=None if progress else True,
                                 dynamic_ncols=True):
                row = {"genotype": genotype.to_str(),
                       **zero_cost_scores(genotype, x, y, data.num_classes, settings)}
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                done[row["genotype"]] = row
    return {g: {k: v for k, v in row.items() if k != "genotype"} for g, row in done.items()}
