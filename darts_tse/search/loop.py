"""The epoch loop: one epoch of training, the evaluation on search-valid, the epoch's record; and the whole run around
it (the run directory, its lock, resume, a checkpoint after every epoch, the sinks).

The loop drives a :class:`~darts_tse.search.tasks.SearchTask` (an architect's search or a one-shot supernet) and
never knows which one. What it promises a user (docs/tracking.md):

* nothing a user has is overwritten: a fresh run refuses a directory that holds run files (``--overwrite`` removes
  exactly those, and says so); a failed start leaves no directory behind; a run stopped before its first epoch
  finished removes only what it wrote;
* a kill loses at most the running epoch (the checkpoint is written atomically after every epoch), and a write that
  fails (a full disk) stops with one line that says the last checkpoint is intact and how to resume.
"""
from __future__ import annotations

import errno
import itertools
import json
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
from tqdm.auto import tqdm

from ..config import ConfigError, RunConfig, config_from_dict
from ..cpus import available_cpus, thread_hint
from ..data import check_data_files, iterate_eval
from ..estimators import TSEEMATracker
from ..files import (CONFIG_FILE, LOCK_FILE, RunLockedError, lock_held, remove_run_files, remove_stale_temporaries,
                     run_files, run_lock)
from ..spaces import SpaceInfo, get_space, info_of
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
from .components import SearchComponents, build_components, configure_kernels, resolve_device
from .environment import exactness_differences, run_environment
from .schedule import check_new_length, replan_schedule, window_note
from .tasks import SearchTask

log = logging.getLogger(__name__)
HINT_AFTER_S = 5.0  # a first epoch shorter than this says too little about the CPUs' load for a thread hint
PROGRESS_EVERY = 20  # steps between progress-bar refreshes (the only host synchronisation inside an epoch)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class RunWriteError(RuntimeError):
    """A run's files could not be written (a full disk, a read-only folder); the message says what was kept."""


# ---- one epoch --------------------------------------------------------------------------------------------------
def capped(batches: Iterable, limit: int | None) -> Iterator:
    """The first `limit` batches (all when None)."""
    return iter(batches) if limit is None else itertools.islice(batches, limit)


def train_epoch(task: SearchTask, batches: Iterable, *, epoch: int, total: int, progress: bool) -> dict:
    """Run the task over one epoch; returns the mean train loss/accuracy, the step count and the task's counters."""
    loss_sum = correct = None
    count = steps = 0
    bar = tqdm(total=total, desc=f"epoch {epoch}", leave=False, disable=None if progress else True, dynamic_ncols=True)
    try:
        for stats in task.train_epoch(batches, epoch=epoch):
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
    return {"train_loss": loss_sum.item() / count, "train_acc": 100.0 * float(correct.item()) / count,
            "steps": steps, **task.counters()}


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    """NonFiniteLossError unless the epoch's running loss sum is finite."""
    if not torch.isfinite(loss_sum):
        raise NonFiniteLossError(f"non-finite training loss in epoch {epoch} (0-based), detected at step {step} (the "
                                 f"loss is checked every {PROGRESS_EVERY} steps and at the end of each epoch)")


def cosine_per_step(batches: Iterable, optimizer: torch.optim.Optimizer, config: RunConfig, epoch: int,
                    total: int) -> Iterator:
    """The batches, each after setting the weights' learning rate to the cosine of epoch + step/total (annealed from
    --lr to --lr-min over --epochs, step = 0.. within the epoch): AutoDL's scheduler as the TSE code updates it."""
    for step, batch in enumerate(batches):
        progress = (epoch + step / total) / config.epochs
        lr = config.lr_min + (config.lr - config.lr_min) * (1 + math.cos(math.pi * progress)) / 2
        for group in optimizer.param_groups:
            group["lr"] = lr
        yield batch


@dataclass
class EpochResult:
    """What one epoch's training and evaluation returned, and how long each took (wall-clock seconds; both end
    in a read of a device number, so on CUDA they include the device's work)."""

    train: dict
    valid: dict
    lr: float  # the weights' learning rate during the epoch
    train_seconds: float
    eval_seconds: float


