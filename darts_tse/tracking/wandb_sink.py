"""Weights & Biases: one W&B run per search, continued across resumes, with the epochs a killed segment never wrote.

Any failure of W&B (import, init, network, logging) logs one warning and switches the sink off; the search goes on.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from ..files import atomic_write_text
from ..nb201.labels import nb201_label
from ..space.genotype import EDGES, OPS
from .local_files import FINISHED
from .wandb_files import UnknownWandbFormat, last_logged_step

log = logging.getLogger(__name__)

LOGGED_MARKER = "last_logged_epoch"  # in out/wandb/: the last epoch of a W&B run closed cleanly (see WandbSink)


def flatten_metrics(record: dict) -> dict:
    """W&B keys for one metrics.jsonl record, grouped and labelled (e.g. nb201/cifar10/test, supernet/valid_loss)."""
    flat = {
        "epoch": record["epoch"],
        "supernet/train_loss": record["train_loss"],
        "supernet/train_acc": record["train_acc"],
        "supernet/valid_loss": record["valid_loss"],
        "supernet/valid_acc": record["valid_acc"],
        "supernet/gap_loss": record["valid_loss"] - record["train_loss"],
        "supernet/gap_acc": record["train_acc"] - record["valid_acc"],
        "supernet/tse_ema": record["tse_ema"],
        "alpha/entropy": record["alpha_entropy"],
        "alpha/skip_count": record["skip_count"],
        "alpha/param_free_count": record["param_free_count"],
        "alpha/steps": record["alpha_steps"],
        "train/steps": record["steps"],
        "train/lr": record["lr"],
        "train/seconds": record["seconds"],
        "nb201/index": record["nb201_index"],
    }
    for dataset, splits in (record.get("nb201") or {}).items():
        if isinstance(splits, dict):
            for split, value in splits.items():
                if value is not None:
                    flat["nb201/" + nb201_label(dataset, split).replace(" ", "/")] = value
    return flat


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
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the body, then restore what was there."""
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
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[-55:].strip("-_") or "run"
    return f"{stem}-{secrets.token_hex(4)}"


def wandb_settings(wandb):
    """Quiet, local settings: no console capture or banner/summary flood; our own lines say where the run is."""
    return wandb.Settings(silent=True, console="off", show_warnings=False)


def probability_scalars(probabilities: list[list[float]]) -> dict[str, float]:
    """One W&B scalar per (op, edge), ``alpha_probability/skip_connect/1<-0``: line plots of the drift by epoch."""
    return {f"alpha_probability/{op}/{target}<-{source}": row[index]
            for (target, source), row in zip(EDGES, probabilities) for index, op in enumerate(OPS)}


def probability_table(wandb, probabilities: list[list[float]]):
    """A W&B table of the mixing probabilities: one row per edge ('1<-0' ...), one column per op."""
    return wandb.Table(columns=["edge", *OPS], data=[[f"{t}<-{s}", *row] for (t, s), row in zip(EDGES, probabilities)])


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
        self.logged_marker = self.out / "wandb" / LOGGED_MARKER
        self.last_logged = -1  # the last epoch this W&B run holds (or, for this process, was handed)

    def _fail(self, what: str, error: BaseException) -> None:
        if not self.failed:
            log.warning("Weights & Biases %s failed (%s: %s); the search continues with local files only",
                        what, type(error).__name__, str(error).strip().splitlines()[0] if str(error).strip() else "")
        self.failed = True
        self.run = None

    def start(self, config: dict, history: list[dict]) -> None:
        if self.mode == "disabled":
            return
        try:
            import wandb
        except Exception as error:  # not installed, or broken
            self._fail("import", error)
            return
        self.wandb = wandb
        try:
            with _environment(WANDB_MODE=self.mode):  # wandb.init reads WANDB_MODE itself and rejects unknown values
                self.run = wandb.init(dir=str(self.out), mode=self.mode, project=self.project, group=self.group,
                                      tags=self.tags, name=self.name, id=self.run_id, config=config, resume="allow",
                                      allow_val_change=True, reinit="create_new", settings=wandb_settings(wandb))
            self.run.define_metric("epoch")
            self.run.define_metric("*", step_metric="epoch")
        except Exception as error:
            self._fail("init", error)
            return
        # A resume logs the finished epochs W&B does not hold: the process died between an epoch's checkpoint and its
        # W&B line, or was killed (SIGKILL) before W&B's buffered writer flushed what it had been handed.
        self.last_logged = self._last_held_epoch()
        for row in history:
            if row["metrics"]["epoch"] > self.last_logged:
                self.log_epoch(row["metrics"], row["arch"])

    def _last_held_epoch(self) -> int:
        """The last epoch the W&B run already holds: what its earlier offline segments hold on disk, what a resumed
        online run reports, and what the last clean close recorded (the marker; offline segments synced with
        ``wandb sync --clean`` are gone from disk)."""
        held = max(self._marker(), (getattr(self.run, "starting_step", 0) or 0) - 1)
        if self.mode == "offline":
            try:
                held = max(held, last_logged_step(self.out / "wandb", self.run_id))
            except (OSError, UnknownWandbFormat) as error:
                log.warning("cannot read the earlier W&B segments of this run (%s); epochs after %d are logged again",
                            error, held)
        return held

    def _marker(self) -> int:
        try:
            return int(self.logged_marker.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return -1

    def log_epoch(self, record: dict, arch: dict) -> None:
        if self.run is None:
            return
        try:
            # step = epoch: a resumed search (a new offline segment, or the same online run) continues the same steps
            self.run.log({**flatten_metrics(record), **probability_scalars(arch["probabilities"]),
                          "alpha/probabilities": probability_table(self.wandb, arch["probabilities"])},
                         step=record["epoch"])
            self.run.summary.update({"genotype": record["genotype"], "nb201/index": record["nb201_index"]})
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
            run_dir = Path(run.dir).parent  # run.dir is the run's files/ folder
            self._log_genotype_artifact(run)
            run.finish(exit_code=exit_code)
        except Exception as error:
            self._fail("finish", error)
            return
        # only now is what run.log was handed known to be written: a SIGKILL before this point leaves the marker
        # behind, and the next resume reads the segment files instead
        atomic_write_text(self.logged_marker, f"{self.last_logged}\n")
        if self.mode == "offline":
            log.info("W&B offline run saved in %s (upload it with: wandb sync %s)", run_dir, run_dir)

    def _log_genotype_artifact(self, run) -> None:
        final = self.out / "genotype.json"
        if not final.is_file():
            return  # no epoch finished
        summary = json.loads(final.read_text(encoding="utf-8"))
        artifact = self.wandb.Artifact(f"genotype-{self.run_id}", type="genotype",
                                       metadata={k: summary.get(k) for k in ("epoch", "genotype", "nb201_index")})
        for name in ("genotype.json", "genotypes.jsonl"):
            if (self.out / name).is_file():
                artifact.add_file(str(self.out / name))
        run.log_artifact(artifact)
