"""The sink interface, and the local files every run writes (always on).

Local files in the run directory (details: docs/tracking.md):
  config.json      the SearchConfig
  metrics.jsonl    one JSON object per finished epoch
  genotypes.jsonl  one line per epoch: epoch, genotype, probabilities (shaped as α: NB201 6×5, DARTS 2×14×ops), raw α
  genotype.json    the latest epoch's genotype (also as JSON naming its edges and ops), α, probabilities, the names
                   of α's dimensions, and the benchmark result (rewritten atomically every epoch)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from ..files import CONFIG_FILE, FINAL_GENOTYPE_FILE, GENOTYPES_FILE, METRICS_FILE, atomic_write_text
from ..spaces.info import info_of

# Exit codes handed to Sink.finish (and to W&B's run.finish).
FINISHED, FAILED, INTERRUPTED = 0, 1, 130


class Sink(Protocol):
    """Receives a search's records: ``start`` once (with the finished epochs of a resumed run), ``log_epoch`` after
    each epoch's checkpoint is written, ``finish`` once with the exit code, also after a failure."""

    def start(self, config: dict, history: list[dict]) -> None: ...
    def log_epoch(self, record: dict, arch: dict | None) -> None: ...
    def finish(self, exit_code: int = FINISHED) -> None: ...


# ---- local files --------------------------------------------------------------------------------------------------
class LocalFiles:
    """JSON/JSONL files in the run directory; rows are appended and fsynced as each epoch finishes. The genotype
    files are written by runs whose epochs have an α snapshot (differentiable searches); one-shot runs write
    config.json and metrics.jsonl only."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.metrics = self.out / METRICS_FILE
        self.genotypes = self.out / GENOTYPES_FILE
        self.final = self.out / FINAL_GENOTYPE_FILE
        self.space = info_of({})
        self.ops = "all"

    def start(self, config: dict, history: list[dict]) -> None:
        """Write config.json; rewrite the other files from the checkpoint's history (a resume loses or repeats no row)."""
        self.space, self.ops = info_of(config), config.get("ops", "all")
        atomic_write_text(self.out / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        atomic_write_text(self.metrics, "".join(json.dumps(row["metrics"]) + "\n" for row in history))
        if config.get("kind", "search") == "search":
            atomic_write_text(self.genotypes, "".join(json.dumps(genotype_row(row)) + "\n" for row in history))
            if history:
                self._write_final(history[-1]["metrics"], history[-1]["arch"])

    def log_epoch(self, record: dict, arch: dict | None) -> None:
        _append_line(self.metrics, json.dumps(record))
        if arch is not None:
            _append_line(self.genotypes, json.dumps(genotype_row({"metrics": record, "arch": arch})))
            self._write_final(record, arch)

    def _write_final(self, record: dict, arch: dict) -> None:
        space = self.space
        final = {"epoch": record["epoch"], "genotype": record["genotype"],
                 **{key: record.get(key) for key in space.benchmark_keys},
                 "alpha": arch["alpha"], "probabilities": arch["probabilities"],
                 "space": space.name, "cell": space.genotype_to_dict(space.parse_genotype(record["genotype"])),
                 "names": space.arch_names(self.ops)}
        atomic_write_text(self.final, json.dumps(final, indent=2) + "\n")

    def finish(self, exit_code: int = FINISHED) -> None:
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