def train_and_evaluate(config: RunConfig, parts: SearchComponents, epoch: int) -> EpochResult:
    """Train one epoch (then step the LR schedule) and evaluate on search-valid: the part of an epoch that
    :func:`run_epoch` records and ``scripts/bench_search.py`` times."""
    started = time.perf_counter()
    lr = parts.weight_optimizer.param_groups[0]["lr"]
    train_stream = parts.data.stream("train", config.batch_size, seed=config.seed, device=parts.device)
    total = min(train_stream.num_batches(), config.steps_per_epoch or math.inf)
    batches = capped(train_stream.epoch(epoch), config.steps_per_epoch)
    if config.lr_schedule == "step":
        batches = cosine_per_step(batches, parts.weight_optimizer, config, epoch, total)
    train = train_epoch(parts.task, batches, epoch=epoch, total=total, progress=config.progress)
    for group in parts.weight_optimizer.param_groups:  # the epoch's start value: the scheduler's recursion needs it
        group["lr"] = lr
    parts.scheduler.step()
    trained = time.perf_counter()
    limit = config.valid_batch_limit()
    valid_split = parts.data.split("valid", parts.device)

    def valid_batches():
        return capped(iterate_eval(valid_split, config.batch_size, parts.data.mean, parts.data.std, parts.device),
                      limit)
    valid = parts.task.evaluate(valid_batches)
    return EpochResult(train, valid, lr, trained - started, time.perf_counter() - trained)


def run_epoch(config: RunConfig, parts: SearchComponents, benchmark, tse_ema: TSEEMATracker,
              epoch: int) -> tuple[dict, dict | None]:
    """Train one epoch, evaluate on search-valid, and build the epoch's record (and genotypes.jsonl snapshot)."""
    started = time.perf_counter()
    result = train_and_evaluate(config, parts, epoch)
    train, valid = result.train, result.valid
    split = parts.task.eval_split
    if not math.isfinite(valid[f"{split}_loss"]) and valid.get("probes") != []:  # e.g. weights diverged at the end
        raise NonFiniteLossError(f"non-finite {SPLIT_NAMES.get(split, split)} loss after epoch {epoch} (0-based), so "
                                 f"that epoch is not saved")
    ema = tse_ema.update(train["train_loss"])
    parts.task.observe_training(train)
    fields, arch = parts.task.record(valid, benchmark)
    if parts.device.type == "cuda":
        torch.cuda.synchronize()
    return epoch_record(epoch, train, valid, fields, ema, result.lr, time.perf_counter() - started, split=split), arch


SPLIT_NAMES = {"valid": "search-valid", "test": "test"}  # a task's eval_split, as the console names it


def epoch_record(epoch: int, train: dict, valid: dict, fields: dict, tse_ema: float, lr: float,
                 seconds: float, *, split: str = "valid") -> dict:
    """The metrics.jsonl row of a finished epoch: the loop's numbers around the task's own fields (`split`: the
    task's evaluation split, ``valid`` for a search, ``test`` for a training run)."""
    return {"epoch": epoch, "train_loss": train["train_loss"], "train_acc": train["train_acc"],
            f"{split}_loss": valid[f"{split}_loss"], f"{split}_acc": valid[f"{split}_acc"],
            **{key: value for key, value in train.items() if key not in ("train_loss", "train_acc")},
            **fields, "tse_ema": tse_ema, "lr": lr, "seconds": round(seconds, 3)}


def epoch_label(epoch: int, epochs: int) -> str:
    """'epoch 2 of 0..49': epochs are 0-based everywhere (console, metrics.jsonl, tables, plots)."""
    return f"epoch {epoch} of 0..{epochs - 1}"


