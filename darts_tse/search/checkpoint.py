"""The run checkpoint: what is saved after every epoch, how it is written and read back, and the RNG state in it.

Format 2: a dict with :data:`SEARCH_STATE_KEYS` (the config as a plain dict, the epoch, the W&B run id, the state
dicts of the supernet, the weight optimizer, the LR schedule, the task (architect or path sampler) and the TSE-EMA
tracker, every RNG state, the history of finished epochs, the data record and the environment of each segment),
written atomically. It holds only tensors, numbers, strings, lists, tuples and dicts, and is read with
``torch.load(weights_only=True)``: a checkpoint from someone else cannot run code on ``--resume`` or in a reader; a
file that needs more than that is refused in one line. (Format 1 kept numpy's RNG state as an array, which the safe
loader admits as data.)
"""
from __future__ import annotations

import contextlib
import importlib
import io
import pickle
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import RunConfig
from ..estimators import TSEEMATracker
from ..files import CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, atomic_write

if TYPE_CHECKING:
    from .components import SearchComponents

CHECKPOINT = CHECKPOINT_FILE
FORMAT = 2
SEARCH_STATE_KEYS = ("config", "epoch", "run_id", "model", "weight_optimizer", "scheduler", "task", "tse_ema",
                     "rng", "history")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not belong to this search."""


def save_checkpoint(path: Path, state: dict) -> None:
    """Serialise `state` in memory, then write it atomically (so a full disk fails as an OSError of the write, and a
    crash leaves the previous checkpoint)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def missing_checkpoint_error(path: Path) -> CheckpointError:
    """The error for a checkpoint file that does not exist, saying why and what is safe to do (never advice that
    deletes a run's files)."""
    if (path.parent / CONFIG_FILE).is_file():
        finished = _finished_epochs(path.parent / METRICS_FILE)
        if finished:
            return CheckpointError(f"no checkpoint at {path}, though {finished} epoch(s) of that run finished: its "
                                   f"{path.name} was moved or deleted; restore it (from a copy or backup) to use that "
                                   f"run, whose other files are kept, or start a new --out")
        return CheckpointError(f"no checkpoint at {path}: no epoch of that run finished, so there is nothing to "
                               f"continue or read; start a new --out")
    return CheckpointError(f"no checkpoint at {path}; give the run directory of an earlier run (one that finished "
                           f"an epoch)")


