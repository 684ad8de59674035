"""Sweeps: many runs (a grid of the flags of train_search.py, or of train_genotype.py) run as submitit jobs, locally
or on SLURM.

The grid and the job names (``grid.py``), ``sweep.json`` (``record.py``), what a run directory says about its job
(``state.py``), the executors and what a job id says later (``executors.py``), the status table (``status.py``).
Torch-free. What needs the commands' parsers (which commands a sweep runs, turning the grid into checked job flags,
and the job itself) is in ``darts_tse.cli.sweep_commands``, ``darts_tse.cli.sweep_plan`` and
``darts_tse.cli.sweep_job``.
"""
from .executors import (
    ENDED,
    QUEUED,
    RUNNING,
    UNKNOWN,
    JobFailed,
    LocalOptions,
    LocalPool,
    SlurmOptions,
    pythonpath,
    pythonpath_setup,
    require_slurm,
    sacct_state,
    sbatch_script,
    submit_slurm,
    visible_gpus,
    write_outcome,
)
from .grid import Axis, SweepError, combinations, folder_name, parse_axes
from .record import RESTARTED_DIR, SUBMITIT_DIR, SWEEP_FILE, Job, Sweep, load_sweep, sweep_lock, this_process
from .state import CHECKPOINT_FILE, DAMAGED, DONE, FRESH, RESUMABLE, STARTED, RunState, run_state
from .status import DONE_STATE, FAILED, NOT_SUBMITTED, JobStatus, format_status, job_status, sweep_status

__all__ = [
    "CHECKPOINT_FILE", "DAMAGED", "DONE", "DONE_STATE", "ENDED", "FAILED", "FRESH", "NOT_SUBMITTED", "QUEUED",
    "RESTARTED_DIR", "RESUMABLE", "RUNNING", "STARTED", "SUBMITIT_DIR", "SWEEP_FILE", "UNKNOWN", "Axis", "Job",
    "JobFailed", "JobStatus", "LocalOptions", "LocalPool", "RunState", "SlurmOptions", "Sweep", "SweepError",
    "combinations", "folder_name", "format_status", "job_status", "load_sweep", "parse_axes", "pythonpath",
    "pythonpath_setup", "require_slurm", "run_state", "sacct_state", "sbatch_script", "submit_slurm", "sweep_lock",
    "sweep_status", "this_process",
    "visible_gpus", "write_outcome",
]
