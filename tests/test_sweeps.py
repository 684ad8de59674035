"""Sweeps (scripts/sweep.py): the grid becomes checked jobs, bad values are refused before anything is submitted,
slurm's dry run shows the sbatch script, local jobs run through submitit, are skipped once done, and a job stopped by
the scheduler's signal (or killed) continues from its checkpoint exactly."""
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import darts_tse.search.loop
from darts_tse.analysis import group_runs, load_run
from darts_tse.cli import sweep as sweep_cli
from darts_tse.cli.compare_runs import main as compare_main
from darts_tse.cli.search import build_parser
from darts_tse.cli.sweep_job import SCHEDULER_SIGNAL, SearchJob
from darts_tse.cli.sweep_plan import plan_jobs, search_config, strict_parser
from darts_tse.search import CHECKPOINT, run_search
from darts_tse.sweeps import (
    CHECKPOINT_FILE,
    DAMAGED,
    DONE,
    FRESH,
    RESUMABLE,
    STARTED,
    JobFailed,
    LocalOptions,
    LocalPool,
    Sweep,
    SweepError,
    load_sweep,
    parse_axes,
    run_state,
    sweep_status,
    visible_gpus,
)
from darts_tse.sweeps.record import process_start

from conftest import REPO_ROOT, interrupt_at_epoch

TINY = ["--dataset", "synthetic", "--synthetic-samples", "32", "--synthetic-image-size", "16", "--C", "4", "--N", "1",
        "--batch-size", "8", "--epochs", "2", "--steps-per-epoch", "2", "--wandb", "disabled", "--no-progress",
        "--threads", "1", "--device", "cpu"]


def tiny(epochs: int = 2) -> list[str]:
    return [*TINY[:TINY.index("--epochs") + 1], str(epochs), *TINY[TINY.index("--epochs") + 2:]]


def final_alpha(out: Path) -> list:
    return json.loads((out / "genotype.json").read_text())["alpha"]


def reference_run(job_argv: list[str], out: Path) -> Path:
    """The job's search run uninterrupted in this process, in `out`."""
    config = search_config(strict_parser(), job_argv)
    config.out = str(out)
    run_search(config, echo=lambda line: None)
    return out


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# ---- the grid ----------------------------------------------------------------------------------------------------
def test_grid_jobs_get_readable_folders_their_flags_a_wandb_group_and_tag(tmp_path):
    jobs, notes = plan_jobs(tmp_path / "sw", parse_axes(["method=darts,darts-tse", "seed=0,1", "K=10,100"]), tiny())
    # darts does not use K: its jobs leave it out instead of repeating the same search for each K
    assert [job.name for job in jobs] == ["darts-seed0", "darts-seed1", "darts-tse-seed0-K10", "darts-tse-seed0-K100",
                                          "darts-tse-seed1-K10", "darts-tse-seed1-K100"]
    assert notes == ["K is not used by darts (only darts-tse and drnas-tse use it): its darts jobs leave it out"]
    job = jobs[2]
    assert job.axes == {"method": "darts-tse", "seed": "0", "K": "10"}
    config = search_config(build_parser(), job.argv).validate()
    assert (config.method, config.seed, config.K, config.epochs) == ("darts-tse", 0, 10, 2)
    assert config.out == str((tmp_path / "sw" / "darts-tse-seed0-K10").absolute())
    # W&B groups a configuration's seeds: the method and the other non-seed axes
    assert (config.wandb_group, config.wandb_tags) == ("darts-tse-K10", ["sweep:sw"])
    assert [search_config(build_parser(), j.argv).wandb_group for j in jobs] == [
        "darts", "darts", "darts-tse-K10", "darts-tse-K100", "darts-tse-K10", "darts-tse-K100"]
    assert job.command.startswith("python train_search.py --dataset synthetic") and "--out " in job.command
    # flags the user fixes are kept; a switch is an axis too
    jobs, _ = plan_jobs(tmp_path / "sw", parse_axes(["track-running-stats=on,off"]),
                        [*tiny(), "--wandb-group", "mine", "--wandb-tags", "a", "b"])
    configs = [search_config(build_parser(), job.argv) for job in jobs]
    assert [job.name for job in jobs] == ["track-running-stats-on", "track-running-stats-off"]
    assert [c.track_running_stats for c in configs] == [True, False]
    assert all(c.wandb_group == "mine" and c.wandb_tags == ["a", "b"] for c in configs)


