"""Never lose a finished result, and give every bad input one line (issue 16's classes, each with a test): run
directories that hold results, failed starts, full disks, exact-resume conditions, seeds, benchmark tables, silent
no-ops, damaged run files in every reader, output paths, W&B, and checkpoints that would run code."""
import errno
import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import darts_tse.files
from darts_tse.cli import compare_runs, export_genotype, export_nb201_table, plot_alpha, plot_curves
from darts_tse.config import ConfigError, SearchConfig
from darts_tse.nb201 import BenchmarkError, load_benchmark
from darts_tse.nb201.table import TABLE_COLUMNS
from darts_tse.search import run_search
from darts_tse.search.checkpoint import load_checkpoint
from darts_tse.tracking import sync_command

from conftest import REPO_ROOT, interrupt_at_epoch

sys.path.insert(0, str(REPO_ROOT))
import train_search  # noqa: E402

TINY = ["--dataset", "synthetic", "--synthetic-samples", "32", "--synthetic-image-size", "8", "--batch-size", "8",
        "--C", "4", "--N", "1", "--K", "2", "--threads", "1", "--wandb", "disabled", "--device", "cpu",
        "--no-progress"]


def tiny(out, **overrides) -> SearchConfig:
    values = dict(method="darts-tse", K=2, dataset="synthetic", synthetic_samples=32, synthetic_image_size=8,
                  batch_size=8, C=4, N=1, epochs=2, threads=1, wandb="disabled", progress=False, device="cpu")
    return SearchConfig(**{**values, "out": str(out), **overrides})


def err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 2-epoch search (read-only use)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    run_search(tiny(out), echo=lambda line: None)
    return out


def copy_run(finished: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(finished, to)
    return to


# ---- 1. data loss -------------------------------------------------------------------------------------------------
def test_results_without_a_checkpoint_are_never_truncated(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    (run / "checkpoint.pt").unlink()  # deleted to save space
    (run / "notes.txt").write_text("mine")
    before = {name: (run / name).read_bytes() for name in ("metrics.jsonl", "genotypes.jsonl", "genotype.json",
                                                          "config.json")}
    assert train_search.main([*TINY, "--epochs", "2", "--out", str(run)]) == 2
    (err,) = err_lines(capsys)
    assert "already holds run files (config.json, metrics.jsonl, genotypes.jsonl, genotype.json)" in err
    assert "cannot be resumed" in err and "--overwrite" in err
    assert train_search.main(["--resume", "--out", str(run)]) == 2
    (err,) = err_lines(capsys)
    assert "no checkpoint" in err and "start it again without --resume" not in err and "new --out" in err
    assert {name: (run / name).read_bytes() for name in before} == before  # nothing was touched


def test_overwrite_removes_exactly_the_run_files_and_says_which(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    lines = []
    run_search(tiny(run, epochs=1), overwrite=True, echo=lines.append)
    assert lines[0].startswith(f"--overwrite: removed config.json, metrics.jsonl, genotypes.jsonl, genotype.json, "
                               f"checkpoint.pt, .checkpoint.pt.abc123.tmp from {run}")
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "metrics.jsonl").read_text().count("\n") == 1  # the new run's one epoch
    with pytest.raises(ConfigError, match="--resume continues a run and --overwrite starts it over"):
        run_search(tiny(run), resume=True, overwrite=True)


def test_overwrite_keeps_other_runs_in_a_shared_wandb_folder(tmp_path):
    out = tmp_path / "project"
    wandb = out / "wandb"
    ours, theirs = wandb / "offline-run-20260101_000000-project-1a2b3c4d", wandb / "offline-run-20260101_000000-other-9f"
    for folder in (ours, theirs):
        folder.mkdir(parents=True)
        (folder / "run.wandb").write_bytes(b"")
    (wandb / "last_logged_epoch").write_text("3\n")
    run_search(tiny(out, epochs=1), overwrite=True, echo=lambda line: None)
    assert theirs.is_dir() and not ours.exists() and not (wandb / "last_logged_epoch").exists()


# ---- 2. failed starts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, fragment", [
    (["--dataset", "cifar10", "--data-dir", "{tmp}/no-cifar"], "cifar10 not found"),
    (["--device", "mps"], "--device 'mps' is not supported"),
    (["--device", "meta"], "--device 'meta' is not supported"),
    (["--seed", "-1"], "--seed must be an integer in 0..4294967295"),
    (["--seed", str(2**32)], "--seed must be an integer in 0..4294967295"),
    (["--benchmark", "{tmp}/missing.csv"], "does not exist"),
])
def test_a_failed_start_leaves_no_directory(tmp_path, capsys, monkeypatch, flags, fragment):
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    out = tmp_path / "runs" / "new"
    argv = [*TINY, "--epochs", "1", *[f.format(tmp=tmp_path) for f in flags], "--out", str(out)]
    assert train_search.main(argv) == 2
    err = err_lines(capsys)
    assert len(err) == 1 and fragment in err[0], err
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_a_failure_in_the_first_epoch_removes_what_the_run_wrote(tmp_path, monkeypatch):
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    interrupt_at_epoch(monkeypatch, 0)
    for out in (tmp_path / "new", existing):
        with pytest.raises(KeyboardInterrupt):
            run_search(tiny(out), echo=lambda line: None)
    assert not (tmp_path / "new").exists()  # created by the run: removed
    assert sorted(p.name for p in existing.iterdir()) == [".lock", "notes.txt"]  # the user's folder and file stay


