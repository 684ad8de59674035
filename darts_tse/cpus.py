"""How many CPU threads a process may use, and how jobs that share a machine split them (torch-free).

A process may use the CPUs of its affinity mask (``taskset``, a container's cpuset, SLURM's binding), at most
``SLURM_CPUS_PER_TASK`` of them inside a SLURM job. Jobs that run side by side on one machine (a local sweep's
jobs, searches sharing a GPU) get ``cpus // jobs`` threads each, at least one: without that, k jobs each start
an OpenMP pool of every core (and, compiling, an inductor pool as large), and all of them crawl.
"""
from __future__ import annotations

import os
from typing import Mapping

# the environment that sets a job's thread pools: OpenMP and MKL (torch's intra-op threads) and inductor's compile
# workers
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCHINDUCTOR_COMPILE_THREADS")
# a CPU run whose threads get less than this share of their time is told so (thread_hint)
BUSY_SHARE = 0.5


def available_cpus(environ: Mapping[str, str] | None = None) -> int:
    """The CPUs this process may use: its affinity mask (all CPUs where the platform has none), capped by
    ``SLURM_CPUS_PER_TASK`` where set."""
    environ = os.environ if environ is None else environ
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this platform (macOS, Windows)
        cpus = os.cpu_count() or 1
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cpus = min(cpus, int(slurm))
    return max(1, cpus)


def threads_per_job(jobs: int, cpus: int | None = None) -> int:
    """Threads for each of `jobs` jobs running at once on `cpus` CPUs (default: this process's): ``cpus // jobs``,
    at least 1."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    return max(1, (available_cpus() if cpus is None else cpus) // jobs)


def job_thread_environment(jobs: int, cpus: int | None = None) -> dict[str, str]:
    """The environment variables that give a job :func:`threads_per_job` threads (a job's own ``--threads`` wins)."""
    threads = str(threads_per_job(jobs, cpus))
    return {name: threads for name in THREAD_VARIABLES}


def thread_hint(cpu_seconds: float, wall_seconds: float, threads: int) -> str | None:
    """One line when a CPU run's threads got less than :data:`BUSY_SHARE` of their time (`cpu_seconds` of process CPU
    time in `wall_seconds`: other processes compete for the CPUs), suggesting the thread count that its CPU time
    fits; None otherwise (and for one thread, which has nothing to give back)."""
    if threads <= 1 or wall_seconds <= 0:
        return None
    share = cpu_seconds / (wall_seconds * threads)
    if share >= BUSY_SHARE:
        return None
    fits = max(1, min(threads - 1, round(cpu_seconds / wall_seconds)))
    return (f"hint: this CPU run's {threads} threads got {share:.0%} of their time (other processes are using the "
            f"CPUs); --threads {fits} may run its steps faster")
