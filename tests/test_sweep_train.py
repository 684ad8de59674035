"""Sweeps of training runs (scripts/sweep.py --command train-genotype): the grid is checked with train_genotype.py's
parser and TrainConfig before anything runs, jobs are named by genotype and seed, a job resumes a training run from
its checkpoint, a local sweep of 2 cells x 2 seeds ends with every run done and compare_runs' table per genotype, a
re-run skips it, and a sweep.json written before sweeps recorded their command still reads as a sweep of searches."""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import interrupt_at_epoch
from darts_tse.cli import sweep as sweep_cli
from darts_tse.cli import train_genotype
from darts_tse.cli.compare_runs import main as compare_main
from darts_tse.cli.sweep_commands import SWEEP_COMMANDS, TRAIN_GENOTYPE
from darts_tse.cli.sweep_job import SweepJob
from darts_tse.cli.sweep_plan import plan_jobs, strict_parser
from darts_tse.space import Genotype
from darts_tse.sweeps import DONE, FRESH, RESUMABLE, STARTED, JobFailed, load_sweep, parse_axes, run_state

TINY = ["--dataset", "synthetic", "--synthetic-samples", "32", "--synthetic-image-size", "8", "--C", "4", "--N", "1",
        "--batch-size", "8", "--epochs", "2", "--steps-per-epoch", "1", "--wandb", "disabled", "--no-progress",
        "--threads", "1", "--device", "cpu"]
TRAIN = SWEEP_COMMANDS[TRAIN_GENOTYPE]


def train_config(argv: list[str]):
    return TRAIN.config(strict_parser(TRAIN), argv)


def sweep_flags(folder: Path, *grid: str) -> list[str]:
    return ["--command", "train-genotype", "--grid", *grid, *TINY, "--max-parallel", "2", "--out", str(folder)]


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_training_jobs_are_named_by_genotype_and_seed_grouped_per_cell_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("cell.json").write_text(json.dumps({"space": "nb201", "genotype": Genotype.from_index(87).to_str()}))
    jobs, notes = plan_jobs(tmp_path / "sw", parse_axes(["genotype=2066,cell.json", "seed=0,1"]),
                            [*TINY, "--protocol", "nb201"], TRAIN_GENOTYPE)
    assert [job.name for job in jobs] == ["genotype2066-seed0", "genotype2066-seed1", "genotypecell.json-seed0",
                                          "genotypecell.json-seed1"]
    configs = [train_config(job.argv).validate() for job in jobs]
    assert [config.genotype for config in configs] == [Genotype.from_index(2066).to_str()] * 2 + \
        [Genotype.from_index(87).to_str()] * 2
    assert [config.seed for config in configs] == [0, 1, 0, 1]
    argv = jobs[2].argv  # a genotype file travels as an absolute path; an index as typed
    assert argv[argv.index("--genotype") + 1] == str(tmp_path / "cell.json") and "--genotype 2066" in jobs[0].command
    assert [config.wandb_group for config in configs] == ["train-nb201-genotype2066"] * 2 + \
        ["train-nb201-genotypecell.json"] * 2  # a W&B group per cell, its seeds together
    assert configs[0].wandb_tags == ["sweep:sw"] and configs[0].out == str(tmp_path / "sw" / "genotype2066-seed0")
    assert notes == []
    Path("d.npz").touch()
    [job], _ = plan_jobs(tmp_path / "sw", parse_axes(["seed=0"]),
                         [*TINY, "--genotype", "2066", "--dataset", "npz", "--data-dir", "d.npz"], TRAIN_GENOTYPE)
    assert train_config(job.argv).data_dir == str(tmp_path / "d.npz")
    assert job.name == "seed0" and train_config(job.argv).wandb_group == "train-nb201"


