"""``sweep.json``: the command its jobs run (``search``, ``train-genotype``: :mod:`darts_tse.commands`' names; a
sweep.json without one is a sweep of searches), the grid, the fixed flags, and each job's name, exact command and
submissions (job ids), rewritten atomically whenever a job is submitted; and the lock that lets one sweep command at a
time submit to a folder.

The sweep folder holds one run directory per job (``<folder>/<job name>``), ``sweep.json``, and hidden entries only
(``.submitit/``: submitit's scripts, pickles and logs; ``.restarted/``; ``.lock``), so ``<folder>/*/`` is the list of
run directories.
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..commands import invocation
from ..files import RunLockedError, atomic_write_text, run_lock
from .grid import SweepError

SWEEP_FILE = "sweep.json"
SUBMITIT_DIR = ".submitit"
RESTARTED_DIR = ".restarted"  # runs that stopped before their first epoch, moved aside before the job started again
FORMAT = 1
DEFAULT_COMMAND = "search"  # what the jobs of a sweep.json that names no command run (sweeps before train-genotype)


@dataclass
class Job:
    """One run of the sweep: its folder name, its axis values, the flags of the command it runs (`command_name`, its
    sweep's) and its submissions."""

    name: str
    axes: dict[str, str]
    argv: list[str]
    submissions: list[dict] = field(default_factory=list)
    command_name: str = DEFAULT_COMMAND

    @property
    def command(self) -> str:
        """The job's run as a command line (run from the repository root; with ``--resume`` once it has a
        checkpoint)."""
        return shlex.join([*shlex.split(invocation(self.command_name)), *self.argv])

    @property
    def latest(self) -> dict | None:
        """The latest submission: {"job_id", "executor", "host", "time"}; None if never submitted."""
        return self.submissions[-1] if self.submissions else None

    def add_submission(self, job_id: str, executor: str, **extra) -> None:
        """Record that the job was submitted now as `job_id`."""
        self.submissions.append({"job_id": str(job_id), "executor": executor, "host": socket.gethostname(),
                                 "time": time.strftime("%Y-%m-%d %H:%M:%S"), **extra})

    def to_dict(self) -> dict:
        return {"name": self.name, "axes": self.axes, "command": self.command, "argv": self.argv,
                "submissions": self.submissions}


@dataclass
class Sweep:
    """A sweep folder and what sweep.json records about it."""

    folder: Path
    grid: dict[str, list[str]]
    fixed: list[str]
    jobs: list[Job]
    executor: dict = field(default_factory=dict)  # the options of the latest submission
    launcher: dict | None = None  # {"pid", "host"} of a local sweep while it runs its jobs
    command: str = DEFAULT_COMMAND  # the command every job runs

    def __post_init__(self):
        for job in self.jobs:  # a sweep's jobs all run its command
            job.command_name = self.command

    @property
    def path(self) -> Path:
        return self.folder / SWEEP_FILE

    @property
    def submitit_folder(self) -> Path:
        return self.folder / SUBMITIT_DIR

    def run_dir(self, job: Job) -> Path:
        return self.folder / job.name

    def job_argv(self, job: Job) -> list[str]:
        """The job's flags with its --out where the sweep folder is now: a sweep folder that was
        moved runs its jobs in it, never in the path sweep.json recorded."""
        return [*without_out(job.argv), "--out", str(self.run_dir(job).absolute())]

    def job(self, name: str) -> Job:
        return next(job for job in self.jobs if job.name == name)

    def record_submission(self, job: Job, job_id: str, executor: str, **extra) -> None:
        """Record a submission of `job` and rewrite sweep.json."""
        job.add_submission(job_id, executor, **extra)
        self.save()

    def save(self) -> None:
        document = {"format": FORMAT, "command": self.command, "grid": self.grid, "fixed": self.fixed, "executor": self.executor,
                    "launcher": self.launcher, "jobs": [job.to_dict() for job in self.jobs]}
        atomic_write_text(self.path, json.dumps(document, indent=2) + "\n")

    def differences(self, other: Sweep) -> list[str]:
        """What tells `other`'s jobs from this sweep's: the command, names and flags (empty when they are the same
        jobs)."""
        if self.command != other.command:
            return [f"its jobs run {self.command}, not {other.command}"]
        ours = {job.name: without_out(job.argv) for job in self.jobs}
        theirs = {job.name: without_out(job.argv) for job in other.jobs}
        changes = [f"job {name} is new" for name in theirs if name not in ours]
        changes += [f"job {name} is gone" for name in ours if name not in theirs]
        changes += [f"job {name} has other flags" for name in ours if name in theirs and ours[name] != theirs[name]]
        return changes


def without_out(argv: list[str]) -> list[str]:
    """`argv` without its ``--out DIR`` (or ``--out=DIR``): a job's run directory is always <sweep folder>/<name>."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--out":
            skip = True
        elif not token.startswith("--out="):
            kept.append(token)
    return kept


def load_sweep(folder: str | Path) -> Sweep:
    """The sweep recorded in `folder`/sweep.json; SweepError when there is none, or it is unreadable or damaged (a
    field of the wrong type)."""
    folder = Path(folder)
    path = folder / SWEEP_FILE
    if not path.is_file():
        raise SweepError(f"{folder} is not a sweep folder (no {SWEEP_FILE}); pass the --out of a sweep")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
        raise SweepError(f"cannot read {path} ({type(error).__name__}: {error}); it is written by scripts/sweep.py, "
                         f"restore it") from error
    problem = _damage(document)
    if problem:
        raise SweepError(f"{path} is damaged ({problem}); it is written by scripts/sweep.py, restore it")
    jobs = [Job(item["name"], dict(item["axes"]), list(item["argv"]), list(item.get("submissions", [])))
            for item in document["jobs"]]
    return Sweep(folder, dict(document["grid"]), list(document["fixed"]), jobs, dict(document.get("executor") or {}),
                 document.get("launcher"), document.get("command", DEFAULT_COMMAND))


def _damage(document) -> str:
    """What in a sweep.json document is not as :meth:`Sweep.save` writes it ('' when nothing)."""
    def strings(value) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    if not isinstance(document, dict):
        return "it is not a JSON object"
    if not isinstance(document.get("command", DEFAULT_COMMAND), str) or not document.get("command", DEFAULT_COMMAND):
        return "command is not the name of a command"
    grid = document.get("grid")
    if not isinstance(grid, dict) or not all(strings(values) for values in grid.values()):
        return "grid is not {axis: [values]}"
    if not strings(document.get("fixed")):
        return "fixed is not a list of flags"
    if not isinstance(document.get("executor") or {}, dict):
        return "executor is not an object"
    launcher = document.get("launcher")
    if launcher is not None and not isinstance(launcher, dict):
        return "launcher is not an object"
    jobs = document.get("jobs")
    if not isinstance(jobs, list):
        return "jobs is not a list"
    for number, job in enumerate(jobs, 1):
        if not isinstance(job, dict) or not isinstance(job.get("name"), str) or not job["name"]:
            return f"job {number} has no name"
        axes, submissions = job.get("axes"), job.get("submissions", [])
        if not isinstance(axes, dict) or not all(isinstance(v, str) for v in axes.values()):
            return f"job {job['name']}: axes is not {{axis: value}}"
        if not strings(job.get("argv")):
            return f"job {job['name']}: argv is not a list of flags"
        if not isinstance(submissions, list) or not all(
                isinstance(item, dict) and isinstance(item.get("job_id"), str) and item["job_id"]
                and isinstance(item.get("executor"), str) for item in submissions):
            return f"job {job['name']}: a submission lacks its job id or executor"
    return ""


@contextmanager
def sweep_lock(folder: Path) -> Iterator[None]:
    """Hold the sweep folder's lock while submitting to it: one sweep command at a time."""
    with ExitStack() as stack:
        try:
            stack.enter_context(run_lock(folder))
        except RunLockedError:
            raise SweepError(f"another sweep command is submitting to {folder} (or running its local jobs); wait for "
                             f"it to end, or see: {invocation('sweep')} --status {folder}") from None
        yield


def process_start(pid: int | str) -> str | None:
    """When process `pid` of this machine started (clock ticks after boot, from /proc), None if there is none: with the
    pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii") as handle:
            return handle.read().rpartition(")")[2].split()[19]  # field 22, counted after the command name
    except (OSError, ValueError, IndexError):
        return None


def this_process() -> dict:
    """{"pid", "host", "start"} of the running process (a local sweep's launcher)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid())}


def is_running(process: dict | None) -> bool:
    """Whether the process that :func:`this_process` (or a local submission) described still runs here."""
    if not process or process.get("host") != socket.gethostname() or process.get("start") is None:
        return False
    return process_start(process.get("pid", -1)) == process["start"]
