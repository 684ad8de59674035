"""Files a run writes: atomic replacement (a crash leaves the old file or the new one) and the one-writer lock.

Torch-free: the trackers, the search and the readers all use it."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".lock"
# Everything a run writes into its directory (besides the lock): a fresh run refuses a directory that holds any of
# them, and --overwrite removes exactly these. The writers name their files from here.
CONFIG_FILE, METRICS_FILE, GENOTYPES_FILE, FINAL_GENOTYPE_FILE = "config.json", "metrics.jsonl", "genotypes.jsonl", "genotype.json"
CHECKPOINT_FILE, WANDB_DIR = "checkpoint.pt", "wandb"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, GENOTYPES_FILE, FINAL_GENOTYPE_FILE, CHECKPOINT_FILE, WANDB_DIR)
WANDB_MARKER = "last_logged_epoch"  # in wandb/: the last epoch of a W&B run closed cleanly (tracking's WandbSink)
WANDB_LINKS = ("latest-run", "debug.log", "debug-internal.log")  # W&B's links to its newest run


def wandb_run_stem(name: str) -> str:
    """The part of a run's W&B id that comes from its directory name (letters, digits, '-', '_' kept): the ids are
    ``<stem>-<8 hex digits>``, and W&B names its folders ``offline-run-<time>-<id>`` / ``run-<time>-<id>``."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[-55:].strip("-_") or "run"


class OutputPathError(ValueError):
    """An output path that cannot be written as asked (a folder, a wrong extension, a read-only place)."""


def check_output_file(path: str | Path, suffixes: tuple[str, ...], what: str = "-o", *,
                      overwrite: bool = True) -> Path:
    """`path` as a Path if a file with one of `suffixes` can be written there; OutputPathError (one line, with the
    fix) for a folder, another extension, a parent that is not a writable folder, or (``overwrite=False``) a file
    that exists already."""
    path = Path(path)
    if not overwrite and path.is_file():
        raise OutputPathError(f"{what} {path} exists already; choose a new name, or pass --overwrite to replace it")
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a folder; give a file name, e.g. {path / ('out' + suffixes[0])}")
    if path.suffix.lower() not in suffixes:
        raise OutputPathError(f"{what} {path}: the file name must end in {' or '.join(suffixes)}")
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path}: {parent} is not a writable folder; choose another place")
    return path


def run_files(directory: str | Path) -> list[str]:
    """The names of the run files (:data:`RUN_FILES`, and their leftover temporaries) that `directory` holds."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    present = [name for name in RUN_FILES if (directory / name).exists()]
    return present + sorted(path.name for path in _temporaries(directory))


def _temporaries(directory: Path) -> list[Path]:
    """The temporaries :func:`atomic_write` leaves when killed, of the run files only (``.<name>.*.tmp``)."""
    found = [path for name in RUN_FILES for path in directory.glob(f".{name}.*.tmp")]
    return [path for path in found if path.is_file()]


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
    """Delete the temporaries of the run files that a killed process left in `directory` (and the W&B marker's in its
    ``wandb/`` folder), and nothing else; call it only while holding :func:`run_lock`."""
    directory = Path(directory)
    stale = _temporaries(directory) + [p for p in (directory / WANDB_DIR).glob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink()


def remove_run_files(directory: Path) -> list[str]:
    """Delete every run file in `directory` (never other files); returns the names removed. In ``wandb/`` only this
    run directory's own W&B runs (ids from its name), W&B's links and our marker go: a ``wandb/`` that also holds
    other runs (an ``--out`` inside a project) keeps them. Only with the lock held, and only when the user asked for
    it (``--overwrite``) or for files this process wrote."""
    directory = Path(directory)
    removed = run_files(directory)
    for name in removed:
        path = directory / name
        if name == WANDB_DIR and path.is_dir() and not path.is_symlink():
            _remove_own_wandb_runs(path, wandb_run_stem(directory.name))
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def _remove_own_wandb_runs(folder: Path, stem: str) -> None:
    for entry in folder.iterdir():
        own = entry.is_dir() and not entry.is_symlink() and f"-{stem}-" in f"{entry.name}-"
        if own and entry.name.split("-", 2)[0] in ("offline", "run"):
            shutil.rmtree(entry)
        elif entry.name in (*WANDB_LINKS, WANDB_MARKER) or (entry.name.startswith(".") and entry.suffix == ".tmp"):
            entry.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def _umask() -> int:
    """The process umask, read from /proc (os.umask can only read it by setting it, which would race with other
    threads creating files, e.g. W&B's); elsewhere by setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


class RunLockedError(RuntimeError):
    """Another process is writing to the same run directory."""


def lock_held(directory: Path) -> bool:
    """Whether another process holds :func:`run_lock` on `directory` now (creates nothing)."""
    lock = Path(directory) / LOCK_FILE
    if not lock.is_file():
        return False
    try:
        with open(lock, "rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


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
            raise RunLockedError(f"another run is writing to {directory}; wait for it to finish or choose a new "
                                 f"--out") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace `path` with `text` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
