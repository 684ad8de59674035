"""Checkpoints and --resume: a run killed mid-epoch (SIGKILL) or interrupted (SIGINT) and resumed ends exactly like an
uninterrupted one; mismatched flags are refused; a failed checkpoint write or a non-finite loss keeps the last good
checkpoint."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import darts_tse.search.loop
import darts_tse.training.step
from darts_tse.config import ConfigError, SearchConfig
from darts_tse.files import run_lock
from darts_tse.search import run_search
from darts_tse.search import RunWriteError
from darts_tse.search.checkpoint import load_checkpoint, save_checkpoint

from conftest import REPO_ROOT, interrupt_at_epoch, kill_in_second_epoch

sys.path.insert(0, str(REPO_ROOT))
import train_search  # noqa: E402

EPOCHS = 3
TINY = dict(K=3, dataset="synthetic", synthetic_samples=256, synthetic_image_size=16, batch_size=8, C=4, N=1,
            epochs=EPOCHS, threads=1, wandb="disabled", progress=False, device="cpu")


def tiny_config(out: Path, method: str, **overrides) -> SearchConfig:
    return SearchConfig(**{**TINY, "method": method, "out": str(out), **overrides})


def cli_args(config: SearchConfig) -> list[str]:
    """train_search.py flags reproducing `config` (the subset TINY sets)."""
    return ["--method", config.method, "--K", str(config.K), "--dataset", config.dataset,
            "--synthetic-samples", str(config.synthetic_samples), "--synthetic-image-size", str(config.synthetic_image_size),
            "--batch-size", str(config.batch_size), "--C", str(config.C), "--N", str(config.N),
            "--epochs", str(config.epochs), "--threads", str(config.threads), "--wandb", config.wandb,
            "--device", config.device, "--no-progress", "--out", str(config.out)]


def start(config: SearchConfig) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "train_search.py", *cli_args(config)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(process: subprocess.Popen, metrics: Path, rows: int, timeout: float = 120) -> None:
    """Poll metrics.jsonl until it holds `rows` complete lines (the epoch's checkpoint is written before its row)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metrics.is_file() and metrics.read_text().count("\n") >= rows:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before epoch {rows} finished: {process.communicate()}")
        time.sleep(0.005)
    process.kill()
    raise AssertionError(f"no {rows} metrics rows after {timeout} s")


def metric_rows(out: Path) -> list[dict]:
    """metrics.jsonl rows without the wall-clock `seconds`."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def final_alpha(out: Path) -> torch.Tensor:
    return load_checkpoint(out / "checkpoint.pt")["model"]["alpha"]


def assert_same_search(out: Path, reference: Path) -> None:
    assert torch.equal(final_alpha(out), final_alpha(reference))  # bit for bit
    assert json.loads((out / "genotype.json").read_text())["alpha"] == json.loads((reference / "genotype.json").read_text())["alpha"]
    rows = metric_rows(out)
    assert [row["epoch"] for row in rows] == list(range(EPOCHS))  # no duplicated or missing epoch
    assert rows == metric_rows(reference)
    genotypes = [json.loads(line)["epoch"] for line in (out / "genotypes.jsonl").read_text().splitlines()]
    assert genotypes == list(range(EPOCHS))


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    """Uninterrupted runs (in this process), by method, computed on first use."""
    root = tmp_path_factory.mktemp("reference")
    done: dict[str, Path] = {}

    def get(method: str) -> Path:
        if method not in done:
            run_search(tiny_config(root / method, method), echo=lambda line: None)
            done[method] = root / method
        return done[method]

    return get


# DARTS and DrNAS also carry the search-valid stream position; DrNAS draws a Dirichlet sample every forward.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["darts-tse", "darts", "drnas"])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, reference_runs, method):
    config = tiny_config(tmp_path / "run", method)
    kill_in_second_epoch([sys.executable, "train_search.py", *cli_args(config)], config.out)
    assert 1 <= load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] + 1 < EPOCHS

    # the README's command: every setting not given comes from the checkpoint
    result = subprocess.run([sys.executable, "train_search.py", "--resume", "--out", config.out], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    assert_same_search(tmp_path / "run", reference_runs(method))


@pytest.mark.slow
def test_sigint_exits_130_with_one_line_and_the_run_resumes(tmp_path, reference_runs, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse")
    process = start(config)
    wait_for_rows(process, tmp_path / "run" / "metrics.jsonl", 1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    hints = [line for line in stdout.splitlines() if line.startswith("interrupted")]
    assert len(hints) == 1 and f"--resume --out {config.out}" in hints[0]
    kept = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] + 1
    assert f"the checkpoint after epoch {kept - 1} (0-based; {kept} of {EPOCHS} epochs finished)" in hints[0]

    assert train_search.main(["--resume", "--out", config.out]) == 0
    assert_same_search(tmp_path / "run", reference_runs("darts-tse"))


@pytest.mark.slow
def test_sigterm_exits_143_with_one_line_and_keeps_the_finished_epoch(tmp_path):
    config = tiny_config(tmp_path / "run", "darts-tse")
    process = start(config)
    wait_for_rows(process, tmp_path / "run" / "metrics.jsonl", 1)
    process.send_signal(signal.SIGTERM)  # a pre-empted cluster job
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert len([line for line in stdout.splitlines() if line.startswith("interrupted")]) == 1
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] >= 0


def test_resume_with_different_search_flags_is_refused_in_one_line(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse", epochs=1, synthetic_samples=32)
    run_search(config, echo=lambda line: None)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    code = train_search.main([*cli_args(config), "--resume", "--lr", "0.05", "--K", "5"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1
    assert "--resume refused" in err[0] and "--lr: 0.025 -> 0.05" in err[0] and "--K: 3 -> 5" in err[0]
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    # settings that do not change the search may differ (here the run has nothing left to do)
    assert train_search.main([*cli_args(config), "--resume", "--threads", "2", "--device", "auto"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_interrupted_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 0, "alpha": torch.arange(30.0).view(6, 5)})
    real_save = torch.save

    def broken_save(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)
        handle.truncate(handle.tell() // 2)  # half the data is on disk ...
        raise OSError("No space left on device")  # ... when the write fails

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"epoch": 1, "alpha": torch.zeros(6, 5)})
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert state["epoch"] == 0 and torch.equal(state["alpha"], torch.arange(30.0).view(6, 5))
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # no temporary file left behind


def test_failed_checkpoint_write_in_a_search_keeps_the_last_epoch_and_resumes(tmp_path, monkeypatch, reference_runs):
    config = tiny_config(tmp_path / "run", "darts-tse")
    real_save, calls = torch.save, []

    def save_fails_on_second_epoch(obj, handle, *args, **kwargs):
        calls.append(1)
        real_save(obj, handle, *args, **kwargs)
        if len(calls) == 2:
            handle.truncate(100)
            raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_fails_on_second_epoch)
    with pytest.raises(RunWriteError, match=r"No space left on device; the checkpoint after epoch 0 \(0-based\) is intact"):
        run_search(config, echo=lambda line: None)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 0
    run_search(config, resume=True, echo=lambda line: None)
    assert_same_search(tmp_path / "run", reference_runs("darts-tse"))


def test_non_finite_loss_stops_with_one_line_naming_epoch_and_step(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse", synthetic_samples=32)  # 2 steps an epoch
    real_loss, calls = darts_tse.training.step.classification_loss, []

    def loss_diverges_in_second_epoch(*args, **kwargs):
        loss, logits = real_loss(*args, **kwargs)
        calls.append(1)
        return (loss * float("nan"), logits) if len(calls) > 2 else (loss, logits)

    monkeypatch.setattr(darts_tse.training.step, "classification_loss", loss_diverges_in_second_epoch)
    assert train_search.main(cli_args(config)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1].startswith("error: non-finite training loss in epoch 1 (0-based), detected at step 2"), err
    assert f"the checkpoint after epoch 0 (0-based; 1 of {EPOCHS} epochs finished)" in err[-1] and "Traceback" not in "".join(err)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 0
    assert [row["epoch"] for row in metric_rows(tmp_path / "run")] == [0]


def test_divergence_in_the_first_epoch_says_nothing_was_saved(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", "darts", synthetic_samples=32, epochs=1)
    assert train_search.main([*cli_args(config), "--lr", "1e9", "--lr-min", "0", "--grad-clip", "none"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: non-finite") and "epoch 0 (0-based)" in err and "nothing of" in err
    assert not (tmp_path / "run").exists()  # the failed start removed the directory it created
    assert train_search.main([*cli_args(config), "--resume"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_death_between_the_last_checkpoint_and_its_log_lines_is_repaired_by_resume(tmp_path, monkeypatch, reference_runs):
    """The final epoch's checkpoint is on disk but its rows never reached the files: --resume writes them."""
    config = tiny_config(tmp_path / "run", "darts-tse")
    real_save = darts_tse.search.loop.save_checkpoint

    def save_then_die_on_last_epoch(path, state):
        real_save(path, state)
        if state["epoch"] == EPOCHS - 1:
            raise KeyboardInterrupt  # as a SIGTERM/SIGINT landing right after the write

    monkeypatch.setattr(darts_tse.search.loop, "save_checkpoint", save_then_die_on_last_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, echo=lambda line: None)
    monkeypatch.undo()
    assert [row["epoch"] for row in metric_rows(tmp_path / "run")] == list(range(EPOCHS - 1))
    lines = []
    run_search(config, resume=True, echo=lines.append)
    assert "already finished" in lines[0]
    assert_same_search(tmp_path / "run", reference_runs("darts-tse"))
    assert json.loads((tmp_path / "run" / "genotype.json").read_text())["epoch"] == EPOCHS - 1


def test_a_second_writer_of_the_same_run_directory_is_refused(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse", epochs=1, synthetic_samples=32)
    with run_lock(tmp_path / "run"):  # as another process holding the directory
        assert train_search.main(cli_args(config)) == 2
        err = capsys.readouterr().err.splitlines()[-1]
        assert err.startswith("error: another run is writing to") and "--out" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert train_search.main(cli_args(config)) == 0  # the lock is released with its holder


def test_run_files_get_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        run_search(tiny_config(tmp_path / "run", "darts-tse", epochs=1, synthetic_samples=32), echo=lambda line: None)
    finally:
        os.umask(previous)
    for name in ("checkpoint.pt", "config.json", "metrics.jsonl", "genotypes.jsonl", "genotype.json"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_resume_from_a_foreign_checkpoint_is_one_line(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse", epochs=1, synthetic_samples=32)
    (tmp_path / "run").mkdir()
    torch.save({"state_dict": {}}, tmp_path / "run" / "checkpoint.pt")
    assert train_search.main([*cli_args(config), "--resume"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error:") and "is not a checkpoint of darts_tse" in err and "config" in err


def test_resume_takes_unnamed_settings_from_the_checkpoint_and_keeps_its_benchmark(tmp_path, caplog, nb201_table):
    table = nb201_table
    config = tiny_config(tmp_path / "run", "drnas", epochs=1, synthetic_samples=32, nesterov=False, order=2,
                         benchmark=str(table))
    run_search(config, echo=lambda line: None)
    resumed = darts_tse.search.resumed_config(config.out, {"threads": 2})
    assert resumed.to_dict() == {**config.to_dict(), "threads": 2}  # benchmark included: no silent change of source
    run_search(darts_tse.search.resumed_config(config.out, {"benchmark": None}), resume=True, echo=lambda line: None)
    assert f"came from --benchmark {table}" in caplog.text
    # a switch that differs is named the way the command line spells it
    with pytest.raises(ConfigError, match=r"--\[no-\]nesterov: False -> True"):
        run_search(darts_tse.search.resumed_config(config.out, {"nesterov": True}), resume=True)


def test_interrupted_in_the_first_epoch_says_start_again(tmp_path, monkeypatch):
    interrupt_at_epoch(monkeypatch, 0)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_config(tmp_path / "run", "darts-tse"), echo=lines.append)
    assert lines[-1].startswith("interrupted before epoch 0 finished: nothing was kept")
    assert "--resume --out" not in lines[-1] and not (tmp_path / "run").exists()


def test_resume_of_a_run_still_in_its_first_epoch_names_the_lock(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse", epochs=1, synthetic_samples=32)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")  # what a search writes before its first epoch
    with run_lock(tmp_path / "run"):
        assert train_search.main(["--resume", "--out", config.out]) == 2
    assert "another run is writing to" in capsys.readouterr().err


def test_out_below_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    config = tiny_config(tmp_path / "afile" / "sub", "darts-tse", epochs=1, synthetic_samples=32)
    assert train_search.main(cli_args(config)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot create --out") and "writable directory" in err[0]


def test_temporaries_left_by_a_killed_write_are_removed_on_resume(tmp_path, monkeypatch):
    run = tmp_path / "run"
    config = tiny_config(run, "darts-tse", epochs=2, synthetic_samples=32)
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, echo=lambda line: None)
    monkeypatch.undo()
    (run / "wandb").mkdir(exist_ok=True)
    stale = [run / ".checkpoint.pt.k3j2h1g0.tmp", run / "wandb" / ".last_logged_epoch.abcd1234.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    (run / ".notes.tmp").write_text("a user's file, not a run file's temporary")
    run_search(config, resume=True, echo=lambda line: None)
    assert not any(path.exists() for path in stale)
    assert (run / ".notes.tmp").read_text().startswith("a user's file")


def test_a_hand_edited_checkpoint_is_one_line(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", "darts-tse", epochs=2, synthetic_samples=32)
    run_search(tiny_config(tmp_path / "run", "darts-tse", epochs=1, synthetic_samples=32), echo=lambda line: None)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    state["config"]["epochs"] = 2
    state["model"]["alpha"] = torch.zeros(7, 5)  # a shape the supernet does not have
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    assert train_search.main(["--resume", "--out", config.out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match this run" in err[0] and "alpha" in err[0]