def test_path_flags_are_made_absolute_when_the_sweep_is_planned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in ("tables/nb201.csv", "data/", "b.csv", "a.csv"):  # a sweep checks that they exist
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).mkdir() if path.endswith("/") else (tmp_path / path).write_text("")
    flags = [*tiny(), "--benchmark", "tables/nb201.csv", "--data-dir=data"]
    [job], _ = plan_jobs(tmp_path / "sw", parse_axes(["seed=0"]), flags)
    config = search_config(build_parser(), job.argv)
    assert (config.benchmark, config.data_dir) == (str(tmp_path / "tables" / "nb201.csv"), str(tmp_path / "data"))
    [job], _ = plan_jobs(tmp_path / "sw", parse_axes(["seed=0"]), [*tiny(), "--bench", "b.csv"])  # abbreviated
    assert search_config(build_parser(), job.argv).benchmark == str(tmp_path / "b.csv")
    jobs, _ = plan_jobs(tmp_path / "sw", parse_axes(["benchmark=a.csv,b.csv"]), tiny())  # an axis of paths
    assert [job.name for job in jobs] == ["benchmarka.csv", "benchmarkb.csv"]
    assert [search_config(build_parser(), j.argv).benchmark for j in jobs] == [str(tmp_path / "a.csv"),
                                                                                str(tmp_path / "b.csv")]


