"""Where the jobs run, through submitit: ``local`` (submitit's local executor, at most --max-parallel jobs at once,
each on its own GPU or on the CPU) and ``slurm`` (one sbatch job array with the requested resources); the sbatch
script a dry run prints; and what a submission's job id says later (queued, running, ended, its result).

Checked against submitit 1.5.4, whose private parts are used where it has no public way (each use says so):
``SlurmExecutor._make_submission_file_text`` / ``_submitit_command_str`` and ``parameters["map_count"]`` (the dry
run's script), ``LocalJob._process`` (the process a local job runs in, to stop a setup shell's children)."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import submitit

from ..cpus import job_thread_environment
from ..files import atomic_write_text
from ..tracking import environment
from .grid import SweepError
from .record import is_running, process_start

STOP_WAIT_S = 60  # how long a stopped local sweep waits for each job to end
CONTROLLER_LOG = "controllers.log"  # in submitit's folder: the stderr of the local jobs' controllers
NO_LIMIT_MIN = 60 * 24 * 365  # a local job's time limit when none is given (submitit's default is 2 minutes)
QUEUED, RUNNING, ENDED, UNKNOWN = "queued", "running", "ended", "unknown"
SLURM_QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESV_DEL_HOLD", "SUSPENDED"}
SLURM_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"}


def pythonpath_setup(root: Path) -> str:
    """The shell line that lets a SLURM job import the same darts_tse as the command that submitted it."""
    return f"export PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}}"


def pythonpath(root: Path, environ=os.environ) -> str:
    """PYTHONPATH with `root` first: what a local job needs to import the same darts_tse (submitit copies the
    launcher's environment into the job, so no setup shell is needed for it)."""
    rest = environ.get("PYTHONPATH")
    return str(root) + (f"{os.pathsep}{rest}" if rest else "")


class JobFailed(RuntimeError):
    """Raised by a job whose search failed; its message (one line) is what the sweep's status reports."""


# ---- SLURM --------------------------------------------------------------------------------------------------------
@dataclass
class SlurmOptions:
    """The sbatch resources of every job (one array); times in minutes, memory in GB."""

    time_min: int = 120
    partition: str | None = None
    gpus_per_job: int = 1
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    account: str | None = None
    array_parallelism: int | None = None  # None: every job of the array may run at once
    sbatch: dict[str, str] = field(default_factory=dict)  # extra #SBATCH --KEY=VALUE lines
    setup: list[str] = field(default_factory=list)  # shell lines run before each job
    job_name: str = "darts-tse-sweep"
    max_timeouts: int = 3  # requeues after reaching the time limit (pre-emptions are not counted)

    def parameters(self, jobs: int) -> dict:
        """submitit SlurmExecutor parameters for an array of `jobs` jobs."""
        values = {"job_name": self.job_name, "time": self.time_min, "partition": self.partition,
                  "gpus_per_node": self.gpus_per_job or None, "cpus_per_task": self.cpus_per_job,
                  "mem": None if self.mem_gb is None else _memory(self.mem_gb), "account": self.account,
                  "array_parallelism": min(self.array_parallelism or jobs, jobs), "setup": list(self.setup),
                  "additional_parameters": dict(self.sbatch) or None}
        return {key: value for key, value in values.items() if value is not None}


def _memory(gb: float) -> str:
    return f"{int(gb)}GB" if gb == int(gb) else f"{int(gb * 1024)}MB"


class _ScriptWriter(submitit.SlurmExecutor):
    """submitit's own SLURM executor, usable where SLURM is not installed: it only writes scripts (--dry-run)."""

    @classmethod
    def affinity(cls) -> int:
        return 2


def sbatch_script(folder: Path, options: SlurmOptions, jobs: int) -> str:
    """The sbatch script submitit writes for an array of `jobs` jobs (a single job when `jobs` is 1)."""
    writer = _ScriptWriter(folder, max_num_timeout=options.max_timeouts)
    writer.update_parameters(**options.parameters(jobs))
    if jobs > 1:
        writer.parameters["map_count"] = jobs  # how submit_array marks an array (private, submitit 1.5.4)
    return writer._make_submission_file_text(writer._submitit_command_str, "dry-run")  # private, submitit 1.5.4


def require_slurm() -> None:
    """SweepError unless SLURM's commands are on this machine."""
    if shutil.which("srun") is None or shutil.which("sbatch") is None:
        raise SweepError("--executor slurm needs SLURM on this machine (no sbatch/srun found); run the sweep on the "
                         "cluster's login node, or add --dry-run to see the sbatch script")


def submit_slurm(folder: Path, options: SlurmOptions, functions: list[Callable]) -> list[str]:
    """Submit `functions` as one SLURM array; returns their job ids (``<array id>_<index>``)."""
    require_slurm()
    executor = submitit.SlurmExecutor(folder, max_num_timeout=options.max_timeouts)
    executor.update_parameters(**options.parameters(len(functions)))
    try:
        jobs = executor.submit_array(functions)
    except Exception as error:  # sbatch refused the script: a bad partition, account, time or resource
        detail = " ".join(str(error).split())
        raise SweepError(f"sbatch refused the jobs: {detail[:300]}; check --partition, --account, --time and the "
                         f"resources") from None
    return [job.job_id for job in jobs]


# ---- local --------------------------------------------------------------------------------------------------------
@dataclass
class LocalOptions:
    """Local jobs: at most `max_parallel` at once; with `gpus`, each running job holds one of them, shared by at most
    `jobs_per_gpu` jobs (searches small enough to run side by side on one GPU)."""

    max_parallel: int = 1
    gpus: list[int] = field(default_factory=list)  # empty: the jobs run on the CPU
    jobs_per_gpu: int = 1
    time_min: float | None = None  # None: no limit
    setup: list[str] = field(default_factory=list)  # the user's shell lines (they make submitit start a shell)
    max_timeouts: int = 3
    pythonpath: str | None = None  # the jobs' PYTHONPATH (None: the launcher's)


def visible_gpus(environ=os.environ) -> list[int]:
    """The GPUs of this machine a job may be given: CUDA_VISIBLE_DEVICES when set (numbers only), else the ones
    nvidia-smi lists, else none."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        entries = [entry.strip() for entry in listed.split(",") if entry.strip()]
        if not all(entry.isdigit() for entry in entries):
            raise SweepError(f"CUDA_VISIBLE_DEVICES={listed} names GPUs by UUID; give --gpus 0,1,... (their numbers)")
        return [int(entry) for entry in entries]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(match) for match in re.findall(r"^GPU (\d+):", listing, flags=re.MULTILINE)]


class LocalPool:
    """Runs jobs with submitit's local executor, at most ``max_parallel`` at once, in the foreground.

    Slot i runs on GPU ``gpus[i % len(gpus)]`` (``CUDA_VISIBLE_DEVICES``), or on the CPU without GPUs. ``on_submit(key, job_id,
    extra)`` is called as each job starts, ``on_end(key, job)`` as it ends; a requeued job (a time limit reached)
    is restarted by submitit in its slot. The jobs get ``options.pythonpath`` through the environment submitit
    copies, so without setup lines a job runs without a shell and :meth:`cancel` reaches it.
    """

    def __init__(self, folder: Path, options: LocalOptions, poll_s: float = 0.5):
        if options.jobs_per_gpu < 1:
            raise SweepError(f"--jobs-per-gpu must be >= 1, got {options.jobs_per_gpu}")
        if options.gpus and options.max_parallel > len(options.gpus) * options.jobs_per_gpu:
            raise SweepError(f"--max-parallel {options.max_parallel} needs as many GPUs, and jobs get one each: "
                             f"{len(options.gpus)} available ({','.join(map(str, options.gpus))}), "
                             f"{options.jobs_per_gpu} job(s) per GPU; lower it, raise --jobs-per-gpu where searches fit "
                             f"side by side, or give --gpus-per-job 0 to run on the CPU")
        self.folder, self.options, self.poll_s = Path(folder), options, poll_s

    def gpu(self, slot: int) -> int | None:
        """The GPU of slot `slot` (None: the CPU)."""
        return self.options.gpus[slot % len(self.options.gpus)] if self.options.gpus else None

    def thread_environment(self) -> dict[str, str]:
        """The thread pools of each job: the CPUs split between the ``max_parallel`` jobs that run at once (on the
        CPU or sharing GPUs), unless this environment already sets them (a job's ``--threads`` wins over both)."""
        return {name: value for name, value in job_thread_environment(self.options.max_parallel).items()
                if name not in os.environ}

    def _executor(self, slot: int) -> submitit.LocalExecutor:
        executor = submitit.LocalExecutor(self.folder, max_num_timeout=self.options.max_timeouts)
        gpus = [] if self.gpu(slot) is None else [self.gpu(slot)]
        executor.update_parameters(timeout_min=self.options.time_min or NO_LIMIT_MIN, gpus_per_node=len(gpus),
                                   visible_gpus=tuple(gpus), setup=list(self.options.setup))
        return executor

    def run(self, work: Iterable[tuple[str, Callable]], on_submit: Callable, on_end: Callable,
            busy: Callable[[str], bool] = lambda key: False) -> None:
        """Run every (key, function) of `work`; returns when all have ended (a job whose process ended while
        `busy(key)` says its work still runs, e.g. its search still holds its run's lock, keeps its slot until that
        ends). Ctrl-C stops the running jobs (their searches keep the checkpoint of their last finished epoch)."""
        pending = deque(work)
        running: dict[int, tuple[str, submitit.LocalJob]] = {}
        try:
            while pending or running:
                for slot in range(self.options.max_parallel):
                    if pending and slot not in running:
                        key, function = pending.popleft()
                        pythonpath = {"PYTHONPATH": self.options.pythonpath} if self.options.pythonpath else {}
                        # submitit copies the environment into the job; see _stderr_to for the controller's stderr
                        with environment(**pythonpath, **self.thread_environment()), _stderr_to(self.folder / CONTROLLER_LOG):
                            job = self._executor(slot).submit(function)
                        running[slot] = (key, job)
                        on_submit(key, job.job_id, {"start": process_start(job.job_id), "gpu": self.gpu(slot)})
                time.sleep(self.poll_s)
                for slot, (key, job) in list(running.items()):
                    if job.done() and not busy(key):
                        del running[slot]
                        on_end(key, job)
        finally:
            for _, job in running.values():
                cancel(job)
            for _, job in running.values():  # their searches save nothing more: wait until they have stopped
                process = getattr(job, "_process", None)  # private, submitit 1.5.4
                if process is not None:
                    try:
                        process.wait(timeout=STOP_WAIT_S)
                    except subprocess.TimeoutExpired:
                        pass


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """While a local job's controller is started: this process's stderr (file descriptor 2) is `path`, which the
    controller inherits. The controller writes nothing there but its own traceback when Ctrl-C reaches it (the
    terminal signals the whole process group: the launcher and the jobs' searches say in one line what they keep,
    submitit's controller would add a traceback); its task's output goes to the job's own logs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cancel(job: submitit.LocalJob) -> None:
    """Stop a local job: SIGINT to its process (submitit's controller, which stops its task, as Ctrl-C does), and,
    where setup lines made submitit start a shell that does not pass signals on, to the shell's children too."""
    job.cancel(check=False)
    process = getattr(job, "_process", None)  # the Popen of the job (private, submitit 1.5.4)
    if process is not None and process.poll() is None:
        for child in _children(process.pid):
            try:
                os.kill(child, signal.SIGINT)
            except OSError:  # it ended meanwhile
                pass


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc; none where it cannot be read)."""
    children = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:  # field 4, counted after the command name
                children.append(int(entry.name))
    return children


# ---- what a job id says later -------------------------------------------------------------------------------------
def activity(submission: dict, folder: Path) -> str:
    """QUEUED, RUNNING, ENDED or UNKNOWN for a recorded submission (SLURM: its sacct state, else squeue's, where a
    job squeue does not list has ended; local: whether its process still runs on this machine)."""
    if submission.get("executor") == "local":
        if submission.get("host") != socket.gethostname():
            return UNKNOWN
        return RUNNING if is_running({**submission, "pid": submission["job_id"]}) else ENDED
    state = sacct_state(folder, submission["job_id"])
    if not state:  # no sacct here, or no accounting data for the job (purged, accounting off)
        listed = squeue_state(submission["job_id"])
        if listed is None:  # e.g. a copy of the sweep folder read off the cluster
            return UNKNOWN
        if listed == "":
            return ENDED
        state = listed
    if state in SLURM_QUEUED:
        return QUEUED
    if state in SLURM_RUNNING:
        return RUNNING
    return UNKNOWN if state == "UNKNOWN" else ENDED


def sacct_state(folder: Path, job_id: str) -> str:
    """The state SLURM's accounting (sacct, through submitit) records for `job_id`: its first word ('RUNNING',
    'CANCELLED' of 'CANCELLED by 12', ...), '' when sacct is not here or has no record of the job."""
    if shutil.which("sacct") is None:  # e.g. a copy of the sweep folder read off the cluster
        return ""
    state = submitit.SlurmJob(folder, job_id).watcher.get_state(job_id, mode="force")  # not the cache of 2 s ago
    word = (state.split() or [""])[0].upper()
    return "" if word == "UNKNOWN" else word


def squeue_state(job_id: str) -> str | None:
    """The state squeue lists for `job_id` ('PENDING', 'RUNNING', ...), '' when it does not list it (the job is
    neither queued nor running), None when squeue cannot be asked."""
    if shutil.which("squeue") is None:
        return None
    try:
        result = subprocess.run(["squeue", "--noheader", "--format=%T", f"--jobs={job_id}"], capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:  # a job id it no longer knows: "slurm_load_jobs error: Invalid job id specified"
        return "" if "invalid job id" in result.stderr.lower() else None
    return (result.stdout.split() or [""])[0].upper()


def job_paths(submission: dict, folder: Path):
    """submitit's paths (result pickle, logs) of a recorded submission."""
    job_class = submitit.LocalJob if submission.get("executor") == "local" else submitit.SlurmJob
    return job_class(folder, submission["job_id"]).paths


def outcome_file(result_pickle: Path) -> Path:
    """Where a job writes its outcome as JSON, beside submitit's result pickle (which nothing here unpickles: a
    sweep folder from someone else must not run code on --status)."""
    result_pickle = Path(result_pickle)
    return result_pickle.with_name(result_pickle.name.replace("_result.pkl", "") + "_outcome.json")


def write_outcome(kind: str, message: str = "") -> None:
    """Called in a job's process as it ends: its outcome ("success" or "error", and the error's one line) as JSON,
    read back by :func:`outcome`. Nothing is written outside a submitit job."""
    try:
        paths = submitit.JobEnvironment().paths
    except RuntimeError:  # not in a submitit job (e.g. a test calling the job directly)
        return
    atomic_write_text(outcome_file(paths.result_pickle), json.dumps({"outcome": kind, "message": message}) + "\n")


def outcome(submission: dict, folder: Path) -> tuple[str, str] | None:
    """("success", "") or ("error", its one line) from the outcome JSON the job wrote as it ended; None while there
    is none (submitit's result pickle is never unpickled)."""
    path = outcome_file(job_paths(submission, folder).result_pickle)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        kind, message = document["outcome"], str(document.get("message", ""))
    except (OSError, ValueError, TypeError, KeyError) as error:  # a torn or foreign file
        return "error", f"cannot read the job's outcome {path} ({type(error).__name__})"
    return ("error", last_line(message)) if kind == "error" else ("success", "")


def last_line(text: str) -> str:
    """The last non-empty line of a traceback or log (a :class:`JobFailed`'s message without its class name)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return re.sub(r"^[\w.]*\bJobFailed: ", "", lines[-1]) if lines else ""


def last_log_line(submission: dict, folder: Path) -> str:
    """The last line of the job's stderr log ('' without one)."""
    path = job_paths(submission, folder).stderr
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 8192))
            return last_line(handle.read().decode("utf-8", "replace"))
    except OSError:
        return ""