def test_dry_run_names_train_genotype_py(tmp_path, capsys):
    folder = tmp_path / "sw"
    assert sweep_cli.main([*sweep_flags(folder, "genotype=2066,87", "seed=0,1"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 jobs in" in out and out.count("scripts/train_genotype.py ") == 4 and "train_search.py" not in out
    [line] = [line for line in out.splitlines() if line.startswith("genotype87-seed1 ")]
    assert line.split()[1:3] == ["python", "scripts/train_genotype.py"] and "--genotype 87 --seed 1" in line
    assert not folder.exists()


@pytest.mark.parametrize("grid, extra, expected", [
    (["method=darts,darts-tse"], ["--genotype", "2066"], "grid axis method is not a flag of train_genotype.py"),
    (["genotype=2066,99999"], [], "grid job genotype=99999: NB201 index 99999 is out of range"),
    (["genotype=2066,nonsense"], [], "grid job genotype=nonsense: cannot read a genotype from 'nonsense'"),
    (["genotype=2066,DARTS_V2"], ["--protocol", "nb201"], "grid job genotype=DARTS_V2: --protocol nb201 trains"),
    (["seed=0,1"], ["2066"], "'2066' is not a flag: in a sweep give the genotype as --genotype VALUE"),
    (["seed=0,1"], ["--genotype", "2066", "--resume"], "--resume is not a flag for the jobs"),
])
def test_a_bad_axis_or_genotype_is_one_line_before_anything_runs(tmp_path, capsys, grid, extra, expected):
    folder = tmp_path / "sw"
    assert sweep_cli.main([*sweep_flags(folder, *grid), *extra]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not folder.exists()  # nothing written, nothing submitted


def test_an_old_sweep_json_without_its_command_reads_as_a_sweep_of_searches(tmp_path, capsys):
    folder = tmp_path / "old"
    folder.mkdir()
    document = {"format": 1, "grid": {"seed": ["0"]}, "fixed": [], "executor": {}, "launcher": None,
                "jobs": [{"name": "seed0", "axes": {"seed": "0"}, "command": "python train_search.py --seed 0",
                          "argv": ["--seed", "0", "--out", str(folder / "seed0")], "submissions": []}]}
    (folder / "sweep.json").write_text(json.dumps(document))
    sweep = load_sweep(folder)
    assert sweep.command == "search" and sweep.jobs[0].command.startswith("python train_search.py --seed 0")
    assert sweep_cli.main(["--status", str(folder)]) == 0
    assert "seed0" in capsys.readouterr().out
    # a train-genotype grid into it is refused in one line, not mixed with its search jobs
    assert sweep_cli.main(sweep_flags(folder, "genotype=2066", "seed=0")) == 2
    assert "holds a sweep of search jobs, not train-genotype jobs" in capsys.readouterr().err
    sweep.save()  # saved again, it names its command
    assert json.loads((folder / "sweep.json").read_text())["command"] == "search"


def test_a_training_job_resumes_from_its_checkpoint_exactly_and_is_skipped_once_done(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "sw"
    [job], _ = plan_jobs(folder, parse_axes(["genotype=2066"]), [*TINY, "--epochs", "3"], TRAIN_GENOTYPE)
    train_job = SweepJob(job.name, job.argv, str(folder / ".restarted"), TRAIN_GENOTYPE)
    out = folder / job.name
    assert run_state(out).kind == FRESH
    interrupt_at_epoch(monkeypatch, 1)  # Ctrl-C in epoch 2: the checkpoint of epoch 1 is kept
    with pytest.raises(JobFailed, match="interrupted"):
        train_job()
    monkeypatch.undo()
    state = run_state(out)
    assert (state.kind, state.progress) == (RESUMABLE, "1/3 epochs")  # a training run's config.json plans 3
    assert train_job() == 0  # resumed: --genotype left to the checkpoint, which train_genotype.py insists on
    assert "resuming after 1/3 epochs" in capsys.readouterr().out
    assert run_state(out).kind == DONE
    reference = tmp_path / "reference"
    assert train_genotype.main([*TINY, "--epochs", "3", "--genotype", "2066", "--out", str(reference)]) == 0
    assert [row["train_loss"] for row in rows(out)] == [row["train_loss"] for row in rows(reference)]
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    assert train_job() == 0
    assert "already done" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before  # nothing rewritten
    # a start that finished no epoch (its config.json only) is set aside, not overwritten, and started again
    (out / "checkpoint.pt").unlink()
    (out / "metrics.jsonl").unlink()
    assert run_state(out).kind == STARTED
    assert train_job() == 0 and run_state(out).kind == DONE
    assert (folder / ".restarted" / f"{job.name}-1" / "config.json").is_file()


@pytest.mark.slow
def test_a_local_sweep_of_2_cells_x_2_seeds_ends_done_per_genotype_and_a_rerun_skips_it(tmp_path, capsys):
    folder = tmp_path / "sw"
    command = sweep_flags(folder, "genotype=2066,87", "seed=0,1")
    assert sweep_cli.main(command) == 0
    out = capsys.readouterr().out
    assert "4 jobs: 4 done" in out and "mean ± std over seeds per genotype" in out
    sweep = load_sweep(folder)
    assert sweep.command == "train-genotype"
    assert json.loads((folder / "sweep.json").read_text())["command"] == "train-genotype"
    run_dirs = sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert [path.name for path in run_dirs] == ["genotype2066-seed0", "genotype2066-seed1", "genotype87-seed0",
                                                "genotype87-seed1"]
    assert all(run_state(path).kind == DONE and len(rows(path)) == 2 for path in run_dirs)
    assert compare_main([str(path) for path in run_dirs]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(table) == 2  # one row per genotype, each over its 2 seeds
    for index, line in zip((2066, 87), table):
        cells = [cell.strip() for cell in line.replace("\\|", "/").split("|")]
        assert Genotype.from_index(index).to_str().replace("|", "/") in line.replace("\\|", "/")
        assert cells[5] == "2"  # seeds

    before = {path: path.stat().st_mtime_ns for run_dir in run_dirs for path in run_dir.iterdir()}
    assert sweep_cli.main(command) == 0  # the same command again: every job is done
    out = capsys.readouterr().out
    assert out.count("skip ") == 4 and "nothing to submit" in out
    assert sweep_cli.main(command[2:]) == 0  # without --command a re-run takes the sweep's own
    assert capsys.readouterr().out.count("skip ") == 4
    assert all(len(job.submissions) == 1 for job in load_sweep(folder).jobs)
    assert {path: path.stat().st_mtime_ns for run_dir in run_dirs for path in run_dir.iterdir()} == before


@pytest.mark.slow
def test_a_failed_training_job_is_reported_and_resubmit_failed_runs_it_once_trusted(tmp_path, capsys):
    data = tmp_path / "data.npz"
    data.write_bytes(b"not an npz yet")  # every job fails on it when it loads its data
    folder = tmp_path / "sw"
    flags = [*TINY, "--dataset", "npz", "--data-dir", str(data)]
    command = ["--command", "train-genotype", "--grid", "genotype=2066", "seed=0", *flags, "--out", str(folder)]
    assert sweep_cli.main(command) == 1
    capsys.readouterr()
    assert sweep_cli.main(["--status", str(folder)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("genotype2066-seed0 ")]
    assert line.split()[1] == "failed" and "error:" in line and str(data) in line  # the job's own one-line error
    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), y_train=np.arange(16) % 4,
             x_test=rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), y_test=np.arange(8) % 4)
    assert sweep_cli.main(["--resubmit-failed", str(folder)]) == 2  # its flags come from sweep.json: shown first
    err = capsys.readouterr().err
    assert "records job commands that would run as if you typed them: train_genotype.py " in err
    assert "--trust-run-files" in err and run_state(folder / "genotype2066-seed0").kind != DONE
    assert sweep_cli.main(["--resubmit-failed", str(folder), "--trust-run-files"]) == 0
    assert run_state(folder / "genotype2066-seed0").kind == DONE
    assert len(load_sweep(folder).jobs[0].submissions) == 2


def test_a_resume_leaves_the_genotype_to_the_checkpoint_however_the_flag_was_written():
    for flags in (["--genotype", "2066"], ["--genotype=2066"], ["--geno", "2066"]):
        assert TRAIN.resume_argv(["--C", "4", *flags, "--seed", "0"]) == ["--C", "4", "--seed", "0", "--resume"]
    search = SWEEP_COMMANDS["search"]
    assert search.resume_argv(["--method", "darts", "--seed", "0"]) == ["--method", "darts", "--seed", "0", "--resume"]
