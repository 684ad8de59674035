"""The table of commands, and how the user ran the one now running: the one source of truth for a program's name.

Every command is a ``darts_tse.cli.<module>.main(argv)``. It runs as ``darts-tse <name>`` (or ``python -m darts_tse
<name>``; :mod:`darts_tse.cli.main` dispatches) and, in a checkout, as its wrapper script (``python train_search.py``,
``python scripts/<module>.py``). A hint that names a command (``resume with: ...``, ``make one with: ...``) asks
:func:`invocation` for it, so it names the command the way the user ran this one.

To add a command: one ``Command(...)`` row in :data:`COMMANDS`. A row whose module is not there (a command that
another branch adds) is simply not listed. Imports nothing of darts_tse (every room may use it) and nothing heavy.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Iterator

PROGRAM = "darts-tse"


@dataclass(frozen=True)
class Command:
    """One subcommand: ``darts-tse <name>`` runs ``darts_tse.cli.<module>.main``; `script` is its wrapper in a
    checkout (run from the repository root); `summary` is its line in ``darts-tse --help``."""

    name: str
    module: str
    flow: str
    summary: str
    script: str = ""

    @property
    def module_path(self) -> str:
        return self.module if "." in self.module else f"darts_tse.cli.{self.module}"

    def checkout_command(self, root: str = "") -> str:
        """How a checkout runs it without installing: ``python train_search.py``, ``python scripts/x.py`` (the
        script's path below `root`, the checkout as the user named it; '' for the current directory)."""
        script = self.script or f"scripts/{self.module}.py"
        return f"python {script if script.startswith('-') else os.path.join(root, script)}"

    def available(self) -> bool:
        """Whether its module is installed (found without importing it)."""
        try:
            return importlib.util.find_spec(self.module_path) is not None
        except ModuleNotFoundError:
            return False


FLOWS = ("search", "one-shot", "query", "sweeps", "reports", "benchmarks", "data and benchmark tools")

COMMANDS: tuple[Command, ...] = (
    Command("search", "search", "search", "search NB201 or the DARTS space: DARTS, DARTS-TSE, DrNAS, DrNAS-TSE",
            "train_search.py"),
    Command("train-genotype", "train_genotype", "search", "train a found cell from scratch (NB201, DARTS or NB301 protocol)"),
    Command("train-oneshot", "train_oneshot", "one-shot", "train a one-shot supernet by path sampling"),
    Command("rank-subnets", "rank_subnets", "one-shot",
            "rank its subnetworks by TSE, the other estimators and size baselines (Table 2)"),
    Command("query-search", "query_search", "query", "query-based NAS (RS, RE, TPE) on NB201 curves (Figure 4)"),
    Command("sweep", "sweep", "sweeps", "a grid of searches as submitit jobs, locally or on SLURM; --status"),
    Command("compare-methods", "compare_methods", "sweeps",
            "methods x seeds as a local sweep, then the table, curves and report.md"),
    Command("reproduce", "reproduce", "sweeps", "the paper's Table 2 or Figure 4 in one command, with its settings"),
    Command("compare-runs", "compare_runs", "reports", "table of methods as mean ± std over search seeds"),
    Command("plot-curves", "plot_curves", "reports", "overfitting curves: benchmark accuracy, losses, skip count"),
    Command("plot-alpha", "plot_alpha", "reports", "each edge's op probabilities by epoch"),
    Command("plot-query", "plot_query", "reports", "query-based searches against simulated wall-clock"),
    Command("export-genotype", "export_genotype", "reports", "the genotype a search found (NB201 string, DARTS' literal or JSON)"),
    Command("rank-estimators", "rank_estimators", "reports",
            "rank correlation of the TSE estimators with final accuracy"),
    Command("bench-step", "bench_step", "benchmarks", "time and memory of one search minibatch per method"),
    Command("bench-search", "bench_search", "benchmarks", "time whole search epochs of every method"),
    Command("profile-step", "profile_step", "benchmarks", "where a search step's time goes, per op"),
    Command("compare-hvp", "compare_hvp", "benchmarks", "finite-difference vs exact Hessian-vector product"),
    Command("nb201", "darts_tse.nb201.__main__", "data and benchmark tools",
            "one architecture's NB201 numbers as JSON", "-m darts_tse.nb201"),
    Command("export-nb201-table", "export_nb201_table", "data and benchmark tools",
            "official .pth or NATS directory -> fast NB201 table CSV"),
    Command("export-nb201-curves", "export_nb201_curves", "data and benchmark tools",
            "NATS directory -> learning-curve store for query-search"),
)


def find(name: str) -> Command:
    """The command called `name` (KeyError if none)."""
    for command in COMMANDS:
        if command.name == name:
            return command
    raise KeyError(name)


_launch: list[tuple[str, str]] = []  # (launcher, command name) while the dispatcher runs a command


@contextlib.contextmanager
def launched_as(launcher: str, name: str) -> Iterator[None]:
    """While the block runs, command `name` was started as ``<launcher> <name>`` (``darts-tse search``)."""
    _launch.append((launcher, name))
    try:
        yield
    finally:
        _launch.pop()


def current_prog() -> str | None:
    """``darts-tse search`` while the dispatcher runs a command (a parser's ``prog``), else None (argparse's own)."""
    return f"{_launch[-1][0]} {_launch[-1][1]}" if _launch else None


def invocation(name: str) -> str:
    """How to run command `name` the way the user runs this process: ``darts-tse <name>`` (or ``python -m darts_tse
    <name>``) under the dispatcher or an installed ``darts-tse-*`` command, else the checkout's wrapper
    (``python train_search.py``, ``python scripts/<module>.py``)."""
    if _launch:
        return f"{_launch[-1][0]} {name}"
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script).startswith(f"{PROGRAM}-"):  # the old installed commands
        return f"{PROGRAM} {name}"
    return find(name).checkout_command(_checkout_root(script))


def _checkout_root(script: str) -> str:
    """The checkout as the user named it in the wrapper they ran (``../darts_tse/train_search.py`` → ``../darts_tse``),
    '' when it is the current directory or the process was not started from a wrapper."""
    path = os.path.normpath(script) if script else ""
    if os.path.basename(path) == "train_search.py":
        root = os.path.dirname(path)
    elif path.endswith(".py") and os.path.basename(os.path.dirname(path)) == "scripts":
        root = os.path.dirname(os.path.dirname(path))
    else:
        return ""
    return "" if root in ("", ".") else root