def console_line(record: dict, epochs: int, space: SpaceInfo | None = None, ops: str = "all") -> str:
    """A one-line summary of an epoch, with every benchmark number labelled (NB201: by dataset and split); `ops` is
    the run's op list (the entropy of uniform α is ln of its length)."""
    space = space if space is not None else info_of({})
    uniform = len(space.op_names(ops))
    split = "test" if "test_loss" in record else "valid"
    parts = [epoch_label(record["epoch"], epochs),
             f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.2f}%",
             f"{split} loss {record[f'{split}_loss']:.4f} acc {record[f'{split}_acc']:.2f}%"]
    if "alpha_steps" in record:  # a differentiable search
        entropy = record["alpha_entropy"]
        parts += [f"α steps {record['alpha_steps']} H(α) {entropy:.6f} (ln {uniform} − H "
                  f"{math.log(uniform) - entropy:.1e}) {space.counts_text(record)}", space.benchmark_text(record),
                  record["genotype"]]
    if "probes" in record:  # a one-shot supernet
        rank = record["probe_rank"]
        rho = "n/a" if rank["spearman"] is None else f"{rank['spearman']:+.3f}"
        parts += [f"paths {record['paths']}",
                  f"{len(record['probes'])} probes: mean valid acc above, ρ with {rank[space.benchmark_key]} {rho}"]
    if "drop_path_prob" in record:  # a training run
        parts += [f"lr {record['lr']:.4g} drop-path {record['drop_path_prob']:.3f}", f"TSE {record['tse']:.3f}"]
    return " | ".join(parts + [f"{record['seconds']:.1f}s"])


# ---- the whole run ----------------------------------------------------------------------------------------------
def run_search(config: RunConfig, *, resume: bool = False, overwrite: bool = False, echo=print,
               resume_command: str = "--resume --out {out}") -> list[dict]:
    """Run (or, with `resume`, continue) a search or a one-shot supernet; returns the rows of all finished epochs.

    Everything that can be checked is checked before the run directory is created: the settings, the device, the
    data, the benchmark, and (resuming) the checkpoint and its settings. After every epoch the checkpoint is written
    atomically, then the record goes to the sinks (metrics.jsonl, genotypes.jsonl, genotype.json, W&B). One process
    at a time writes to a run directory (a lock file in it). `overwrite` (a fresh run only) first removes the run
    files a directory holds. `resume_command` is how the caller's users resume (``{out}`` is filled in).
    """
    config.validate()
    if resume and overwrite:
        raise ConfigError("--resume continues a run and --overwrite starts it over; give one of them")
    if config.out is None:
        config.out = config.default_out()
    out = Path(config.out)
    how_to_resume = resume_command.format(out=out)
    _check_run_directory(out, resume, overwrite, how_to_resume, config.kind)
    state = load_search_checkpoint(out / CHECKPOINT) if resume else None
    if state is not None:
        _check_same_settings(config, state)
        check_data_files(config.dataset, config.data_dir, (state.get("data") or {}).get("files_sha256"),
                         where=f"the run in {out}")  # before a pickle-format dataset is opened
    for setting in config.ignored_settings():
        log.warning("%s", setting)
    configure_threads(config.threads)
    device = resolve_device(config.device)
    configure_kernels(config, device)
    # the space's benchmark reads its source before anything is built: a bad one (or another space's) fails first
    # (a training run looks nothing up)
    benchmark = get_space(config.space).load_benchmark(config.benchmark) if config.looks_up_benchmark else None
    seed_everything(config.seed)
    parts = build_components(config, device)
    data_record = parts.data.record()
    environment = run_environment(device, channels_last=config.channels_last, compile=config.compile)
    with _run_directory(out, fresh=not resume) as claim:
        if resume:  # read again under the lock: another process may have finished an epoch since
            state = load_search_checkpoint(out / CHECKPOINT)
            _check_same_data(state, data_record, out)
        else:
            _claim_directory(out, claim, overwrite, how_to_resume, config.kind, echo)
        remove_stale_temporaries(out)
        return _train(out, config, parts, benchmark, state, data_record, environment, how_to_resume, echo)


