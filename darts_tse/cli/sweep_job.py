"""One job of a sweep, as submitit runs it: its command's ``main`` (train_search.py's, train_genotype.py's) in the
job's process, started, continued
(``--resume``) or skipped as its run directory says, and requeued through submitit's checkpointing hook when the
scheduler signals a time limit or a pre-emption (submitit's signal, or SIGTERM under SLURM)."""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Iterator

import submitit

from ..files import RunLockedError, run_lock
from ..sweeps import DAMAGED, DONE, RESUMABLE, STARTED, JobFailed, run_state, sacct_state, write_outcome
from .runs import Terminated
from .sweep_commands import SEARCH, SWEEP_COMMANDS, SweepCommand

SCHEDULER_SIGNAL = getattr(signal, f"SIG{submitit.JobEnvironment.USR_SIG}")  # submitit's: USR2 unless configured
TERMINATED = 143  # a run's exit code after SIGTERM (128 + 15)


class SweepJob(submitit.helpers.Checkpointable):
    """The run ``python train_search.py ARGV`` (or, `command` train-genotype, ``python scripts/train_genotype.py
    ARGV``; its ``--out`` is the run directory), as a restartable job.

    When it starts, the run directory decides: done (nothing to run), a checkpoint (run with ``--resume``), no run
    files (run), run files from a start that never finished an epoch (moved into `restarted`, then run). On the
    scheduler's signal (submitit's, USR2 by default: a time limit near, a pre-emption) the run stops as on
    SIGTERM (its checkpoint kept), and submitit's handler calls :meth:`checkpoint` and requeues the job. Under SLURM
    a SIGTERM alone is a pre-emption too (SLURM sends it, then SIGKILL), and is handed to the same handler, unless
    SLURM's accounting says the job was cancelled (``scancel`` also sends SIGTERM): that job stays stopped.
    """

    command = SEARCH  # the default: jobs pickled before train-genotype sweeps have no command of their own

    def __init__(self, name: str, argv: list[str], restarted: str, command: str = SEARCH):
        self.name, self.argv, self.restarted, self.command = name, list(argv), str(restarted), command
        self.out = vars(self.runner.build_parser().parse_args(self.argv))["out"]  # the run directory: the argv's --out

    @property
    def runner(self) -> SweepCommand:
        """The command the job runs."""
        return SWEEP_COMMANDS[self.command]

    def __call__(self) -> int:
        """Run the job's run; its outcome is also written as JSON beside submitit's result (what --status reads)."""
        try:
            code = self._run()
        except JobFailed as error:
            write_outcome("error", str(error))
            raise
        write_outcome("success")
        return code

    def _run(self) -> int:
        state = run_state(self.out)
        if state.kind == DONE:
            print(f"{self.name}: already done ({state.progress}); nothing to run", flush=True)
            return 0
        if state.kind == DAMAGED:
            raise JobFailed(state.detail)
        if state.kind == STARTED:
            moved = set_aside(Path(self.out), Path(self.restarted))
            print(f"{self.name}: an earlier start finished no epoch; its files are moved to {moved}", flush=True)
        argv = self.runner.resume_argv(self.argv) if state.kind == RESUMABLE else self.argv
        print(f"{self.name}: {'resuming after ' + state.progress if state.kind == RESUMABLE else 'starting'}",
              flush=True)
        errors = ErrorLines(sys.stderr)
        # SIGTERM before or after the command's main holds it stops as within it (submitit only logs SIGTERM)
        with redirect_stderr(errors), stop_on(SCHEDULER_SIGNAL) as stop, stop_on(signal.SIGTERM):
            try:
                code = self.runner.main(argv)
            except Terminated:  # the signal came before the command's main could catch it
                code = TERMINATED
        if code == 0:
            return 0
        if stop.signum is not None:
            if callable(stop.previous):  # submitit's handler: calls checkpoint(), requeues the job, exits
                stop.previous(stop.signum, None)
            raise JobFailed(f"stopped by {signal.Signals(stop.signum).name}; the checkpoint of its last finished "
                            f"epoch is kept")
        if code == TERMINATED and slurm_job_id() is not None:
            if sacct_state(Path(os.environ.get("SUBMITIT_FOLDER", ".")), slurm_job_id()) == "CANCELLED":
                raise JobFailed(failure(code, errors.last, cancelled=True))
            if callable(stop.previous):  # a pre-emption: submitit's handler requeues the job as for its own signal
                stop.previous(signal.SIGTERM, None)
        raise JobFailed(failure(code, errors.last, script=self.runner.script))

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """The job to requeue: the same run, which will find its checkpoint and continue with --resume."""
        print(f"{self.name}: requeued; it continues from its checkpoint", flush=True)
        return submitit.helpers.DelayedSubmission(SweepJob(self.name, self.argv, self.restarted, self.command))


SearchJob = SweepJob  # its name before sweeps ran train-genotype jobs: submitit's pickles of queued jobs name it


def slurm_job_id(environ=os.environ) -> str | None:
    """The SLURM job id of this process (``<array id>_<task>`` in an array, as sacct and submitit name it), None
    outside SLURM."""
    if "SLURM_JOB_ID" not in environ:
        return None
    array, task = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else environ["SLURM_JOB_ID"]


def failure(code: int, error_line: str, *, cancelled: bool = False, script: str = "train_search.py") -> str:
    """The one line a failed job reports."""
    if code == TERMINATED and cancelled:
        return ("cancelled (scancel: SIGTERM, exit 143), the checkpoint of its last finished epoch kept; "
                "--resubmit-failed, or re-running the sweep command, continues it")
    if code == TERMINATED:
        return ("stopped by SIGTERM (exit 143), the checkpoint of its last finished epoch kept; re-run the sweep "
                "command, or --resubmit-failed, to continue it")
    if code == 130:
        return "interrupted (SIGINT, exit 130), the checkpoint of its last finished epoch kept"
    return error_line or f"{script} ended with exit code {code}"


def set_aside(out: Path, folder: Path) -> Path:
    """Move run directory `out` (a start that never finished an epoch) to ``folder/<name>-<n>``; nothing is deleted.
    JobFailed when a run holds its lock (another job runs it)."""
    try:
        with run_lock(out):
            folder.mkdir(parents=True, exist_ok=True)
            number = 1
            while (folder / f"{out.name}-{number}").exists():
                number += 1
            target = folder / f"{out.name}-{number}"
            os.rename(out, target)
    except RunLockedError:
        raise JobFailed(f"another process holds the run in {out} (its lock); this job leaves it alone") from None
    return target


class ErrorLines:
    """A text stream that passes everything on to `stream` and keeps the last line that starts with 'error:'."""

    def __init__(self, stream):
        self.stream, self.last = stream, ""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("error:"):
                self.last = line
        return self.stream.write(text)

    def __getattr__(self, name: str):  # flush, fileno, encoding, isatty ... are the stream's
        return getattr(self.stream, name)


class _Stop:
    signum: int | None = None
    previous = None


@contextmanager
def stop_on(signum: int) -> Iterator[_Stop]:
    """While the body runs, signal `signum` stops the command's main as SIGTERM does (exit 143, checkpoint
    kept); the handler that was installed before (submitit's) is restored afterwards and handed back in the result."""
    stop = _Stop()
    stop.previous = signal.getsignal(signum)

    def handler(number, frame):
        if stop.signum is None:  # once: a second signal must not break the run's clean stop
            stop.signum = number
            raise Terminated()

    signal.signal(signum, handler)
    try:
        yield stop
    finally:
        signal.signal(signum, stop.previous)
