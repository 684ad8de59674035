"""Weights & Biases: one W&B run per search, continued across resumes, with the epochs a killed segment never wrote.

Any failure of W&B (import, init, network, logging) logs one warning and switches the sink off; the search goes on.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from ..files import FINAL_GENOTYPE_FILE, GENOTYPES_FILE, WANDB_DIR, WANDB_MARKER, atomic_write_text, wandb_run_stem
from ..nb201.labels import nb201_label
from ..spaces.base import SpaceInfo
from ..spaces.info import info_of
from .local_files import FINISHED
from .wandb_files import OFFLINE_SEGMENT_GLOB, UnknownWandbFormat, last_logged_step, offline_segments

log = logging.getLogger(__name__)

LOGGED_MARKER = WANDB_MARKER  # in out/wandb/: the last epoch of a W&B run closed cleanly (see WandbSink)


# metrics.jsonl key -> W&B key, for the keys a record has (a differentiable search's, a one-shot run's)
_WANDB_KEYS = {
    "epoch": "epoch", "train_loss": "supernet/train_loss", "train_acc": "supernet/train_acc",
    "valid_loss": "supernet/valid_loss", "valid_acc": "supernet/valid_acc", "tse_ema": "supernet/tse_ema",
    "alpha_entropy": "alpha/entropy", "skip_count": "alpha/skip_count", "param_free_count": "alpha/param_free_count",
    "alpha_steps": "alpha/steps", "paths": "oneshot/paths", "steps": "train/steps", "lr": "train/lr",
    "seconds": "train/seconds", "nb201_index": "nb201/index",
}
_PER_CELL_PREFIXES = ("alpha_entropy_", "skip_count_", "param_free_count_")  # a space with several cell types

_TRAIN_RUN_KEYS = ("test_loss", "test_acc", "tse", "tse_e", "drop_path_prob")  # network/<key> in W&B


def flatten_metrics(record: dict) -> dict:
    """W&B keys for one metrics.jsonl record, grouped and labelled (e.g. nb201/cifar10/test, supernet/valid_loss;
    one-shot runs: oneshot/probe_spearman, oneshot/probe/<i>/valid_acc)."""
    flat = {wandb_key: record[key] for key, wandb_key in _WANDB_KEYS.items() if key in record}
    flat |= {f"alpha/{key}": value for key, value in record.items() if key.startswith(_PER_CELL_PREFIXES)}
    if (record.get("nb301") or {}).get("valid_acc") is not None:
        flat["nb301/cifar10/valid_acc"] = record["nb301"]["valid_acc"]
    if "test_loss" in record:  # a training run: a stand-alone network, its test split, its own TSE estimators
        for key in ("train_loss", "train_acc", "tse_ema"):
            flat[f"network/{key}"] = flat.pop(f"supernet/{key}")
        flat |= {f"network/{key}": record[key] for key in _TRAIN_RUN_KEYS if key in record}
    elif "probes" in record:  # one-shot: the sampled paths' training numbers, the probes' mean on search-valid
        for key in ("train_loss", "train_acc"):
            flat[f"oneshot/paths_{key}"] = flat.pop(f"supernet/{key}")
        for key in ("valid_loss", "valid_acc"):
            flat[f"oneshot/probes_mean_{key}"] = flat.pop(f"supernet/{key}")
    else:
        flat["supernet/gap_loss"] = record["valid_loss"] - record["train_loss"]
        flat["supernet/gap_acc"] = record["train_acc"] - record["valid_acc"]
    for dataset, splits in (record.get("nb201") or {}).items():
        if isinstance(splits, dict):
            for split, value in splits.items():
                if value is not None:
                    flat["nb201/" + nb201_label(dataset, split).replace(" ", "/")] = value
    rank = record.get("probe_rank")
    if rank and rank.get("spearman") is not None:
        key, label = next((k, v) for k, v in rank.items() if k not in ("spearman", "probes"))  # the benchmark's
        prefix = "" if key == "nb201" else f"{key}/"
        flat[f"oneshot/probe_spearman/{prefix}{label.replace(' ', '/')}"] = rank["spearman"]
    for index, probe in enumerate(record.get("probes") or []):
        flat[f"oneshot/probe/{index}/valid_acc"] = probe["valid_acc"]
    return flat


def sync_command(out: Path, run_id: str) -> str:
    """The one command that uploads every offline segment of a run (one per process that logged to it), oldest
    first: ``wandb sync <out>/wandb/offline-run-A <out>/wandb/offline-run-B``."""
    segments = [str(path.parent) for path in offline_segments(Path(out) / WANDB_DIR, run_id)]
    return "wandb sync " + " ".join(shlex.quote(segment) for segment in segments) if segments else \
        f"wandb sync {shlex.quote(str(Path(out) / WANDB_DIR))}/{OFFLINE_SEGMENT_GLOB}"


def sync_runs_command(folder: Path) -> tuple[str, int] | None:
    """(the one command that uploads the offline W&B segments of every run directory in `folder` (a sweep's), all of
    them, each run's oldest first; how many segments there are), or None when there is none."""
    segments = len(list(Path(folder).glob(f"*/{WANDB_DIR}/{OFFLINE_SEGMENT_GLOB}")))
    if not segments:
        return None
    return f"wandb sync {shlex.quote(str(folder))}/*/{WANDB_DIR}/{OFFLINE_SEGMENT_GLOB}", segments


def resolve_wandb_mode(flag: str, environ: Mapping[str, str] = os.environ) -> str:
    """The W&B mode to use: 'disabled' if the flag says so, else WANDB_MODE when set, else the flag.

    WANDB_MODE accepts online, offline, disabled and W&B's aliases run (= online) and dryrun (= offline); any other
    value is ignored with a warning.
    """
    if flag == "disabled":
        return "disabled"
    value = environ.get("WANDB_MODE", "").strip().lower()
    aliases = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}
    if value and value not in aliases:
        log.warning("ignoring WANDB_MODE=%r (expected online, offline or disabled); using --wandb %s", value, flag)
    return aliases.get(value, flag)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the body, then restore what was there (W&B's mode here; a sweep's local jobs
    copy the environment they start in)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def new_wandb_id(name: str) -> str:
    """A fresh W&B run id: the run directory name (letters, digits, '-', '_' kept) plus 8 random hex digits.

    Drawn from the OS (secrets), so it never touches the random generators the search uses.
    """
    return f"{wandb_run_stem(name)}-{secrets.token_hex(4)}"


def wandb_settings(wandb):
    """Quiet, local settings: no console capture or banner/summary flood; our own lines say where the run is."""
    return wandb.Settings(silent=True, console="off", show_warnings=False)


def probability_scalars(probabilities: list, space: SpaceInfo | None = None, ops: str = "all") -> dict[str, float]:
    """One W&B scalar per (op, edge), ``alpha_probability/skip_connect/1<-0`` (DARTS: per cell type,
    ``alpha_probability/normal/skip_connect/2<-0``): line plots of the drift by epoch."""
    space = space if space is not None else info_of({})
    names = space.op_names(ops)
    return {f"alpha_probability/{cell + '/' if cell else ''}{op}/{edge}": row[index]
            for cell, edge, row in space.named_rows(probabilities) for index, op in enumerate(names)}


def probability_table(wandb, probabilities: list, space: SpaceInfo | None = None, ops: str = "all"):
    """A W&B table of the mixing probabilities: one row per edge ('1<-0' ...; DARTS 'normal 2<-0'), one column per
    op."""
    space = space if space is not None else info_of({})
    return wandb.Table(columns=["edge", *space.op_names(ops)],
                       data=[[f"{cell} {edge}".strip(), *row] for cell, edge, row in space.named_rows(probabilities)])


class WandbSink:
    """One W&B run per search (the id is kept in the checkpoint, so a resumed search continues the same run).

    Any failure (import, init, network, logging) logs one warning and switches the sink off; the search goes on.
    """

    def __init__(self, out: Path, *, mode: str, project: str, group: str, tags: list[str], run_id: str, name: str):
        self.out = Path(out)
        self.mode = resolve_wandb_mode(mode)
        self.project, self.group, self.tags, self.run_id, self.name = project, group, list(tags), run_id, name
        self.run = None
        self.wandb = None
        self.failed = False
        self.space, self.ops = info_of({}), "all"  # the run's, from its config at start
        self.logged_marker = self.out / WANDB_DIR / LOGGED_MARKER
        self.last_logged = -1  # the last epoch this W&B run holds (or, for this process, was handed)

    def _fail(self, what: str, error: BaseException) -> None:
        if not self.failed:
            log.warning("Weights & Biases %s failed (%s: %s); the search continues with local files only",
                        what, type(error).__name__, str(error).strip().splitlines()[0] if str(error).strip() else "")
        self.failed = True
        self.run = None

    def start(self, config: dict, history: list[dict]) -> None:
        self.space, self.ops = info_of(config), config.get("ops", "all")
        if self.mode == "disabled":
            return
        try:
            import wandb
        except Exception as error:  # not installed, or broken
            self._fail("import", error)
            return
        self.wandb = wandb
        try:
            self.run = self._init(config)
        except Exception as error:
            if self.mode != "online":
                self._fail("init", error)
                return
            # online but unreachable (no network, no login): keep the run in offline files that can be synced later
            log.warning("Weights & Biases online init failed (%s: %s); logging offline to %s instead (sync it later "
                        "with the command printed at the end)", type(error).__name__,
                        (str(error).strip().splitlines() or [""])[0], self.out / WANDB_DIR)
            self.mode = "offline"
            try:
                self.run = self._init(config)
            except Exception as offline_error:
                self._fail("init", offline_error)
                return
        # A resume logs the finished epochs W&B does not hold: the process died between an epoch's checkpoint and its
        # W&B line, or was killed (SIGKILL) before W&B's buffered writer flushed what it had been handed.
        self.last_logged = self._last_held_epoch()
        for row in history:
            if row["metrics"]["epoch"] > self.last_logged:
                self.log_epoch(row["metrics"], row["arch"])

    def _init(self, config: dict):
        with environment(WANDB_MODE=self.mode):  # wandb.init reads WANDB_MODE itself and rejects unknown values
            run = self.wandb.init(dir=str(self.out), mode=self.mode, project=self.project, group=self.group,
                                  tags=self.tags, name=self.name, id=self.run_id, config=config, resume="allow",
                                  allow_val_change=True, reinit="create_new", settings=wandb_settings(self.wandb))
        run.define_metric("epoch")
        run.define_metric("*", step_metric="epoch")
        return run

    def _last_held_epoch(self) -> int:
        """The last epoch the W&B run already holds: what its earlier offline segments hold on disk, what a resumed
        online run reports, and what the last clean close recorded (the marker; offline segments synced with
        ``wandb sync --clean`` are gone from disk)."""
        held = max(self._marker(), (getattr(self.run, "starting_step", 0) or 0) - 1)
        if self.mode == "offline":
            try:
                held = max(held, last_logged_step(self.out / WANDB_DIR, self.run_id))
            except (OSError, UnknownWandbFormat) as error:
                log.warning("cannot read the earlier W&B segments of this run (%s); epochs after %d are logged again",
                            error, held)
        return held

    def _marker(self) -> int:
        try:
            return int(self.logged_marker.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return -1

    def log_epoch(self, record: dict, arch: dict | None) -> None:
        if self.run is None:
            return
        try:
            # step = epoch: a resumed search (a new offline segment, or the same online run) continues the same steps
            values = flatten_metrics(record)
            if arch is not None:
                values |= {**probability_scalars(arch["probabilities"], self.space, self.ops),
                           "alpha/probabilities": probability_table(self.wandb, arch["probabilities"], self.space,
                                                                    self.ops)}
            self.run.log(values, step=record["epoch"])
            if "genotype" in record:
                self.run.summary.update({"genotype": record["genotype"], **({"nb201/index": record["nb201_index"]}
                                                                            if "nb201_index" in record else {})})
        except Exception as error:
            self._fail("logging", error)
            return
        self.last_logged = max(self.last_logged, record["epoch"])

    def finish(self, exit_code: int = FINISHED) -> None:
        """Log the genotype artifact (genotype.json, genotypes.jsonl) and close the run with `exit_code`."""
        if self.run is None:
            return
        run, self.run = self.run, None
        try:
            self._log_genotype_artifact(run)
            run.finish(exit_code=exit_code)
        except Exception as error:
            self._fail("finish", error)
            return
        # only now is what run.log was handed known to be written: a SIGKILL before this point leaves the marker
        # behind, and the next resume reads the segment files instead
        try:
            atomic_write_text(self.logged_marker, f"{self.last_logged}\n")
        except OSError as error:  # e.g. a full disk: the run's own error message must not be replaced by this one
            log.warning("cannot write %s (%s); a resume may log some epochs to W&B again", self.logged_marker, error)
        if self.mode == "offline":
            log.info("W&B offline run saved under %s; upload it, every segment of it, with: %s", self.out / WANDB_DIR,
                     sync_command(self.out, self.run_id))

    def _log_genotype_artifact(self, run) -> None:
        final = self.out / FINAL_GENOTYPE_FILE
        if not final.is_file():
            return  # no epoch finished
        summary = json.loads(final.read_text(encoding="utf-8"))
        artifact = self.wandb.Artifact(f"genotype-{self.run_id}", type="genotype",
                                       metadata={k: summary.get(k) for k in ("epoch", "genotype", "nb201_index")})
        for name in (FINAL_GENOTYPE_FILE, GENOTYPES_FILE):
            if (self.out / name).is_file():
                artifact.add_file(str(self.out / name))
        run.log_artifact(artifact)