def configure_threads(threads: int | None) -> None:
    """torch's CPU threads: `threads` where given (at most the CPUs this process may use), else torch's default
    capped at those CPUs (its affinity mask and SLURM's allocation, :func:`cpus.available_cpus`)."""
    cpus = available_cpus()
    if threads:
        if threads > cpus:
            raise ConfigError(f"--threads {threads} is more than this machine's {cpus} CPUs available to this process; "
                              f"give --threads {cpus} or fewer")
        torch.set_num_threads(threads)
    elif torch.get_num_threads() > cpus:
        torch.set_num_threads(cpus)


def _check_run_directory(out: Path, resume: bool, overwrite: bool, how_to_resume: str, kind: str) -> None:
    """Before anything is built: a fresh run needs a directory without run files (or --overwrite), a resumed one a
    checkpoint, and both a directory they can write to."""
    if resume:
        if not (out / CHECKPOINT).is_file():
            _refuse_if_locked(out)
            raise missing_checkpoint_error(out / CHECKPOINT)
    elif not overwrite:
        _refuse_run_files(out, how_to_resume, kind)
    if out.exists() and not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write to {out} (read-only); make it writable, or copy the run elsewhere and use "
                          f"that --out")


def _refuse_if_locked(out: Path) -> None:
    """RunLockedError where another process writes to `out` (the likeliest reason for what is about to be refused)."""
    if lock_held(out):
        raise RunLockedError(f"another run is writing to {out}; wait for it to finish or choose a new --out")


def _refuse_run_files(out: Path, how_to_resume: str, kind: str) -> None:
    present = run_files(out)
    if not present:
        return
    _refuse_if_locked(out)
    if CHECKPOINT in present:
        theirs = _run_kind(out)
        advice = f"continue it with {how_to_resume}" if theirs in (None, kind) else \
            f"it holds a {theirs} run: continue it with the command that started it and --resume"
    else:
        advice = "it has no checkpoint, so it cannot be resumed"
    raise ConfigError(f"--out {out} already holds run files ({', '.join(present)}); {advice}, or choose a new --out, "
                      f"or pass --overwrite to delete those files and start over there")


def _run_kind(out: Path) -> str | None:
    """The kind of run config.json in `out` names (None where it cannot be read)."""
    try:
        return json.loads((out / CONFIG_FILE).read_text(encoding="utf-8")).get("kind", "search")
    except (OSError, ValueError, AttributeError):
        return None


@dataclass
class _Claim:
    """A run's hold on its directory: whether this process created it, and whether it has claimed it (no one
    else's run files are in it, or --overwrite removed them): only then may a failure clean up what is there."""

    created: bool
    claimed: bool = False


def _claim_directory(out: Path, claim: _Claim, overwrite: bool, how_to_resume: str, kind: str, echo) -> None:
    """Under the lock: refuse (or, with --overwrite, remove and name) the run files of another run."""
    if overwrite:
        removed = remove_run_files(out)
        if removed:
            echo(f"--overwrite: removed {', '.join(removed)} from {out}")
    else:
        _refuse_run_files(out, how_to_resume, kind)
    claim.claimed = True