def test_readers_skip_a_directory_with_no_finished_epoch_with_a_note(finished, tmp_path, capsys):
    runs = tmp_path / "runs"
    copy_run(finished, runs / "done")
    (runs / "failed-start").mkdir()
    (runs / "failed-start" / ".lock").write_text("")
    (runs / "first-epoch").mkdir()
    (runs / "first-epoch" / "config.json").write_text("{}")
    (runs / "first-epoch" / "metrics.jsonl").write_text("")
    paths = sorted(str(p) for p in runs.iterdir())
    assert compare_runs.main(paths) == 0
    captured = capsys.readouterr()
    notes = captured.err.splitlines()
    assert len(notes) == 2 and all(line.startswith("skipping ") for line in notes)
    assert "darts-tse K=2" in captured.out
    assert compare_runs.main([str(runs / "failed-start")]) == 2
    assert "none of the 1 run directories given has a finished epoch" in capsys.readouterr().err


# ---- 3. a full disk -----------------------------------------------------------------------------------------------
def test_a_full_disk_is_one_line_saying_the_checkpoint_is_intact_and_how_to_resume(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > 8:  # a few files of epoch 0 get through, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(darts_tse.files.os, "fsync", fsync)
    assert train_search.main([*TINY, "--epochs", "3", "--out", str(out)]) == 2
    monkeypatch.undo()
    (err,) = err_lines(capsys)
    assert err.startswith(f"error: cannot write the run's files in {out}: No space left on device (ENOSPC)")
    saved = load_checkpoint(out / "checkpoint.pt")["epoch"]
    assert f"the checkpoint after epoch {saved} (0-based) is intact" in err
    assert err.endswith(f"continue with: python train_search.py --resume --out {out}")
    assert train_search.main(["--resume", "--out", str(out)]) == 0
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]


def test_a_read_only_run_directory_is_one_line_on_resume(finished, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only folders")
    run = copy_run(finished, tmp_path / "run")
    run.chmod(0o555)
    try:
        assert train_search.main(["--resume", "--out", str(run)]) == 2
    finally:
        run.chmod(0o755)
    assert "read-only" in err_lines(capsys)[0]


# ---- 4. reproducibility: what exact resume needs is recorded --------------------------------------------------
def test_threads_device_and_versions_are_recorded_and_a_change_is_warned_about(tmp_path, monkeypatch, caplog):
    out = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny(out, threads=1), echo=lambda line: None)
    monkeypatch.undo()
    environment = json.loads((out / "config.json").read_text())["environment"]
    assert environment["threads"] == 1 and environment["device_type"] == "cpu"
    assert environment["torch"] == str(torch.__version__) and environment["channels_last"] is True
    with caplog.at_level(logging.WARNING, logger="darts_tse"):
        run_search(tiny(out, threads=2), resume=True, echo=lambda line: None)
    assert "threads 1 -> 2" in caplog.text and "exact only with the same threads" in caplog.text
    segments = json.loads((out / "config.json").read_text())["segments"]
    assert [s["first_epoch"] for s in segments] == [0, 1] and segments[1]["environment"]["threads"] == 2
    torch.set_num_threads(2)


