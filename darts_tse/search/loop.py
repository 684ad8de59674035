"""The epoch loop: one epoch of training, the supernet's evaluation, the epoch's record; and the whole search around it
(run directory, lock, resume, checkpoint after every epoch, sinks).

The loop drives any :class:`~darts_tse.architects.Architect` through ``train_epoch``; it never knows which one.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..architects import Architect
from ..config import ConfigError, SearchConfig
from ..data import iterate_eval
from ..estimators import TSEEMATracker
from ..files import remove_stale_temporaries, run_lock
from ..mixing import alpha_entropy
from ..nb201 import ArchitectureNotInBenchmark, NB201Benchmark, RecordUnreadable, load_benchmark
from ..space import NB201SearchNetwork
from ..tracking import FAILED, FINISHED, INTERRUPTED, LocalFiles, Sink, WandbSink, new_wandb_id
from .checkpoint import (
    CHECKPOINT,
    checkpoint_state,
    load_search_checkpoint,
    missing_checkpoint_error,
    restore,
    save_checkpoint,
    seed_everything,
)
from .components import SearchComponents, build_components, resolve_device

log = logging.getLogger(__name__)
PROGRESS_EVERY = 20  # steps between progress-bar refreshes (the only host synchronisation inside an epoch)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


# ---- one epoch --------------------------------------------------------------------------------------------------
def capped(batches: Iterable, limit: int | None) -> Iterator:
    """The first `limit` batches (all when None)."""
    return iter(batches) if limit is None else itertools.islice(batches, limit)


def train_epoch(architect: Architect, batches: Iterable, *, update_alpha: bool, epoch: int, total: int,
                progress: bool) -> dict:
    """Run the architect over one epoch; returns mean train loss/accuracy, step and α-step counts."""
    loss_sum = correct = None
    count = steps = 0
    bar = tqdm(total=total, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    try:
        for stats in architect.train_epoch(batches, update_alpha=update_alpha):
            steps += 1
            count += stats.count
            weighted = stats.loss * stats.count
            loss_sum = weighted if loss_sum is None else loss_sum + weighted
            correct = stats.correct if correct is None else correct + stats.correct
            if steps % PROGRESS_EVERY == 0:
                _check_finite(loss_sum, epoch, steps)
                bar.set_postfix(loss=f"{loss_sum.item() / count:.3f}", acc=f"{100 * correct.item() / count:.1f}%")
            bar.update(1)
    finally:
        bar.close()
    if steps == 0:
        raise ConfigError("the training split produced no batches; check --steps-per-epoch and the dataset size")
    _check_finite(loss_sum, epoch, steps)
    return {"train_loss": loss_sum.item() / count, "train_acc": 100.0 * correct.item() / count,
            "steps": steps, "alpha_steps": architect.alpha_steps}


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    """NonFiniteLossError unless the epoch's running loss sum is finite."""
    if not torch.isfinite(loss_sum):
        raise NonFiniteLossError(f"non-finite training loss in epoch {epoch} (0-based), detected at step {step} (the loss is "
                                 f"checked every {PROGRESS_EVERY} steps and at the end of each epoch)")


@torch.no_grad()
def evaluate(model: NB201SearchNetwork, batches: Iterable) -> dict:
    """Supernet loss and accuracy (deterministic mixing: softmax / Dirichlet mean) over the given batches."""
    model.eval()
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    count = 0
    for x, y in batches:
        logits = model(x)
        loss_sum = loss_sum.to(logits.device) + F.cross_entropy(logits, y, reduction="sum")
        correct = correct.to(logits.device) + (logits.argmax(1) == y).sum()
        count += y.shape[0]
    model.train()
    return {"valid_loss": loss_sum.item() / count, "valid_acc": 100.0 * correct.item() / count}


def arch_snapshot(model: NB201SearchNetwork) -> dict:
    """α and the mixing probabilities as nested lists (rounded for readable files)."""
    return {"alpha": _rounded(model.alpha.detach().cpu()), "probabilities": _rounded(model.probabilities().cpu())}


def _rounded(tensor: torch.Tensor) -> list:
    return [[round(float(v), 6) for v in row] for row in tensor]


def epoch_record(epoch: int, train: dict, valid: dict, model: NB201SearchNetwork, benchmark: NB201Benchmark,
                 tse_ema: float, lr: float, seconds: float) -> dict:
    """The metrics.jsonl row of a finished epoch."""
    genotype = model.genotype()
    index, nb201 = nb201_lookup(benchmark, genotype)
    return {
        "epoch": epoch,
        "train_loss": train["train_loss"], "train_acc": train["train_acc"],
        "valid_loss": valid["valid_loss"], "valid_acc": valid["valid_acc"],
        "steps": train["steps"], "alpha_steps": train["alpha_steps"],
        "alpha_entropy": alpha_entropy(model.probabilities()),
        "genotype": genotype.to_str(), "nb201_index": index,
        "skip_count": genotype.skip_count, "param_free_count": genotype.param_free_count,
        "tse_ema": tse_ema, "lr": lr, "seconds": round(seconds, 3),
        "nb201": nb201,
    }