@contextmanager
def _run_directory(out: Path, *, fresh: bool) -> Iterator[_Claim]:
    """Create `out` (if needed) and hold its lock. If a fresh run fails after claiming the directory and before its
    first epoch finished, the run files (all its own, since it claimed the directory) are removed again, and the
    directory too when this call created it: a failed start leaves nothing, and never touches another's files."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            out.mkdir()  # exclusive: only the process that made the directory may remove it again
            created = True
        except FileExistsError:
            created = False
    except OSError as error:
        raise ConfigError(f"cannot create --out {out}: {error.strerror or error}; choose a writable directory") from error
    claim = _Claim(created)
    try:
        with run_lock(out):
            try:
                yield claim
            except BaseException:
                if fresh and claim.claimed and not (out / CHECKPOINT).exists():
                    remove_run_files(out)
                    if created and [path.name for path in out.iterdir()] == [LOCK_FILE]:
                        (out / LOCK_FILE).unlink()  # still locked by us: no one else can be writing here
                        out.rmdir()
                raise
    except RunLockedError:
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def _train(out: Path, config: RunConfig, parts: SearchComponents, benchmark, state: dict | None,
           data_record: dict, environment: dict, how_to_resume: str, echo) -> list[dict]:
    checkpoint_path = out / CHECKPOINT
    tse_ema = TSEEMATracker()
    history: list[dict] = []
    segments: list[dict] = []
    start_epoch, replanned = 0, None
    run_id = new_wandb_id(out.name)  # the W&B run id, kept in the checkpoint so that a resume continues that run
    if state is not None:
        restore(parts, state, tse_ema)
        history, start_epoch, run_id = state["history"], state["epoch"] + 1, state["run_id"]
        segments = list(state.get("segments") or [])
        _warn_on_other_kernels(segments, environment)
        replanned = replan_schedule(parts, config, state["config"]["epochs"], start_epoch)  # --resume --epochs N
        if start_epoch >= config.epochs:  # the sinks below still rewrite the files from the history
            more = (f"to train more, add --epochs N with N > {config.epochs}" if parts.weight_optimizer.param_groups[0]["lr"] > 0
                    else "its learning rate has reached 0: to train longer, start a new run with a larger --epochs")
            echo(f"{out} already finished all {config.epochs} epochs (0..{config.epochs - 1}); nothing to resume "
                 f"({more})")
        else:
            echo(f"resuming {out}: epochs 0..{start_epoch - 1} are finished; continuing with epoch {start_epoch} "
                 f"of 0..{config.epochs - 1}")
    if start_epoch < config.epochs:
        segments.append({"first_epoch": start_epoch, "environment": environment, **(replanned or {})})
        note = window_note(config, min(math.ceil(len(parts.data.train) / config.batch_size),
                                       config.steps_per_epoch or math.inf))
        if note:
            echo(note)
    sinks: list[Sink] = [LocalFiles(out), WandbSink(out, mode=config.wandb, project=config.wandb_project,
                                                    group=config.wandb_group or config.method_label, tags=config.wandb_tags,
                                                    run_id=run_id, name=out.name)]
    if start_epoch < config.epochs:
        echo(f"{config.method_label} on {config.dataset} ({parts.device}), {config.epochs} epochs → {out}")
    saved = start_epoch  # epochs whose checkpoint is on disk
    exit_code = FAILED
    recorded = config.to_dict() | parts.task.run_record() | {"data": data_record, "environment": environment,
                                                             "segments": segments}
    try:
        with _writes_to(out, lambda: saved, config.epochs, how_to_resume):
            for sink in sinks:
                sink.start(recorded, history)
        for epoch in range(start_epoch, config.epochs):
            cpu_started = time.process_time()
            record, arch = run_epoch(config, parts, benchmark, tse_ema, epoch)
            if epoch == start_epoch and parts.device.type == "cpu" and record["seconds"] >= HINT_AFTER_S:
                hint = thread_hint(time.process_time() - cpu_started, record["seconds"], torch.get_num_threads())
                if hint:
                    log.warning("%s", hint)
            history.append({"metrics": record, "arch": arch})
            with _writes_to(out, lambda: saved, config.epochs, how_to_resume):
                save_checkpoint(checkpoint_path, checkpoint_state(config, parts, tse_ema, epoch, history, run_id,
                                                                  data_record, segments))
                saved = epoch + 1
                for sink in sinks:
                    sink.log_epoch(record, arch)
            echo(console_line(record, config.epochs, parts.space, config.ops))
        exit_code = FINISHED
    except KeyboardInterrupt:
        exit_code = INTERRUPTED
        if saved:
            echo(f"interrupted: {_saved_note(saved, config.epochs, out)}; continue with: {how_to_resume}")
        else:
            echo(f"interrupted before epoch {start_epoch} finished: nothing was kept of {out}")
        raise
    except NonFiniteLossError as error:
        raise NonFiniteLossError(f"{error}; {_saved_note(saved, config.epochs, out)} (try a lower --lr, or "
                                 f"--grad-clip)") from None
    finally:
        for sink in sinks:
            sink.finish(exit_code)
    return [row["metrics"] for row in history]


@contextmanager
def _writes_to(out: Path, saved, epochs: int, how_to_resume: str) -> Iterator[None]:
    """Turn an OSError of the run's own files (ENOSPC, EROFS, EIO...) into one line: what is intact, how to go on."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        code = f" ({errno.errorcode.get(error.errno, error.errno)})" if error.errno else ""
        count = saved()
        if count:
            kept = f"the checkpoint after epoch {count - 1} (0-based) is intact; free space or fix the folder and " \
                   f"continue with: {how_to_resume}"
        else:
            kept = "no epoch had finished, so there is nothing to resume; free space or fix the folder and start again"
        raise RunWriteError(f"cannot write the run's files in {out}: {reason}{code}; {kept}") from error