# ---- 6, 7. silent no-ops and wrong acceptances --------------------------------------------------------------------
@pytest.mark.parametrize("flags, fragment", [
    (["--synthetic-image-size", "10"], "must be a multiple of 4"),
    (["--threads", "100000"], "more than this machine's"),
    (["--C", "1", "--N", "100000"], "cells per stage is more than 100"),
    (["--arch-warmup-epochs", "2", "--epochs", "2"], "α would never take a step"),
    (["--grad-clip", "0"], "--grad-clip must be > 0, or none"),
    (["--out", ""], "--out is empty"),
    (["--C", "512", "--N", "5"], "make a supernet of 1,724,959,242 weights"),
    (["--synthetic-image-size", "1"], "--synthetic-image-size must be an integer in 4..1,024"),
])
def test_settings_that_would_do_nothing_or_hang_are_refused(tmp_path, capsys, flags, fragment):
    argv = [*TINY, "--epochs", "2", "--out", str(tmp_path / "run"), *flags]
    assert train_search.main(argv) == 2
    err = err_lines(capsys)
    assert len(err) == 1 and fragment in err[0], err


def test_a_header_only_table_is_refused_and_a_partial_one_warned_about(tmp_path, caplog, nb201_table):
    header_only = tmp_path / "empty.csv"
    header_only.write_text(",".join(TABLE_COLUMNS) + "\n")
    with pytest.raises(BenchmarkError, match="a header but no architecture"):
        load_benchmark(header_only)
    lines = nb201_table.read_text().splitlines()
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(lines[:101]) + "\n")
    with caplog.at_level(logging.WARNING):
        load_benchmark(partial)
    assert "holds 100 of the 15625 NB201 architectures (15525 missing)" in caplog.text


