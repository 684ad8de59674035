"""Thread counts that fit the machine: the CPUs a process may use (affinity, SLURM), jobs sharing a machine get
cpus // jobs threads each, a run caps torch's threads at its CPUs, and a CPU run whose threads starve says so."""
import os

import pytest
import torch

from darts_tse import cpus
from darts_tse.config import ConfigError
from darts_tse.cpus import available_cpus, job_thread_environment, thread_hint, threads_per_job
from darts_tse.search import loop
from darts_tse.sweeps import LocalPool
from darts_tse.sweeps.executors import LocalOptions


@pytest.fixture
def eight_cpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


def test_available_cpus_follow_the_affinity_mask_and_slurm(eight_cpus):
    assert available_cpus({}) == 8
    assert available_cpus({"SLURM_CPUS_PER_TASK": "3"}) == 3
    assert available_cpus({"SLURM_CPUS_PER_TASK": "64"}) == 8, "SLURM's number caps, never raises, the mask"
    assert available_cpus({"SLURM_CPUS_PER_TASK": ""}) == 8


def test_jobs_sharing_a_machine_split_its_cpus(eight_cpus):
    assert threads_per_job(1, 8) == 8 and threads_per_job(3, 8) == 2 and threads_per_job(12, 8) == 1
    assert threads_per_job(4) == 2, "default: this process's CPUs"
    assert job_thread_environment(4, 8) == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                                            "TORCHINDUCTOR_COMPILE_THREADS": "2"}
    with pytest.raises(ValueError):
        threads_per_job(0, 8)


def test_a_local_pool_gives_its_jobs_their_share_unless_the_environment_says(eight_cpus, monkeypatch, tmp_path):
    for name in cpus.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    pool = LocalPool(tmp_path, LocalOptions(max_parallel=4, gpus=[0], jobs_per_gpu=4))
    assert pool.thread_environment() == {name: "2" for name in cpus.THREAD_VARIABLES}
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert "OMP_NUM_THREADS" not in pool.thread_environment()


def test_thread_hint_only_when_threads_starve():
    line = thread_hint(cpu_seconds=12.0, wall_seconds=10.0, threads=8)  # 15 % of 8 threads' time
    assert line == ("hint: this CPU run's 8 threads got 15% of their time (other processes are using the CPUs); "
                    "--threads 1 may run its steps faster")
    assert "--threads 3" in thread_hint(cpu_seconds=30.0, wall_seconds=10.0, threads=8)
    assert thread_hint(cpu_seconds=70.0, wall_seconds=10.0, threads=8) is None
    assert thread_hint(cpu_seconds=1.0, wall_seconds=10.0, threads=1) is None


def test_a_run_caps_torchs_threads_at_its_cpus(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(loop, "available_cpus", lambda: 1)
    try:
        with pytest.raises(ConfigError, match=r"^--threads 2 is more than this machine's 1 CPUs available"):
            loop.configure_threads(2)
        torch.set_num_threads(2)
        loop.configure_threads(None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_cpu_run_gives_the_hint_once_after_its_first_epoch(tmp_path, monkeypatch, caplog):
    from darts_tse.config import SearchConfig

    seen = []
    monkeypatch.setattr(loop, "HINT_AFTER_S", 0.0)
    monkeypatch.setattr(loop, "thread_hint", lambda cpu, wall, threads: seen.append((cpu, wall, threads)) or "hint: x")
    config = SearchConfig(method="darts-tse", K=2, dataset="synthetic", epochs=2, batch_size=8, C=4, N=1,
                          synthetic_samples=32, synthetic_image_size=16, steps_per_epoch=2, out=str(tmp_path / "r"),
                          wandb="disabled", progress=False, device="cpu", threads=1)
    with caplog.at_level("WARNING"):
        loop.run_search(config)
    assert len(seen) == 1 and seen[0][2] == 1 and seen[0][0] >= 0 and seen[0][1] > 0
    assert [r.getMessage() for r in caplog.records].count("hint: x") == 1
