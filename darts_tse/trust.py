"""Who may make this process unpickle a file or run a line: the one place every command asks.

Some inputs are read by unpickling (which can run any code the file's author chose): the official
``NAS-Bench-201-v1_*.pth``, a NATS-Bench directory or ``*.pickle.pbz2`` file, and the CIFAR / ImageNet16 batches.
Some are run as shell lines or command flags (a sweep's recorded setup lines and job flags). The rule: such an input
is read or run only when the user named it on this command line; a path, line or flag that comes from a run
directory, a sweep folder or any other file the project wrote (``checkpoint.pt``'s config, ``config.json``,
``sweep.json``) is refused in one line that says which flag names it, unless the user passes ``--trust-run-files``
(they vouch for whoever wrote those files). docs/tracking.md lists what can and cannot run code.

Torch-free and free of the rest of the package: every loader (search resume, rank_subnets, sweeps) calls it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Collection

TRUST_FLAG = "--trust-run-files"
TRUST_HELP = ("read the pickle-format benchmark and data paths (and, for sweeps, run the setup lines and job flags) "
              "that the run directory or sweep folder records, though you did not name them on this command line: "
              "only for files from someone you trust, since unpickling them can run code (docs/tracking.md)")
# datasets whose files are read by unpickling (CIFAR's python batches through torchvision, NB201's ImageNet16 batches)
PICKLE_DATASETS = frozenset({"cifar10", "cifar100", "imagenet16-120"})
SAFE_BENCHMARK_SUFFIXES = (".csv", ".npz", ".onnx")  # a table is text; a curve store is read with allow_pickle=False;
# the NB301 surrogate (.onnx) is a graph of standard operators that onnxruntime runs, no Python


class UntrustedInputError(ValueError):
    """A file or line named only by a run directory, sweep folder or project-written file, which reading or running
    could make run code; the message names the flag that vouches for it."""


def pickle_benchmark(path: str | Path | None) -> bool:
    """Whether reading benchmark `path` unpickles it: a NATS-Bench directory or ``.pickle.pbz2``, an official
    ``.pth`` (anything but a table CSV, a curve store ``.npz`` or the NB301 surrogate's ``.onnx``; None, the installed
    offline package, is not a path)."""
    if path is None:
        return False
    return not str(path).lower().endswith(SAFE_BENCHMARK_SUFFIXES)


def pickle_dataset(dataset: str, data_dir: str | Path | None) -> bool:
    """Whether loading `dataset` from `data_dir` unpickles files there (None: the default folder, not a recorded one)."""
    return data_dir is not None and dataset.lower() in PICKLE_DATASETS


def check_recorded_sources(recorded: dict, named: Collection[str], *, trusted: bool, where: str,
                           flags: dict[str, str] | None = None) -> None:
    """Refuse to unpickle what only a run's record names.

    `recorded` holds the settings read from `where` (a checkpoint's or config.json's ``benchmark``, ``dataset``,
    ``data_dir``); `named` the settings the user gave on this command line (their values win and are trusted);
    `trusted`: the user passed ``--trust-run-files``. `flags` maps a setting to the flag that names it (default
    ``--benchmark`` / ``--data-dir``). Raises UntrustedInputError naming the flag to give.
    """
    if trusted:
        return
    flags = {"benchmark": "--benchmark", "data_dir": "--data-dir", **(flags or {})}
    benchmark = recorded.get("benchmark")
    if "benchmark" not in named and pickle_benchmark(benchmark):
        raise UntrustedInputError(
            f"{where} names the benchmark {benchmark}, a pickle-format file (unpickling it can run code), and a path "
            f"read from a run's files is not unpickled; name it yourself: {flags['benchmark']} {benchmark} (or a "
            f"table CSV), or pass {TRUST_FLAG} if you trust whoever wrote {where}")
    dataset, data_dir = str(recorded.get("dataset") or ""), recorded.get("data_dir")
    if "data_dir" not in named and pickle_dataset(dataset, data_dir):
        raise UntrustedInputError(
            f"{where} names the {dataset} data folder {data_dir}, whose batches are pickles (unpickling them can run "
            f"code), and a path read from a run's files is not unpickled; name it yourself: {flags['data_dir']} "
            f"{data_dir}, or pass {TRUST_FLAG} if you trust whoever wrote {where}")


def check_recorded_commands(lines: list[str], *, trusted: bool, where: str, what: str) -> None:
    """Refuse to run `lines` (shell lines or job commands read from `where`) unless the user passed
    ``--trust-run-files``; the refusal shows them, so the user can read what they would confirm."""
    if trusted or not lines:
        return
    shown = " | ".join(lines[:5]) + (f" | ... ({len(lines) - 5} more)" if len(lines) > 5 else "")
    raise UntrustedInputError(
        f"{where} records {what} that would run as if you typed them: {shown}; read them and pass {TRUST_FLAG} to run "
        f"them, or give them again on this command line")


def unpickling_refused(error: BaseException) -> str:
    """numpy's error for a file that holds pickled objects, without numpy's advice to load it unsafely ('' for any
    other error): a file the project reads with ``allow_pickle=False`` is never unpickled."""
    return "it holds pickled Python objects, which are never unpickled here" if "allow_pickle" in str(error) else ""
