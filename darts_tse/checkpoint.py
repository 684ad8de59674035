"""Atomic checkpoints and the random-number-generator state they carry."""
from __future__ import annotations

import fcntl
import os
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch


LOCK_FILE = ".lock"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not belong to this search."""


def atomic_write(path: Path, write) -> None:
    """Call `write(file_object)` on a temporary file beside `path`, fsync it, then rename it over `path`.

    A crash at any point leaves either the old file or the new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete the temporary files of :func:`atomic_write` that a killed process left in `directory` (and its
    ``wandb/`` folder); call it only while holding :func:`run_lock`."""
    for folder in (Path(directory), Path(directory) / "wandb"):
        for stale in folder.glob(".*.tmp"):
            if stale.is_file():
                stale.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class RunLockedError(RuntimeError):
    """Another process is writing to the same run directory."""


@contextmanager
def run_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (file ``.lock`` inside it) while the body runs: one writer per run.

    The lock is advisory (``fcntl.flock``) and released by the kernel when the process dies, so a killed run never
    leaves a stale lock behind.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(f"another search is writing to {directory}; wait for it to finish or choose a new "
                                 f"--out") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace `path` with `text` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


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