def _warn_on_other_kernels(segments: list[dict], environment: dict) -> None:
    if segments:
        differences = exactness_differences(segments[-1]["environment"], environment)
        if differences:
            log.warning("resuming with other kernel settings than the last segment (%s): the continuation is exact "
                        "only with the same threads, device and versions; it will differ by float round-off "
                        "(docs/tracking.md)", "; ".join(differences))


def _check_same_settings(config: RunConfig, state: dict) -> None:
    saved_config = config_from_dict(state["config"])
    if type(saved_config) is not type(config):
        raise ConfigError(f"--resume refused: the checkpoint is of a {saved_config.kind} run, not a {config.kind} run; "
                          f"resume it with the command that started it")
    differences = [d for d in config.search_differences(saved_config) if not d.startswith("epochs:")]  # a re-plan
    check_new_length(config, saved_config, state["epoch"] + 1)
    if differences:
        raise ConfigError(f"--resume refused: these settings differ from the checkpoint's (checkpoint -> now): "
                          f"{'; '.join(map(_as_flag, differences))}; rerun with the original values, or start a "
                          f"new --out")
    if config.benchmark != saved_config.benchmark:
        log.warning("NB201 numbers of the epochs already finished came from --benchmark %s; the following ones "
                    "come from %s", saved_config.benchmark, config.benchmark)


def _check_same_data(state: dict, data_record: dict, out: Path) -> None:
    """ConfigError when the data read now differs from the data the run started on (its content hash)."""
    saved = (state.get("data") or {}).get("sha256")
    if saved is not None and saved != data_record["sha256"]:
        raise ConfigError(f"--resume refused: the data in {data_record['source']} differs from the data {out} started "
                          f"on (sha256 {saved[:12]}… then, {data_record['sha256'][:12]}… now); restore that data, or "
                          f"start a new --out")


def resumed_config(out: str | Path, given: dict, kind: type[RunConfig] | None = None) -> RunConfig:
    """The settings to resume the run in `out` with: the checkpoint's, with `given` (the settings a user named) on
    top. Without a checkpoint, just `given` (as a `kind`, default a search): :func:`run_search` then says why."""
    path = Path(out) / CHECKPOINT
    saved = load_search_checkpoint(path)["config"] if path.is_file() else {}
    if not saved and kind is not None:
        return kind.from_dict({**given, "out": str(out)})
    return config_from_dict({**saved, **given, "out": str(out)})


def _as_flag(difference: str) -> str:
    """'arch_lr: 0.1 -> 0.2' as the command line spells it: '--arch-lr: 0.1 -> 0.2' ('--[no-]nesterov' for a switch)."""
    name, _, change = difference.partition(":")
    switch = "[no-]" if change.strip().split(" -> ")[0] in ("True", "False") else ""
    return f"--{switch}{name.replace('_', '-')}:{change}"


def _saved_note(saved: int, epochs: int, out: Path) -> str:
    """What the checkpoint holds after a failure or an interruption."""
    if saved == 0:
        return f"no epoch had finished, so nothing of {out} was kept"
    return f"the checkpoint after epoch {saved - 1} (0-based; {saved} of {epochs} epochs finished) in {out} is kept"

