"""Files a run writes: atomic replacement (a crash leaves the old file or the new one) and the one-writer lock.

Torch-free: the trackers, the search and the readers all use it."""
from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".lock"


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