# ---- 8. damaged run files, in every reader ------------------------------------------------------------------------
DAMAGES = {
    "non-UTF-8": ("metrics.jsonl", b'{"epoch": 0, "genotype": "\xff\xfe"}\n', "is not UTF-8 text"),
    "a null row": ("metrics.jsonl", b"null\n" + b'{"epoch": 1}\n', "line 1 is not a row of an epoch"),
    "a string for a number": ("metrics.jsonl", b'{"epoch": 0, "train_loss": "low"}\n{"epoch": 1}\n',
                              "has train_loss = 'low', not a number"),
    "a repeated epoch": ("metrics.jsonl", b'{"epoch": 0}\n{"epoch": 0}\n{"epoch": 1}\n',
                         "epoch 0 appears twice (lines 1 and 2)"),
    "no genotype": ("genotypes.jsonl", b'{"epoch": 0, "probabilities": []}\n{"epoch": 1}\n',
                    "has no NB201 string under 'genotype'"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_run_files_are_one_line_in_every_reader(finished, tmp_path, capsys, damage):
    name, content, fragment = DAMAGES[damage]
    run = copy_run(finished, tmp_path / "run")
    (run / name).write_bytes(content)
    readers = [lambda: export_genotype.main([str(run)]), lambda: plot_alpha.main([str(run), "-o", str(tmp_path / "a.png")])]
    if name == "metrics.jsonl":
        readers += [lambda: compare_runs.main([str(run)]), lambda: plot_curves.main([str(run), "-o", str(tmp_path / "c.png")])]
    for reader in readers:
        assert reader() == 2
        err = err_lines(capsys)
        assert len(err) == 1 and fragment in err[0] and "Traceback" not in err[0], (damage, err)


# ---- 9. output paths ----------------------------------------------------------------------------------------------
def test_output_paths_are_checked_before_anything_is_written(finished, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for argv, fragment in (([str(finished), "-o", str(tmp_path)], "is a folder; give a file name"),
                           ([str(finished), "-o", str(tmp_path / "c.jpeg")], "must end in .png"),
                           ([str(finished), "-o", str(tmp_path / "afile" / "c.png")], "is not a writable folder")):
        assert plot_curves.main(argv) == 2
        err = err_lines(capsys)
        assert len(err) == 1 and fragment in err[0], err
    assert compare_runs.main([str(finished), "--out", str(tmp_path / "t.txt")]) == 2
    assert "must end in .json" in err_lines(capsys)[0]


def test_a_failed_table_export_leaves_no_partial_file(tmp_path, nats_fake_dir, monkeypatch, capsys):
    import darts_tse.nb201.export as export

    def broken_rows(*args, **kwargs):
        yield from ()
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(export, "_rows", broken_rows)
    assert export_nb201_table.main([str(nats_fake_dir), "-o", str(tmp_path / "t.csv"), "--no-progress"]) == 2
    assert "input/output error" in err_lines(capsys)[0]
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "t.csv").write_text("precious")
    monkeypatch.undo()
    assert export_nb201_table.main([str(nats_fake_dir), "-o", str(tmp_path / "t.csv"), "--no-progress"]) == 2
    assert "exists" in err_lines(capsys)[0] and (tmp_path / "t.csv").read_text() == "precious"


def test_a_closed_pipe_ends_the_nb201_query_quietly(nb201_table):
    command = f"{sys.executable} -m darts_tse.nb201 --benchmark {nb201_table} 6111 | head -c 10"
    result = subprocess.run(["bash", "-c", command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout == '{\n  "index' and "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


# ---- 10. W&B --------------------------------------------------------------------------------------------------
def test_the_sync_command_names_every_offline_segment(tmp_path):
    wandb_dir = tmp_path / "run" / "wandb"
    for stamp in ("20260101_000000-abc", "20260102_000000-abc"):
        segment = wandb_dir / f"offline-run-{stamp}"
        segment.mkdir(parents=True)
        (segment / "run-abc.wandb").write_bytes(b"")
    command = sync_command(tmp_path / "run", "abc")
    assert command == (f"wandb sync {wandb_dir}/offline-run-20260101_000000-abc "
                       f"{wandb_dir}/offline-run-20260102_000000-abc")


def test_online_without_a_network_falls_back_to_offline_files(tmp_path, monkeypatch, caplog):
    import wandb

    for name in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    real_init = wandb.init

    def init(*args, mode=None, **kwargs):
        if mode == "online":
            raise TimeoutError("wandb.ai unreachable")
        return real_init(*args, mode=mode, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="darts_tse"):
        run_search(tiny(out, epochs=1, wandb="online"), echo=lambda line: None)
    assert "online init failed (TimeoutError: wandb.ai unreachable); logging offline" in caplog.text
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert "upload it, every segment of it, with: wandb sync" in caplog.text


# ---- 11. checkpoints that would run code ----------------------------------------------------------------------
class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.target}",))


def test_a_checkpoint_from_a_newer_darts_tse_is_refused_in_one_line(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    state = load_checkpoint(run / "checkpoint.pt")
    torch.save({**state, "format": 99}, run / "checkpoint.pt")
    assert train_search.main(["--resume", "--out", str(run)]) == 2
    assert "format-99 checkpoint, written by a newer darts_tse" in err_lines(capsys)[0]


def test_a_checkpoint_carrying_code_is_refused_in_one_line_and_runs_nothing(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path / "run")
    _Payload.target = tmp_path / "pwned"
    state = {"config": {}, "payload": _Payload()}
    with open(run / "checkpoint.pt", "wb") as handle:
        pickle.dump(state, handle)  # torch.load reads legacy pickles too
    torch.save(state, run / "checkpoint.pt")
    assert train_search.main(["--resume", "--out", str(run)]) == 2
    (err,) = err_lines(capsys)
    assert "refused to load" in err and "could run code" in err and "GLOBAL posix.system" in err
    assert "weights_only` set to `False" not in err and "\x1b[" not in err
    assert not (tmp_path / "pwned").exists()
    from darts_tse.cli import rank_subnets

    assert rank_subnets.main([str(run), "--subnets", "2", "--B", "1"]) == 2
    assert "refused to load" in err_lines(capsys)[0] and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("command, argv", [
    ("search", ["--lr", "abc"]), ("train_oneshot", ["--sampler", "nope"]), ("compare_hvp", ["--xi", "inf"]),
    ("bench_search", ["--C", "x"]), ("compare_methods", ["--epoch", "-1"]), ("rank_subnets", ["--B", "x"]),
    ("query_search", ["--bogus"]), ("compare_runs", []),
])
def test_a_bad_flag_or_value_is_one_line_not_argparses_usage_block(command, argv, capsys):
    import importlib

    module = importlib.import_module(f"darts_tse.cli.{command}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--help lists the flags" in lines[0], lines


def test_an_existing_nb201_table_export_is_kept_unless_overwrite(tmp_path, capsys):
    """The export is refused before the source is read, and the user's file is left as it was."""
    table = tmp_path / "nb201_table.csv"
    table.write_text("mine\n")
    assert export_nb201_table.main([str(tmp_path / "no-source"), "-o", str(table), "--no-progress"]) == 2
    assert "exists already; choose a new name, or pass --overwrite" in capsys.readouterr().err
    assert table.read_text() == "mine\n"
    assert export_nb201_table.main([str(tmp_path / "no-source"), "-o", str(table), "--overwrite", "--no-progress"]) == 2
    assert "exists already" not in capsys.readouterr().err and table.read_text() == "mine\n"  # the source is missing