def nb201_lookup(benchmark: NB201Benchmark, genotype) -> tuple[int, dict | None]:
    """(NB201 index, {dataset: {valid, test}}) of `genotype`; the numbers are None, with a warning, where a partial
    benchmark lacks the architecture or its record is corrupt (an unreadable benchmark or a missing package still
    raises)."""
    try:
        result = benchmark.query(genotype)
    except (ArchitectureNotInBenchmark, RecordUnreadable) as error:
        log.warning("no NB201 numbers for %s: %s", genotype.to_str(), error)
        return genotype.index, None
    return result.index, {k: v for k, v in result.to_dict().items() if k not in ("index", "genotype")}


def epoch_label(epoch: int, epochs: int) -> str:
    """'epoch 2 of 0..49': epochs are 0-based everywhere (console, metrics.jsonl, tables, plots)."""
    return f"epoch {epoch} of 0..{epochs - 1}"


def console_line(record: dict, epochs: int) -> str:
    """A one-line summary of an epoch, with the NB201 number labelled by dataset and split."""
    c10 = (record["nb201"] or {}).get("cifar10") or {}
    if c10.get("test") is not None:
        nb = f"NB201 cifar10 test {c10['test']:.2f}"
    elif c10.get("valid") is not None:
        nb = f"NB201 cifar10-valid valid {c10['valid']:.2f}"
    else:
        nb = "NB201 n/a"
    return (f"{epoch_label(record['epoch'], epochs)} | train loss {record['train_loss']:.4f} acc {record['train_acc']:.2f}% | "
            f"valid loss {record['valid_loss']:.4f} acc {record['valid_acc']:.2f}% | α steps {record['alpha_steps']} "
            f"H(α) {record['alpha_entropy']:.6f} (ln 5 − H {math.log(5) - record['alpha_entropy']:.1e}) skip {record['skip_count']} | {nb} | {record['genotype']} | "
            f"{record['seconds']:.1f}s")


# ---- the whole search -------------------------------------------------------------------------------------------
def run_search(config: SearchConfig, *, resume: bool = False, echo=print) -> list[dict]:
    """Run (or resume) a search; returns the metrics rows of all finished epochs.

    After every epoch the checkpoint (weights, α, both optimizers, LR schedule, RNG states, data position,
    history) is written atomically, then the record goes to metrics.jsonl, genotypes.jsonl, genotype.json and W&B.
    One process at a time may write to a run directory (a lock file in it).
    """
    config.validate()
    if config.out is None:
        config.out = config.default_out()
    out = Path(config.out)
    if resume and not out.is_dir():
        raise missing_checkpoint_error(out / CHECKPOINT)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create --out {out}: {error.strerror or error}; choose a writable directory") from error
    for setting in config.ignored_settings():
        log.warning("%s", setting)
    with run_lock(out):  # checked before the checkpoint: a run still in its first epoch has none yet
        if resume and not (out / CHECKPOINT).is_file():
            raise missing_checkpoint_error(out / CHECKPOINT)
        remove_stale_temporaries(out)
        return _search_in(out, config, resume, echo)


def _search_in(out: Path, config: SearchConfig, resume: bool, echo) -> list[dict]:
    checkpoint_path = out / CHECKPOINT
    if not resume and checkpoint_path.exists():
        raise ConfigError(f"{out} already holds a search (checkpoint.pt); pass --resume to continue it or choose a new --out")
    state = load_search_checkpoint(checkpoint_path) if resume else None
    if state is not None:
        saved_config = SearchConfig.from_dict(state["config"])
        differences = config.search_differences(saved_config)
        if differences:
            raise ConfigError(f"--resume refused: these settings differ from the checkpoint's (checkpoint -> now): "
                              f"{'; '.join(map(_as_flag, differences))}; rerun with the original values, or start a "
                              f"new --out")
        if config.benchmark != saved_config.benchmark:
            log.warning("NB201 numbers of the epochs already finished came from --benchmark %s; the following ones "
                        "come from %s", saved_config.benchmark, config.benchmark)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    seed_everything(config.seed)
    parts = build_components(config, device)
    benchmark = load_benchmark(config.benchmark)  # every backend reads its source here: a bad one fails before epoch 1
    tse_ema = TSEEMATracker()
    history: list[dict] = []
    start_epoch = 0
    run_id = new_wandb_id(out.name)  # the W&B run id, kept in the checkpoint so that a resume continues that run
    data_record = parts.data.record()
    if resume:
        _check_same_data(state, data_record, out)
        restore(parts, state, tse_ema)
        history, start_epoch, run_id = state["history"], state["epoch"] + 1, state["run_id"]
        if start_epoch >= config.epochs:  # the sinks below still rewrite the files from the history
            echo(f"{out} already finished all {config.epochs} epochs (0..{config.epochs - 1}); nothing to resume")
        else:
            echo(f"resuming {out}: epochs 0..{start_epoch - 1} are finished; continuing with epoch {start_epoch} "
                 f"of 0..{config.epochs - 1}")
    sinks: list[Sink] = [LocalFiles(out), WandbSink(out, mode=config.wandb, project=config.wandb_project,
                                                    group=config.wandb_group or config.method, tags=config.wandb_tags,
                                                    run_id=_wandb_id(run_id), name=out.name)]
    if start_epoch < config.epochs:
        echo(f"{config.method} on {config.dataset} ({parts.device}), {config.epochs} epochs → {out}")
    saved = start_epoch  # epochs whose checkpoint is on disk
    exit_code = FAILED
    try:
        for sink in sinks:
            sink.start(config.to_dict() | {"data": data_record}, history)
        for epoch in range(start_epoch, config.epochs):
            record, arch = run_epoch(config, parts, benchmark, tse_ema, epoch)
            history.append({"metrics": record, "arch": arch})
            save_checkpoint(checkpoint_path, checkpoint_state(config, parts, tse_ema, epoch, history, run_id, data_record))
            saved = epoch + 1
            for sink in sinks:
                sink.log_epoch(record, arch)
            echo(console_line(record, config.epochs))
        exit_code = FINISHED
    except KeyboardInterrupt:
        exit_code = INTERRUPTED
        advice = f"continue with: python train_search.py --resume --out {out}" if saved else "start it again without --resume"
        echo(f"interrupted: {_saved_note(saved, config.epochs, out)}; {advice}")
        raise
    except NonFiniteLossError as error:
        raise NonFiniteLossError(f"{error}; {_saved_note(saved, config.epochs, out)} (try a lower --lr, or "
                                 f"--grad-clip)") from None
    finally:
        for sink in sinks:
            sink.finish(exit_code)
    return [row["metrics"] for row in history]