@pytest.mark.parametrize("grid, flags, expected", [
    (["method=darts,dartz"], [], "grid axis method: bad value 'dartz': argument --method: invalid choice: 'dartz'"),
    (["K=10,ten"], [], "grid axis K: bad value 'ten': argument --K: invalid int value: 'ten'"),
    (["K=0,10"], [], "grid job K=0: --K must be an integer >= 1, got 0"),
    (["lr=0.01,0.1"], ["--lr-min", "0.05"], "grid job lr=0.01: --lr-min must lie in [0, --lr], got 0.05"),
    (["colour=red"], [], "grid axis colour is not a flag of train_search.py"),
    (["seed=0,0"], [], "grid axis seed repeats 0"),
    (["seed"], [], "grid axis 'seed' is not NAME=V1,V2"),
    (["out=a,b"], [], "--out cannot be a grid axis"),
    (["seed=0,1"], ["--seed", "3"], "--seed is both a grid axis and a fixed flag"),
    (["seed=0,1"], ["--frobnicate", "3"], "unrecognized arguments: --frobnicate 3"),
    (["seed=0,1"], ["--resume"], "--resume is not a flag for the jobs"),
    (["seed=0,1"], ["--partition", "gpu"], "--partition is an option of --executor slurm"),
])
def test_bad_grid_values_are_refused_before_submission_with_one_line(tmp_path, capsys, grid, flags, expected):
    code = sweep_cli.main(["--grid", *grid, *tiny(), *flags, "--out", str(tmp_path / "sw")])
    lines = error_lines(capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert not (tmp_path / "sw").exists()  # nothing written, nothing submitted


def test_a_folder_with_another_sweep_or_other_files_is_refused(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert sweep_cli.main(["--grid", "seed=0", *tiny(), "--out", str(tmp_path / "mine")]) == 2
    assert "holds files but no sweep.json" in error_lines(capsys)[0]
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]


# ---- SLURM, dry run ----------------------------------------------------------------------------------------------
def test_slurm_dry_run_prints_the_sbatch_script_with_the_requested_resources(tmp_path, capsys):
    code = sweep_cli.main(["--grid", "method=darts,darts-tse", "seed=0,1", *tiny(), "--out", str(tmp_path / "sw"),
                           "--executor", "slurm", "--partition", "gpu", "--time", "30", "--gpus-per-job", "1",
                           "--cpus-per-job", "4", "--mem-gb", "16", "--account", "nas", "--array-parallelism", "2",
                           "--sbatch", "qos=high", "--setup", "module load cuda", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16GB", "#SBATCH --account=nas", "#SBATCH --array=0-3%2",
                 "#SBATCH --qos=high", "#SBATCH --signal=USR2@90", "#SBATCH --job-name=sw", "module load cuda",
                 f"export PYTHONPATH={REPO_ROOT}", "-m submitit.core._submit"):
        assert line in out, line
    assert out.count("python train_search.py ") == 4 and "darts-tse-seed1" in out
    assert not (tmp_path / "sw").exists()
    assert sweep_cli.main(["--grid", "seed=0,1", *tiny(), "--out", str(tmp_path / "sw"), "--executor", "slurm",
                           "--dry-run"]) == 0
    assert "#SBATCH --cpus-per-task=2" in capsys.readouterr().out  # the default


def test_slurm_submission_without_slurm_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    assert sweep_cli.main(["--grid", "seed=0", *tiny(), "--out", str(tmp_path / "sw"), "--executor", "slurm"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and "needs SLURM" in lines[0] and "--dry-run" in lines[0]
    assert not (tmp_path / "sw").exists()


# ---- a job's run directory ---------------------------------------------------------------------------------------
def test_run_state_from_the_run_directory_alone(tmp_path):
    out = tmp_path / "run"
    assert run_state(out).kind == FRESH
    out.mkdir()
    (out / ".lock").write_text("")
    assert run_state(out).kind == FRESH
    (out / "config.json").write_text(json.dumps({"epochs": 3}))
    (out / "metrics.jsonl").write_text("")
    assert run_state(out).kind == STARTED  # stopped before its first epoch finished
    (out / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1}\n')
    assert run_state(out).kind == DAMAGED  # finished epochs, no checkpoint: left alone
    (out / CHECKPOINT_FILE).write_bytes(b"")
    assert (run_state(out).kind, run_state(out).progress) == (RESUMABLE, "2/3 epochs")
    (out / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1}\n{"epoch": 2}\n{"epo')  # a torn last line
    # every epoch, but killed before its files were written after the last: resumable (a resume rewrites them)
    assert run_state(out).kind == RESUMABLE and "genotype.json is not that of epoch 2" in run_state(out).detail
    (out / "genotype.json").write_text('{"epoch": 1}')
    assert run_state(out).kind == RESUMABLE
    (out / "genotype.json").write_text('{"epoch": 2}')
    assert run_state(out).kind == DONE
    (out / "wandb").mkdir()
    (out / "wandb" / "last_logged_epoch").write_text("1\n")  # W&B closed after epoch 1, not after the last
    assert run_state(out).kind == RESUMABLE and "W&B run was last closed after epoch 1" in run_state(out).detail
    (out / "wandb" / "last_logged_epoch").write_text("2\n")
    assert run_state(out).kind == DONE
    assert CHECKPOINT_FILE == CHECKPOINT


def one_job(folder: Path, epochs: int) -> tuple:
    """The one job of a darts-tse sweep in `folder` (K=1, `epochs` epochs) and the callable submitit would run."""
    [job], _ = plan_jobs(folder, parse_axes(["method=darts-tse"]), [*tiny(epochs), "--K", "1"])
    return job, SearchJob(job.name, job.argv, str(folder / ".restarted"))


def signal_at_epoch(monkeypatch, epoch: int, signum: int = SCHEDULER_SIGNAL) -> None:
    """Make the search send itself the scheduler's signal (or `signum`) when it starts `epoch` (0-based)."""
    real_run_epoch = darts_tse.search.loop.run_epoch

    def run_epoch(config, parts, benchmark, tse_ema, current):
        if current == epoch:
            os.kill(os.getpid(), signum)  # as SLURM's --signal before the time limit, or a pre-emption
        return real_run_epoch(config, parts, benchmark, tse_ema, current)

    monkeypatch.setattr(darts_tse.search.loop, "run_epoch", run_epoch)


@pytest.mark.slow
def test_a_job_runs_its_search_skips_it_once_done_and_resumes_an_interrupted_one_exactly(tmp_path, monkeypatch,
                                                                                          capsys):
    job, search_job = one_job(tmp_path / "sw", epochs=3)
    out = tmp_path / "sw" / job.name
    interrupt_at_epoch(monkeypatch, 1)  # Ctrl-C in epoch 2: the checkpoint of epoch 1 is kept
    with pytest.raises(JobFailed, match="interrupted"):
        search_job()
    monkeypatch.undo()
    assert run_state(out).kind == RESUMABLE and run_state(out).finished == 1
    assert search_job() == 0  # continues with --resume
    assert "resuming after 1/3 epochs" in capsys.readouterr().out
    assert final_alpha(out) == final_alpha(reference_run(job.argv, tmp_path / "reference"))
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    assert search_job() == 0
    assert "already done" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before  # nothing rewritten


def test_the_scheduler_signal_stops_the_search_and_hands_over_to_submitit(tmp_path, monkeypatch):
    job, search_job = one_job(tmp_path / "sw", epochs=3)
    handed_over = []

    def submitit_handler(signum, frame):  # what submitit installs in a job: checkpoint(), requeue, exit
        handed_over.append((signum, search_job.checkpoint().function))
        raise SystemExit(144)

    signal_at_epoch(monkeypatch, 1)
    previous = signal.signal(SCHEDULER_SIGNAL, submitit_handler)
    try:
        with pytest.raises(SystemExit):
            search_job()
        assert signal.getsignal(SCHEDULER_SIGNAL) is submitit_handler  # restored
        signal.signal(SCHEDULER_SIGNAL, signal.SIG_DFL)
        with pytest.raises(JobFailed, match="stopped by SIGUSR2"):  # outside submitit: reported, not requeued
            one_job(tmp_path / "other", epochs=3)[1]()
    finally:
        signal.signal(SCHEDULER_SIGNAL, previous)
    [(signum, requeued)] = handed_over
    assert signum == SCHEDULER_SIGNAL and isinstance(requeued, SearchJob) and requeued.argv == job.argv
    out = tmp_path / "sw" / job.name
    assert run_state(out).kind == RESUMABLE and run_state(out).finished == 1  # the clean stop kept epoch 1


def fake_slurm(monkeypatch, folder: Path, job_id: str | None, sacct: str | None = None, squeue: str | None = None,
               squeue_code: int = 0) -> None:
    """This process as a SLURM job `job_id` (None: outside SLURM), with fake sacct / squeue commands printing what is
    given (None: the command is not installed) and nothing else on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text, code in (("sacct", sacct, 0), ("squeue", squeue, squeue_code)):
        if text is not None:
            (folder / name).write_text(f"#!/bin/sh\nprintf '%s' '{text}'\n" + (f"echo '{text}' >&2\n" if code else "")
                                       + f"exit {code}\n")
            (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    if job_id is not None:
        monkeypatch.setenv("SLURM_JOB_ID", job_id)


@pytest.mark.slow
def test_under_slurm_a_sigterm_is_a_preemption_requeued_by_submitit_unless_the_job_was_cancelled(tmp_path,
                                                                                                  monkeypatch):
    job, search_job = one_job(tmp_path / "sw", epochs=3)
    handed_over = []

    def submitit_handler(signum, frame):  # submitit's checkpoint_and_try_requeue: checkpoint(), scontrol requeue, exit
        handed_over.append((signum, search_job.checkpoint().function))
        raise SystemExit(-1)

    sigterm = signal.getsignal(signal.SIGTERM)
    previous = signal.signal(SCHEDULER_SIGNAL, submitit_handler)
    try:
        signal_at_epoch(monkeypatch, 1, signal.SIGTERM)  # SLURM pre-empting the job: SIGTERM, then SIGKILL
        fake_slurm(monkeypatch, tmp_path / "bin1", "4242", sacct="JobID|State|NodeList\n4242|RUNNING|node1\n")
        with pytest.raises(SystemExit):
            search_job()
        [(signum, requeued)] = handed_over
        assert signum == signal.SIGTERM and isinstance(requeued, SearchJob) and requeued.argv == job.argv
        out = tmp_path / "sw" / job.name
        assert run_state(out).kind == RESUMABLE and run_state(out).finished == 1  # the clean stop kept epoch 1
        # scancel sends SIGTERM too: a job SLURM's accounting calls cancelled stays stopped
        fake_slurm(monkeypatch, tmp_path / "bin2", "4343", sacct="JobID|State|NodeList\n4343|CANCELLED by 1000|n1\n")
        with pytest.raises(JobFailed, match="cancelled \\(scancel: SIGTERM, exit 143\\)"):
            one_job(tmp_path / "cancelled", epochs=3)[1]()
        fake_slurm(monkeypatch, tmp_path / "bin3", None)  # outside SLURM: reported, not requeued
        with pytest.raises(JobFailed, match="stopped by SIGTERM \\(exit 143\\)"):
            one_job(tmp_path / "local", epochs=3)[1]()
        assert len(handed_over) == 1
        assert signal.getsignal(signal.SIGTERM) is sigterm and signal.getsignal(SCHEDULER_SIGNAL) is submitit_handler
    finally:
        signal.signal(SCHEDULER_SIGNAL, previous)


def test_a_job_without_accounting_data_is_asked_of_squeue_and_failed_once_it_left_the_queue(tmp_path, monkeypatch):
    folder = tmp_path / "sw"
    jobs, _ = plan_jobs(folder, parse_axes(["seed=0"]), tiny())
    sweep = Sweep(folder, {"seed": ["0"]}, tiny(), jobs)
    header = "JobID|State|NodeList\n"  # sacct without a record of the job (purged, or accounting off)
    for number, (sacct, squeue, code, state) in enumerate([
            (header, "RUNNING\n", 0, "running"),
            (header, "slurm_load_jobs error: Invalid job id specified", 1, "failed"),  # it left the queue
            (None, "", 0, "failed"),  # no sacct here, and squeue does not list it
            (None, None, 0, "unknown")]):  # neither can be asked (a copy of the folder off the cluster)
        jobs[0].submissions = []
        jobs[0].add_submission(f"77{number}_0", "slurm")
        fake_slurm(monkeypatch, tmp_path / f"bin{number}", None, sacct=sacct, squeue=squeue, squeue_code=code)
        [status] = sweep_status(sweep)
        assert status.state == state, (number, status)
    monkeypatch.setenv("PATH", str(tmp_path / "bin1"))
    [status] = sweep_status(sweep)
    assert "without a result" in status.detail  # what --resubmit-failed takes


def test_a_job_that_ended_well_but_whose_run_is_not_done_is_failed_with_why(tmp_path):
    folder = tmp_path / "sw"
    [job], _ = plan_jobs(folder, parse_axes(["seed=0"]), tiny())
    sweep = Sweep(folder, {"seed": ["0"]}, tiny(), [job])
    out = folder / job.name
    out.mkdir(parents=True)
    (out / "config.json").write_text('{"epochs": 2}')
    (out / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1}\n')
    (out / "genotype.json").write_text('{"epoch": 1}')
    (out / CHECKPOINT_FILE).write_bytes(b"")
    (out / "wandb").mkdir()
    (out / "wandb" / "last_logged_epoch").write_text("0\n")  # W&B failed to close the run after its last epoch
    (folder / ".submitit").mkdir()
    job.add_submission("111", "local", start="0")
    (folder / ".submitit" / "111_0_outcome.json").write_text('{"outcome": "success", "message": ""}')
    [status] = sweep_status(sweep)
    assert status.state == "failed" and "W&B run was last closed after epoch 0" in status.detail


@pytest.mark.parametrize("edit, problem", [
    (lambda d: d.update(grid=["seed"]), "grid is not {axis: [values]}"),
    (lambda d: d.update(fixed="--epochs 2"), "fixed is not a list of flags"),
    (lambda d: d.update(jobs={}), "jobs is not a list"),
    (lambda d: d["jobs"][0].update(argv=None), "argv is not a list of flags"),
    (lambda d: d["jobs"][0].update(axes=[]), "axes is not {axis: value}"),
    (lambda d: d["jobs"][0].update(submissions=[{"job_id": 5}]), "a submission lacks its job id or executor"),
    (lambda d: d["jobs"][0].pop("name"), "job 1 has no name"),
    (lambda d: d.update(launcher=3), "launcher is not an object"),
])
def test_a_damaged_sweep_json_is_one_line(tmp_path, capsys, edit, problem):
    folder = tmp_path / "sw"
    jobs, _ = plan_jobs(folder, parse_axes(["seed=0"]), tiny())
    folder.mkdir()
    Sweep(folder, {"seed": ["0"]}, tiny(), jobs).save()
    document = json.loads((folder / "sweep.json").read_text())
    edit(document)
    (folder / "sweep.json").write_text(json.dumps(document))
    for argv in (["--status", str(folder)], ["--resubmit-failed", str(folder)]):
        assert sweep_cli.main(argv) == 2
        lines = error_lines(capsys)
        assert len(lines) == 1 and "sweep.json is damaged" in lines[0] and problem in lines[0], lines
    (folder / "sweep.json").write_bytes(b"\xff\xfe")
    assert sweep_cli.main(["--status", str(folder)]) == 2
    assert "cannot read" in error_lines(capsys)[0]


@pytest.mark.slow
def test_cancelling_local_jobs_stops_them_with_or_without_setup_lines(tmp_path):
    """A local job gets its PYTHONPATH through the environment (no shell), and a setup shell's children are stopped
    too: cancel reaches the search either way."""
    import functools

    results = []
    pool = LocalPool(tmp_path / "ok", LocalOptions(pythonpath="/the/checkout"))
    pool.run([("env", functools.partial(os.getenv, "PYTHONPATH"))], lambda *args: None,
             lambda key, job: results.append(job.result()))
    assert results == ["/the/checkout"] and os.environ.get("PYTHONPATH") != "/the/checkout"
    for setup in ([], ["true"]):
        folder = tmp_path / f"setup{len(setup)}"
        pool = LocalPool(folder, LocalOptions(setup=setup, pythonpath=str(REPO_ROOT)))
        tasks = []

        def started(key, job_id, extra):
            tasks.append(_task_pid(folder))  # the job's search runs
            raise RuntimeError("the launcher fails")  # LocalPool.run then cancels its running jobs

        try:
            with pytest.raises(RuntimeError):
                pool.run([("sleep", functools.partial(time.sleep, 120))], started, lambda *args: None)
            deadline = time.monotonic() + 60
            while process_start(tasks[0]) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert process_start(tasks[0]) is None, f"setup {setup}: the job still runs"
        finally:
            if tasks and process_start(tasks[0]) is not None:  # a failed check leaves nothing running
                os.kill(tasks[0], signal.SIGKILL)


def test_a_start_that_finished_no_epoch_is_moved_aside_not_overwritten(tmp_path):
    job, search_job = one_job(tmp_path / "sw", epochs=1)
    out = tmp_path / "sw" / job.name
    out.mkdir(parents=True)
    (out / "config.json").write_text('{"epochs": 1, "note": "an earlier start"}')
    assert search_job() == 0
    assert json.loads((tmp_path / "sw" / ".restarted" / f"{job.name}-1" / "config.json").read_text())["note"]
    assert run_state(out).kind == DONE


# ---- status --------------------------------------------------------------------------------------------------------
def test_status_names_each_jobs_state_the_error_line_and_the_wandb_sync_command(tmp_path, capsys):
    folder = tmp_path / "sw"
    jobs, _ = plan_jobs(folder, parse_axes(["seed=0,1,2,3"]), tiny())
    sweep = Sweep(folder, {"seed": ["0", "1", "2", "3"]}, tiny(), jobs)
    submitit_folder = folder / ".submitit"
    submitit_folder.mkdir(parents=True)
    for job, metrics in zip(jobs, ['{"epoch": 0}\n{"epoch": 1}\n', '{"epoch": 0}\n', '{"epoch": 0}\n']):
        (folder / job.name).mkdir()
        (folder / job.name / "genotype.json").write_text(json.dumps({"epoch": metrics.count("\n") - 1}))
        (folder / job.name / "config.json").write_text('{"epochs": 2}')
        (folder / job.name / "metrics.jsonl").write_text(metrics)
        (folder / job.name / CHECKPOINT_FILE).write_bytes(b"")
        (folder / job.name / "wandb" / "offline-run-20250101_000000-x").mkdir(parents=True)
    jobs[0].add_submission("111", "local", start="0")  # ended, done
    jobs[1].add_submission(str(os.getpid()), "local", start=process_start(os.getpid()))  # this process: running
    jobs[2].add_submission("333", "local", start="0")  # ended with an error
    (submitit_folder / "333_0_outcome.json").write_text(json.dumps(  # the job's own outcome (never a pickle)
        {"outcome": "error", "message": "error: non-finite training loss in epoch 2"}))
    sweep.save()
    assert sweep_cli.main(["--status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "4 jobs: 1 done, 1 running, 1 failed, 1 not submitted" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("seed")}
    assert "done" in rows["seed0"] and "2/2 epochs" in rows["seed0"]
    assert "running" in rows["seed1"] and "epoch 2/2" in rows["seed1"]
    assert "failed" in rows["seed2"] and rows["seed2"].endswith("error: non-finite training loss in epoch 2")
    assert "not submitted" in rows["seed3"]
    assert f"wandb sync {folder}/*/wandb/offline-run-*" in out and "3 offline segments" in out
    assert f"python scripts/compare_runs.py {folder}/*/" in out
    # the status command starts without torch (import-linter cannot see what package __init__s load)
    code = "import sys; from darts_tse.cli.sweep import main; main(['--status', sys.argv[1]]); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "False", result.stderr
    # `compare_runs.py DIR/*` also matches sweep.json: one line pointing to DIR/*/
    assert compare_main([str(folder / "sweep.json")]) == 2
    assert f"pass its run directories: {folder}/*/" in error_lines(capsys)[-1]


def test_wandb_sweep_yaml_parameters_are_train_search_flags():
    """scripts/wandb_sweep.yaml runs `python train_search.py --NAME=VALUE ...` for each grid point: every parameter
    must be a flag taking a value, and every combination a valid search."""
    document = yaml.safe_load((REPO_ROOT / "scripts" / "wandb_sweep.yaml").read_text())
    assert (REPO_ROOT / document["program"]).is_file()
    options = {option.lstrip("-"): action for action in build_parser()._actions for option in action.option_strings}
    grid = {}
    for name, spec in document["parameters"].items():
        assert name in options and options[name].nargs != 0, f"{name} is not a train_search.py flag with a value"
        grid[name] = spec["values"] if "values" in spec else [spec["value"]]
    command = document["command"]
    assert command[:command.index("${args}")] == ["${env}", "python", "${program}"]
    extra = command[command.index("${args}") + 1:]  # flags after W&B's --NAME=VALUE ones
    assert {"method", "seed"} <= grid.keys() and grid["wandb"] == ["online"]
    for values in itertools.product(*grid.values()):
        argv = [f"--{name}={value}" for name, value in zip(grid, values)] + extra
        search_config(strict_parser(), argv).validate()


# ---- local executor, end to end ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_local_2x2_sweep_runs_to_completion_compare_runs_aggregates_it_and_a_rerun_skips_it(tmp_path, capsys):
    folder = tmp_path / "sw"
    command = ["--grid", "method=darts,darts-tse", "seed=0,1", "K=2", *tiny(), "--max-parallel", "2",
               "--out", str(folder)]
    assert sweep_cli.main(command) == 0
    out = capsys.readouterr().out
    assert "4 jobs: 4 done" in out
    sweep = load_sweep(folder)
    assert [job.name for job in sweep.jobs] == ["darts-seed0", "darts-seed1", "darts-tse-seed0", "darts-tse-seed1"]
    assert all(len(job.submissions) == 1 and job.submissions[0]["job_id"] for job in sweep.jobs)
    recorded = json.loads((folder / "sweep.json").read_text())
    assert recorded["grid"] == {"method": ["darts", "darts-tse"], "seed": ["0", "1"], "K": ["2"]}
    assert recorded["jobs"][3]["command"].endswith(f"--K 2 --out {folder / 'darts-tse-seed1'} --wandb-group "
                                                   f"darts-tse-K2 --wandb-tags sweep:sw")
    run_dirs = [path for path in sorted(folder.iterdir()) if path.is_dir() and not path.name.startswith(".")]
    assert [path.name for path in run_dirs] == [job.name for job in sweep.jobs]  # what the shell's sw/*/ lists
    groups = group_runs([load_run(path) for path in run_dirs])
    assert [(group.label, group.seeds) for group in groups] == [("darts", [0, 1]), ("darts-tse K=2", [0, 1])]
    assert compare_main([str(path) for path in run_dirs]) == 0
    table = capsys.readouterr().out
    assert "darts-tse K=2  2" in table and "darts          2" in table

    before = {path: path.stat().st_mtime_ns for run_dir in run_dirs for path in run_dir.iterdir()}
    assert sweep_cli.main(command) == 0  # the same command again: every job is done
    out = capsys.readouterr().out
    assert out.count("skip ") == 4 and "nothing to submit" in out
    assert all(len(job.submissions) == 1 for job in load_sweep(folder).jobs)
    assert {path: path.stat().st_mtime_ns for run_dir in run_dirs for path in run_dir.iterdir()} == before


def _task_pid(folder: Path, timeout: float = 60) -> int:
    """The pid of the process running a submitit job of `folder` (the search itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"submitit.core._submit" in cmdline and str(folder).encode() in cmdline:
                return int(proc.name)
        time.sleep(0.05)
    raise AssertionError("no running submitit job")


def _wait_for_rows(path: Path, rows: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().count("\n") >= rows:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no {rows} rows in {path}")


def _start_sweep(folder: Path, epochs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "scripts/sweep.py", "--grid", "method=darts-tse", "K=1", *tiny(epochs),
                             "--out", str(folder)], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_a_job_stopped_by_the_scheduler_is_requeued_by_submitit_and_resumes_exactly(tmp_path):
    folder = tmp_path / "sw"
    process = _start_sweep(folder, epochs=4)
    _wait_for_rows(folder / "darts-tse-K1" / "metrics.jsonl", 1, process)
    os.kill(_task_pid(folder), SCHEDULER_SIGNAL)  # SLURM's --signal=USR2@90 before the time limit, or a pre-emption
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    assert "1 jobs: 1 done" in stdout
    log = next((folder / ".submitit").glob("*_0_log.out")).read_text()
    assert "requeued; it continues from its checkpoint" in log and "resuming after" in log
    [job] = load_sweep(folder).jobs
    out = folder / job.name
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2, 3]
    assert final_alpha(out) == final_alpha(reference_run(job.argv, tmp_path / "reference"))
    genotypes = [json.loads(line)["alpha"] for line in (out / "genotypes.jsonl").read_text().splitlines()]
    reference = [json.loads(line)["alpha"] for line in (tmp_path / "reference" / "genotypes.jsonl").read_text().splitlines()]
    assert genotypes == reference


@pytest.mark.slow
def test_a_killed_job_is_reported_failed_and_resubmit_failed_continues_it_exactly(tmp_path, capsys):
    folder = tmp_path / "sw"
    process = _start_sweep(folder, epochs=4)
    _wait_for_rows(folder / "darts-tse-K1" / "metrics.jsonl", 1, process)
    os.kill(_task_pid(folder), signal.SIGKILL)  # out of memory, a node failure: nothing runs
    stdout, _ = process.communicate(timeout=300)
    assert process.returncode == 1 and "1 failed" in stdout
    [status] = sweep_status(load_sweep(folder))
    assert status.state == "failed" and "without a result" in status.detail
    assert sweep_cli.main(["--resubmit-failed", str(folder)]) == 2  # its flags come from sweep.json: shown, refused
    assert "job commands" in capsys.readouterr().err
    assert sweep_cli.main(["--resubmit-failed", str(folder), "--trust-run-files"]) == 0
    assert "1 jobs: 1 done" in capsys.readouterr().out
    [job] = load_sweep(folder).jobs
    assert len(job.submissions) == 2
    assert final_alpha(folder / job.name) == final_alpha(reference_run(job.argv, tmp_path / "reference"))


def test_local_jobs_get_one_gpu_each_and_gpus_come_from_cuda_visible_devices(tmp_path, monkeypatch):
    pool = LocalPool(tmp_path, LocalOptions(max_parallel=2, gpus=[2, 5]))
    parameters = [pool._executor(slot).parameters for slot in (0, 1)]
    assert [(p["visible_gpus"], p["gpus_per_node"]) for p in parameters] == [((2,), 1), ((5,), 1)]
    cpu = LocalPool(tmp_path, LocalOptions(max_parallel=2))._executor(1).parameters
    assert (cpu["visible_gpus"], cpu["gpus_per_node"]) == ((), 0)  # submitit then sets CUDA_VISIBLE_DEVICES=""
    with pytest.raises(SweepError, match="--max-parallel 3 needs as many GPUs"):
        LocalPool(tmp_path, LocalOptions(max_parallel=3, gpus=[0, 1]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert visible_gpus() == [1, 3]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f3a")
    with pytest.raises(SweepError, match="--gpus"):
        visible_gpus()


def test_several_local_jobs_may_share_a_gpu_when_asked(tmp_path, capsys):
    pool = LocalPool(tmp_path, LocalOptions(max_parallel=3, gpus=[4], jobs_per_gpu=3))
    assert [pool._executor(slot).parameters["visible_gpus"] for slot in range(3)] == [(4,), (4,), (4,)]
    two = LocalPool(tmp_path, LocalOptions(max_parallel=4, gpus=[0, 1], jobs_per_gpu=2))
    assert [two.gpu(slot) for slot in range(4)] == [0, 1, 0, 1]
    with pytest.raises(SweepError, match="--max-parallel 4 needs as many GPUs.*1 job\\(s\\) per GPU"):
        LocalPool(tmp_path, LocalOptions(max_parallel=4, gpus=[0, 1]))
    with pytest.raises(SweepError, match="--jobs-per-gpu must be >= 1"):
        LocalPool(tmp_path, LocalOptions(max_parallel=1, gpus=[0], jobs_per_gpu=0))
    assert sweep_cli.main(["--grid", "seed=0,1,2", "--out", str(tmp_path / "shared"), "--executor", "local", "--gpus",
                           "0", "--jobs-per-gpu", "3", "--dry-run", "--dataset", "synthetic"]) == 0
    assert "--executor local: 3 at a time, on GPU 0 (up to 3 jobs on each)" in capsys.readouterr().out
