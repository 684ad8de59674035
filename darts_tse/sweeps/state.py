"""What a job's run directory says, from its files alone: done (metrics.jsonl has every planned epoch and the sinks
finished after the last one), resumable (a checkpoint: continue with --resume; a resume of a run whose epochs are all
finished only rewrites the sinks from its history), fresh (no run files), started (run files, but it stopped before
its first epoch finished: start it again) or damaged (finished epochs without a checkpoint: left alone)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..analysis import RunDirError, read_config, read_jsonl
from ..files import CHECKPOINT_FILE, FINAL_GENOTYPE_FILE, METRICS_FILE, RUN_FILES, WANDB_DIR
from ..tracking import LOGGED_MARKER

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
        config = read_config(out)
        planned = config.get("epochs")
        rows = read_jsonl(out / METRICS_FILE) if (out / METRICS_FILE).is_file() else []
    except (RunDirError, OSError) as error:
        return RunState(DAMAGED, detail=f"{error}")
    epochs = {row.get("epoch") for row in rows if isinstance(row, dict)}
    finished = len(epochs)
    all_epochs = isinstance(planned, int) and epochs >= set(range(planned))
    unfinished = _unfinished_sinks(out, planned, config.get("kind", "search")) if all_epochs else ""
    if all_epochs and not unfinished:
        return RunState(DONE, finished, planned)
    if (out / CHECKPOINT_FILE).is_file():
        return RunState(RESUMABLE, finished, planned, unfinished)
    if finished:
        return RunState(DAMAGED, finished, planned, f"{out} has {finished} finished epochs but no {CHECKPOINT_FILE}; "
                                                    f"the sweep leaves it alone: move it away to run this job again")
    return RunState(STARTED, 0, planned)


def _unfinished_sinks(out: Path, planned: int, kind: str) -> str:
    """Why the sinks of a run whose epochs all finished did not finish after its last epoch ('' when they did): a
    search's genotype.json is written after each epoch's checkpoint, and W&B's marker when its run closes (only a
    marker of an earlier close can be checked: W&B that fails switches itself off and writes none)."""
    last = planned - 1
    if kind == "search":
        try:
            epoch = json.loads((out / FINAL_GENOTYPE_FILE).read_text(encoding="utf-8")).get("epoch")
        except (OSError, ValueError, AttributeError):
            epoch = None
        if epoch != last:
            return f"all {planned} epochs finished, but {FINAL_GENOTYPE_FILE} is not that of epoch {last} (it was " \
                   f"stopped before its files were written); a resume rewrites them"
    try:
        closed = int((out / WANDB_DIR / LOGGED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if closed < last:
        return f"all {planned} epochs finished, but its W&B run was last closed after epoch {closed}; a resume " \
               f"logs the rest and closes it"
    return ""