def _check_same_data(state: dict, data_record: dict, out: Path) -> None:
    """ConfigError when the data read now differs from the data the run started on (its content hash)."""
    saved = (state.get("data") or {}).get("sha256")
    if saved is not None and saved != data_record["sha256"]:
        raise ConfigError(f"--resume refused: the data in {data_record['source']} differs from the data {out} started "
                          f"on (sha256 {saved[:12]}… then, {data_record['sha256'][:12]}… now); restore that data, or "
                          f"start a new --out")


def resumed_config(out: str | Path, given: dict) -> SearchConfig:
    """The settings to resume the search in `out` with: the checkpoint's, with `given` (the settings a user named)
    on top. Without a checkpoint, just `given`: :func:`run_search` then says why there is none."""
    path = Path(out) / CHECKPOINT
    saved = load_search_checkpoint(path)["config"] if path.is_file() else {}
    return SearchConfig.from_dict({**saved, **given, "out": str(out)})


def _as_flag(difference: str) -> str:
    """'arch_lr: 0.1 -> 0.2' as the command line spells it: '--arch-lr: 0.1 -> 0.2' ('--[no-]nesterov' for a switch)."""
    name, _, change = difference.partition(":")
    switch = "[no-]" if change.strip().split(" -> ")[0] in ("True", "False") else ""
    return f"--{switch}{name.replace('_', '-')}:{change}"


def _saved_note(saved: int, epochs: int, out: Path) -> str:
    """What the checkpoint holds after a failure or an interruption."""
    if saved == 0:
        return f"no epoch had finished, so {out} holds no checkpoint"
    return f"the checkpoint after epoch {saved - 1} (0-based; {saved} of {epochs} epochs finished) in {out} is kept"


def run_epoch(config: SearchConfig, parts: SearchComponents, benchmark: NB201Benchmark, tse_ema: TSEEMATracker,
              epoch: int) -> tuple[dict, dict]:
    """Train one epoch, evaluate the supernet on search-valid, and build the epoch's record."""
    started = time.perf_counter()
    lr = parts.weight_optimizer.param_groups[0]["lr"]
    train_stream = parts.data.stream("train", config.batch_size, seed=config.seed, device=parts.device)
    total = min(train_stream.num_batches(), config.steps_per_epoch or math.inf)
    train = train_epoch(parts.architect, capped(train_stream.epoch(epoch), config.steps_per_epoch),
                        update_alpha=epoch >= config.arch_warmup_epochs, epoch=epoch, total=total,
                        progress=config.progress)
    parts.scheduler.step()
    valid_batches = iterate_eval(parts.data.valid, config.batch_size, parts.data.mean, parts.data.std, parts.device)
    valid = evaluate(parts.model, capped(valid_batches, config.steps_per_epoch))
    if not math.isfinite(valid["valid_loss"]):  # e.g. the weights diverged in the epoch's last steps
        raise NonFiniteLossError(f"non-finite search-valid loss after epoch {epoch} (0-based), so that epoch is not saved")
    ema = tse_ema.update(train["train_loss"])
    if parts.device.type == "cuda":
        torch.cuda.synchronize()
    record = epoch_record(epoch, train, valid, parts.model, benchmark, ema, lr, time.perf_counter() - started)
    return record, arch_snapshot(parts.model)


def _wandb_id(name: str) -> str:
    """A W&B run id derived from the run directory name (W&B ids allow letters, digits, '-' and '_')."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[-64:]
