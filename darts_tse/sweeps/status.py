"""Where each job of a sweep stands (done / running epoch e / queued / failed with its last error line / not
submitted), from its run directory, its latest submission and submitit's files; and the status table."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..commands import invocation
from ..files import lock_held
from ..tracking import sync_runs_command
from .executors import QUEUED, RUNNING, UNKNOWN, activity, last_log_line, outcome
from .record import Job, Sweep, is_running
from .state import DAMAGED, DONE, run_state

DONE_STATE, FAILED, NOT_SUBMITTED = "done", "failed", "not submitted"
STATES = (DONE_STATE, RUNNING, QUEUED, FAILED, NOT_SUBMITTED, UNKNOWN)  # the order of the summary line


@dataclass(frozen=True)
class JobStatus:
    """One job's state, what to say about it, and its latest job id."""

    name: str
    state: str
    detail: str = ""
    job_id: str | None = None


def job_status(sweep: Sweep, job: Job) -> JobStatus:
    """The state of `job`: its run directory decides 'done'; otherwise its latest submission (scheduler state,
    submitit's result file) decides running / queued / failed."""
    run = run_state(sweep.run_dir(job))
    submission = job.latest
    job_id = submission["job_id"] if submission else None
    if run.kind == DONE:
        return JobStatus(job.name, DONE_STATE, run.progress, job_id)
    if lock_held(sweep.run_dir(job)):  # its search runs, whatever became of the job that started it
        return JobStatus(job.name, RUNNING, f"epoch {run.finished + 1}/{run.planned or '?'} (its search holds "
                                            f"the run's lock)", job_id)
    if submission is None:
        if is_running(sweep.launcher):
            return JobStatus(job.name, QUEUED, "waiting for a free local slot")
        return JobStatus(job.name, NOT_SUBMITTED, run.progress if run.finished else "")
    now = activity(submission, sweep.submitit_folder)
    if now == QUEUED:
        return JobStatus(job.name, QUEUED, run.progress if run.finished else "", job_id)
    if now == RUNNING:
        return JobStatus(job.name, RUNNING, f"epoch {run.finished + 1}/{run.planned or '?'}", job_id)
    result = outcome(submission, sweep.submitit_folder)
    if result is not None and result[0] == "error":
        return JobStatus(job.name, FAILED, result[1], job_id)
    if result is not None and run.detail:  # it ended well, but its run is not done: e.g. W&B failed to close it
        return JobStatus(job.name, FAILED, run.detail, job_id)
    if now == UNKNOWN:
        return JobStatus(job.name, UNKNOWN, f"the scheduler cannot be asked here; {run.progress} finished", job_id)
    if run.kind == DAMAGED:
        return JobStatus(job.name, FAILED, run.detail, job_id)
    line = last_log_line(submission, sweep.submitit_folder)
    return JobStatus(job.name, FAILED, f"the job ended after {run.progress} without a result (killed?)"
                                       + (f"; last log line: {line}" if line else ""), job_id)


def sweep_status(sweep: Sweep) -> list[JobStatus]:
    """Every job's status, in the order of sweep.json."""
    return [job_status(sweep, job) for job in sweep.jobs]


def format_status(sweep: Sweep, statuses: list[JobStatus]) -> str:
    """The status table, a summary line, and the commands that sync W&B and compare the results."""
    counts = [f"{sum(s.state == state for s in statuses)} {state}" for state in STATES
              if any(s.state == state for s in statuses)]
    width = max([len("job"), *(len(s.name) for s in statuses)])
    lines = [f"sweep {sweep.folder}: {len(statuses)} jobs: {', '.join(counts)}", "",
             f"{'job':<{width}}  {'state':<13}  {'job id':<12}  details"]
    lines += [f"{s.name:<{width}}  {s.state:<13}  {s.job_id or '-':<12}  {s.detail}".rstrip() for s in statuses]
    sync = sync_runs_command(sweep.folder)
    lines.append("")
    if sync is None:
        lines.append("W&B: no offline runs to sync")
    else:
        lines += [f"W&B: {sync[1]} offline segments; upload every job's runs with:", f"    {sync[0]}"]
    lines += [f"Results, mean ± std over seeds{' per genotype' if sweep.command == 'train-genotype' else ''}:",
              f"    {invocation('compare-runs')} {shlex.quote(str(sweep.folder))}/*/"]
    return "\n".join(lines)
