"""Where the per-epoch records go: local files (always) and Weights & Biases (optional), behind one interface.

Local files in the run directory:
  config.json      the SearchConfig
  metrics.jsonl    one JSON object per finished epoch
  genotypes.jsonl  one line per epoch: epoch, genotype, probabilities (6×5) and raw α
  genotype.json    the latest epoch's genotype, α, probabilities and NB201 result (rewritten atomically every epoch)
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Protocol

from .checkpoint import atomic_write_text
from .space import EDGES, OPS


class Sink(Protocol):
    def start(self, config: dict, history: list[dict]) -> None: ...
    def log_epoch(self, record: dict, arch: dict) -> None: ...
    def finish(self, interrupted: bool = False) -> None: ...


class LocalFiles:
    """JSON/JSONL files in the run directory; rows are appended and fsynced as each epoch finishes."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.metrics = self.out / "metrics.jsonl"
        self.genotypes = self.out / "genotypes.jsonl"
        self.final = self.out / "genotype.json"

    def start(self, config: dict, history: list[dict]) -> None:
        """Write config.json; on resume, rewrite the JSONL files from the checkpoint's history (no lost or repeated rows)."""
        atomic_write_text(self.out / "config.json", json.dumps(config, indent=2) + "\n")
        atomic_write_text(self.metrics, "".join(json.dumps(row["metrics"]) + "\n" for row in history))
        atomic_write_text(self.genotypes, "".join(json.dumps(genotype_row(row)) + "\n" for row in history))

    def log_epoch(self, record: dict, arch: dict) -> None:
        _append_line(self.metrics, json.dumps(record))
        _append_line(self.genotypes, json.dumps(genotype_row({"metrics": record, "arch": arch})))
        final = {"epoch": record["epoch"], "genotype": record["genotype"], "nb201_index": record["nb201_index"],
                 "alpha": arch["alpha"], "probabilities": arch["probabilities"], "nb201": record.get("nb201")}
        atomic_write_text(self.final, json.dumps(final, indent=2) + "\n")

    def finish(self, interrupted: bool = False) -> None:
        return None


def genotype_row(row: dict) -> dict:
    """The genotypes.jsonl line of one history entry {"metrics": ..., "arch": ...}."""
    return {"epoch": row["metrics"]["epoch"], "genotype": row["metrics"]["genotype"],
            "probabilities": row["arch"]["probabilities"], "alpha": row["arch"]["alpha"]}


def _append_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


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
        "lr": record["lr"],
        "seconds": record["seconds"],
        "nb201/index": record["nb201_index"],
    }
    for dataset, splits in (record.get("nb201") or {}).items():
        if isinstance(splits, dict):
            for split, value in splits.items():
                if value is not None:
                    flat[f"nb201/{dataset}/{split}"] = value
    return flat


class WandbSink:
    """One W&B run per search; a failure (import, init, network, logging) warns once and switches the sink off."""

    def __init__(self, out: Path, *, mode: str, project: str, group: str, tags: list[str], run_id: str, name: str):
        self.out = Path(out)
        self.mode = os.environ.get("WANDB_MODE", mode) if mode != "disabled" else "disabled"
        self.project, self.group, self.tags, self.run_id, self.name = project, group, list(tags), run_id, name
        self.run = None
        self.wandb = None

    def _fail(self, what: str, error: BaseException) -> None:
        warnings.warn(f"Weights & Biases {what} failed ({type(error).__name__}: {error}); "
                      f"the search continues with local files only", RuntimeWarning, stacklevel=3)
        self.run = None

    def start(self, config: dict, history: list[dict]) -> None:
        if self.mode == "disabled":
            return
        try:
            import wandb

            self.wandb = wandb
            self.run = wandb.init(project=self.project, group=self.group, tags=self.tags, config=config, dir=str(self.out),
                                  mode=self.mode, id=self.run_id, name=self.name, resume="allow", reinit=True)
            self.run.define_metric("epoch")
            self.run.define_metric("*", step_metric="epoch")
        except Exception as error:
            self._fail("init", error)

    def log_epoch(self, record: dict, arch: dict) -> None:
        if self.run is None:
            return
        try:
            table = self.wandb.Table(columns=["edge", *OPS], data=[[f"{t}<-{s}", *row] for (t, s), row in
                                                                    zip(EDGES, arch["probabilities"])])
            self.run.log({**flatten_metrics(record), "alpha/probabilities": table, "genotype": record["genotype"]})
        except Exception as error:
            self._fail("logging", error)

    def finish(self, interrupted: bool = False) -> None:
        if self.run is None:
            return
        try:
            artifact = self.wandb.Artifact(f"genotype-{self.run_id}", type="genotype")
            for name in ("genotype.json", "genotypes.jsonl", "metrics.jsonl"):
                if (self.out / name).is_file():
                    artifact.add_file(str(self.out / name))
            self.run.log_artifact(artifact)
            self.run.finish(exit_code=1 if interrupted else 0)
        except Exception as error:
            self._fail("finish", error)
        self.run = None

