"""What a job's run directory says, from its files alone: done (metrics.jsonl has every planned epoch), resumable
(a checkpoint: continue with --resume), fresh (no run files), started (run files, but it stopped before its first
epoch finished: start it again) or damaged (finished epochs without a checkpoint: left alone)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis import RunDirError, read_config, read_jsonl

CHECKPOINT_FILE = "checkpoint.pt"  # search.CHECKPOINT (not imported: that room loads torch; a test checks they agree)
RUN_FILES = ("config.json", "metrics.jsonl", "genotypes.jsonl", "genotype.json", CHECKPOINT_FILE, "wandb")

FRESH, STARTED, RESUMABLE, DONE, DAMAGED = "fresh", "started", "resumable", "done", "damaged"


@dataclass(frozen=True)
class RunState:
    """A run directory's state, its finished epochs and the epochs its config.json plans (None without one)."""

    kind: str
    finished: int = 0
    planned: int | None = None
    detail: str = ""

    @property
    def progress(self) -> str:
        """'13/50 epochs' (finished / planned)."""
        return f"{self.finished}/{self.planned if self.planned is not None else '?'} epochs"


def run_state(out: str | Path) -> RunState:
    """The state of run directory `out` (see the module docstring)."""
    out = Path(out)
    if not any((out / name).exists() for name in RUN_FILES):
        return RunState(FRESH)
    try:
        planned = read_config(out).get("epochs")
        rows = read_jsonl(out / "metrics.jsonl") if (out / "metrics.jsonl").is_file() else []
    except (RunDirError, OSError) as error:
        return RunState(DAMAGED, detail=f"{error}")
    epochs = {row.get("epoch") for row in rows if isinstance(row, dict)}
    finished = len(epochs)
    if isinstance(planned, int) and epochs >= set(range(planned)):
        return RunState(DONE, finished, planned)
    if (out / CHECKPOINT_FILE).is_file():
        return RunState(RESUMABLE, finished, planned)
    if finished:
        return RunState(DAMAGED, finished, planned, f"{out} has {finished} finished epochs but no {CHECKPOINT_FILE}; "
                                                    f"the sweep leaves it alone: move it away to run this job again")
    return RunState(STARTED, 0, planned)
