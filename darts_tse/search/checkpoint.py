"""The search checkpoint: what is saved after every epoch, how it is written and read back, and the RNG state in it.

Format 1: a dict with :data:`SEARCH_STATE_KEYS` (the config as a plain dict, the epoch, the W&B run id, the state
dicts of the supernet, both optimizers, the LR schedule, the architect and the TSE-EMA tracker, every RNG state and
the history of finished epochs), written atomically with ``torch.save``.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import SearchConfig
from ..estimators import TSEEMATracker
from ..files import atomic_write

if TYPE_CHECKING:
    from .components import SearchComponents

CHECKPOINT = "checkpoint.pt"
SEARCH_STATE_KEYS = ("config", "epoch", "run_id", "model", "weight_optimizer", "scheduler", "architect", "tse_ema",
                     "rng", "history")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not belong to this search."""


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomically save `state` with torch.save."""
    atomic_write(path, lambda handle: torch.save(state, handle))


def missing_checkpoint_error(path: Path) -> CheckpointError:
    """The error for a --resume whose checkpoint file does not exist, saying why it may be missing."""
    if (path.parent / "config.json").is_file():
        return CheckpointError(f"no checkpoint at {path}: that search stopped before its first epoch finished; "
                               f"start it again without --resume")
    return CheckpointError(f"no checkpoint at {path}; --resume needs the --out directory of an earlier search")


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise missing_checkpoint_error(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a foreign or damaged file
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error


def load_search_checkpoint(path: Path) -> dict:
    """A search checkpoint (see :func:`checkpoint_state`); CheckpointError for anything else."""
    state = load_checkpoint(path)
    missing = [key for key in SEARCH_STATE_KEYS if key not in state] if isinstance(state, dict) else list(SEARCH_STATE_KEYS)
    if missing:
        raise CheckpointError(f"{path} is not a search checkpoint of darts_tse (it lacks: {', '.join(missing)}); "
                              f"--resume needs the --out directory of an earlier search")
    return state


def checkpoint_state(config: SearchConfig, parts: SearchComponents, tse_ema: TSEEMATracker, epoch: int,
                     history: list[dict], run_id: str, data: dict | None = None) -> dict:
    """Everything needed to continue exactly after `epoch` (and the record of the data it trained on)."""
    return {
        "format": 1, "config": config.to_dict(), "data": data, "epoch": epoch, "run_id": run_id,
        "model": parts.model.state_dict(), "weight_optimizer": parts.weight_optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(), "architect": parts.architect.state_dict(),
        "tse_ema": tse_ema.state_dict(), "rng": rng_state(), "history": history,
    }


def restore(parts: SearchComponents, state: dict, tse_ema: TSEEMATracker) -> None:
    """Load a checkpoint's state into freshly built components."""
    try:
        parts.model.load_state_dict(state["model"])
        parts.weight_optimizer.load_state_dict(state["weight_optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.architect.load_state_dict(state["architect"])
        tse_ema.load_state_dict(state["tse_ema"])
    except (KeyError, RuntimeError, ValueError) as error:
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())  # one line
        raise CheckpointError(f"the checkpoint does not match this search: {detail}") from error
    set_rng_state(state["rng"])


def rng_state() -> dict:
    """The state of every random number generator the search uses."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