def _finished_epochs(metrics: Path) -> int:
    """How many rows metrics.jsonl holds (0 where it cannot be read)."""
    try:
        return sum(1 for line in metrics.read_bytes().splitlines() if line.strip())
    except OSError:
        return 0


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` on the CPU, with ``weights_only=True``: plain data and
    tensors only, never code (CheckpointError, one line, for anything else)."""
    path = Path(path)
    if not path.is_file():
        raise missing_checkpoint_error(path)
    try:
        with _numpy_arrays_as_data():
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        match = re.search(r"(Unsupported global|unsupported GLOBAL)[^\n]*", str(error))
        if match is None:  # not a pickle that asks for code: a damaged file, or no checkpoint at all
            detail = " ".join(str(error).split())[:200]
            raise CheckpointError(f"cannot read checkpoint {path}: it is damaged or not a darts_tse checkpoint "
                                  f"({type(error).__name__}: {detail}); nothing in it was run") from error
        what = match.group(0).strip().rstrip(".")
        raise CheckpointError(f"refused to load {path}: it holds more than tensors and plain data, which could run "
                              f"code when unpickled ({what}); nothing in it was run; load only checkpoints written by "
                              f"darts_tse, from a source you trust") from error
    except Exception as error:  # a foreign or damaged file
        detail = " ".join(str(error).split())[:300]
        raise CheckpointError(f"cannot read checkpoint {path}: {type(error).__name__}: {detail}") from error
    if isinstance(state, dict) and isinstance(state.get("format"), int) and state["format"] > FORMAT:
        raise CheckpointError(f"{path} is a format-{state['format']} checkpoint, written by a newer darts_tse than "
                              f"this one (format {FORMAT}); upgrade darts_tse to read it")
    return state


def _numpy_arrays_as_data():
    """Admit numpy arrays (format 1's numpy RNG state) to the safe loader, under the names numpy 1 and numpy 2 pickle
    them by: they rebuild data, not code."""
    multiarray = importlib.import_module("numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray")
    reconstruct = multiarray._reconstruct
    allowed = [np.ndarray, np.dtype, (reconstruct, "numpy.core.multiarray._reconstruct"),
               (reconstruct, "numpy._core.multiarray._reconstruct")]
    if hasattr(np, "dtypes"):
        allowed += [np.dtypes.UInt32DType]
    if hasattr(torch.serialization, "safe_globals"):  # torch >= 2.5
        return torch.serialization.safe_globals(allowed)
    torch.serialization.add_safe_globals(allowed)
    return contextlib.nullcontext()


def load_search_checkpoint(path: Path) -> dict:
    """A run checkpoint (see :func:`checkpoint_state`), format 1 read as format 2; CheckpointError for anything
    else."""
    state = load_checkpoint(path)
    if isinstance(state, dict) and "task" not in state and "architect" in state:  # format 1
        state["task"] = state.pop("architect")
    missing = [key for key in SEARCH_STATE_KEYS if key not in state] if isinstance(state, dict) else list(SEARCH_STATE_KEYS)
    if missing:
        raise CheckpointError(f"{path} is not a checkpoint of darts_tse (it lacks: {', '.join(missing)}); "
                              f"--resume needs the --out directory of an earlier run")
    return state


def checkpoint_state(config: RunConfig, parts: SearchComponents, tse_ema: TSEEMATracker, epoch: int,
                     history: list[dict], run_id: str, data: dict | None = None,
                     segments: list[dict] | None = None) -> dict:
    """Everything needed to continue exactly after `epoch` (and the record of the data and machines it ran on)."""
    return {
        "format": FORMAT, "config": config.to_dict(), "data": data, "segments": segments or [], "epoch": epoch,
        "run_id": run_id, "model": parts.model.state_dict(), "weight_optimizer": parts.weight_optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(), "task": parts.task.state_dict(),
        "tse_ema": tse_ema.state_dict(), "rng": rng_state(parts.device), "history": history,
    }


def restore(parts: SearchComponents, state: dict, tse_ema: TSEEMATracker) -> None:
    """Load a checkpoint's state into freshly built components (and the RNG states, of the run's device)."""
    try:
        parts.model.load_state_dict(state["model"])
        parts.weight_optimizer.load_state_dict(state["weight_optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.task.load_state_dict(state["task"])
        tse_ema.load_state_dict(state["tse_ema"])
        set_rng_state(state["rng"], parts.device)
    except (KeyError, IndexError, RuntimeError, ValueError, TypeError) as error:
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())  # one line
        raise CheckpointError(f"the checkpoint does not match this run: {detail}") from error


def rng_state(device: torch.device | None = None) -> dict:
    """The state of every random number generator the run uses, as tensors and plain data: python, numpy, torch's
    CPU generator and, on CUDA, the run device's generator only (so a resume may see other GPUs)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if device is not None and device.type == "cuda":
        state["cuda_device"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device | None = None) -> None:
    """Restore what :func:`rng_state` returned (or format 1's numpy tuple and all-GPU list)."""
    random.setstate(state["python"])
    numpy = state["numpy"]
    if isinstance(numpy, dict):
        numpy = (numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"], numpy["has_gauss"],
                 numpy["cached_gaussian"])
    np.random.set_state(numpy)
    torch.set_rng_state(state["torch"])
    if device is not None and device.type == "cuda":
        saved = state.get("cuda_device")
        if saved is None and state.get("cuda"):  # format 1: every visible GPU's, by index
            saved = state["cuda"][min(device.index or 0, len(state["cuda"]) - 1)]
        if saved is not None:
            torch.cuda.set_rng_state(saved, device)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
