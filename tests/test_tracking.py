"""Tracking: the W&B sink (offline run files read back with W&B's protobuf records, disabled, failures) and its keys."""
import json
import logging
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import darts_tse.search.loop
from darts_tse.config import SearchConfig
from darts_tse.search import run_search
from darts_tse.search.checkpoint import load_checkpoint
from darts_tse.tracking import (
    UnknownWandbFormat,
    flatten_metrics,
    last_logged_step,
    new_wandb_id,
    read_payloads,
    read_records,
    resolve_wandb_mode,
)

from conftest import REPO_ROOT, interrupt_at_epoch

EXPECTED_KEYS = {"epoch", "supernet/train_loss", "supernet/train_acc", "supernet/valid_loss", "supernet/valid_acc",
                 "supernet/gap_loss", "supernet/gap_acc", "alpha/entropy", "alpha/skip_count", "alpha/steps",
                 "train/seconds", "nb201/index", "nb201/cifar10-valid/valid"}


def tiny_config(out: Path, **overrides) -> SearchConfig:
    values = dict(method="darts-tse", K=2, dataset="synthetic", synthetic_samples=32, synthetic_image_size=16,
                  batch_size=8, C=4, N=1, epochs=2, threads=1, progress=False, device="cpu", out=str(out),
                  wandb="offline")
    return SearchConfig(**{**values, **overrides})


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """W&B's own home folders in tmp_path, no WANDB_MODE, and a separate (checked) working directory."""
    for name in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    for name in ("WANDB_MODE", "WANDB_DIR", "WANDB_RUN_ID", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


# ---- reading W&B's offline files --------------------------------------------------------------------------------
def finished_run_records(folder: Path, patience_s: float = 60.0) -> list:
    """The records of the offline run in `folder` once W&B has flushed them (its writer is asynchronous and may lag
    behind run.finish() on a loaded machine): waits, bounded, until both the run and the exit record are there."""
    deadline = time.monotonic() + patience_s
    while True:
        records = segment_records(folder)
        if of_type(records, "run") and of_type(records, "exit"):
            return records
        assert time.monotonic() < deadline, f"W&B did not write the run and exit records of {folder} in {patience_s} s"
        time.sleep(0.2)


def segment_records(folder: Path) -> list:
    """The records of the offline run in `folder` as they are on disk now ([] before W&B created its file)."""
    path = next(folder.glob("run-*.wandb"), None)
    return [] if path is None else read_records(path)


def offline_runs(out: Path) -> list[Path]:
    """The offline run folders under out/wandb, oldest first."""
    return sorted((out / "wandb").glob("offline-run-*"))


def of_type(records, kind: str) -> list:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def history_rows(records) -> list[dict]:
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in history.item}
            for history in of_type(records, "history")]


# ---- the offline run --------------------------------------------------------------------------------------------
def test_offline_run_is_written_under_the_run_directory_with_the_logged_keys(tmp_path, wandb_env, capfd):
    out = tmp_path / "run"
    run_search(tiny_config(out, wandb_tags=["smoke", "cpu"]), echo=lambda line: None)
    assert list(wandb_env.iterdir()) == []  # nothing in the working directory
    (folder,) = offline_runs(out)
    records = finished_run_records(folder)

    (run,) = of_type(records, "run")
    assert run.run_id == load_checkpoint(out / "checkpoint.pt")["run_id"] and run.run_id.startswith("run-")
    assert run.project == "darts-tse" and run.run_group == "darts-tse" and list(run.tags) == ["smoke", "cpu"]
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["method"] == "darts-tse" and config["K"] == 2 and config["epochs"] == 2

    rows = history_rows(records)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    genotypes = [json.loads(line) for line in (out / "genotypes.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [0, 1] and [row["_step"] for row in rows] == [0, 1]
    for row, metric, genotype in zip(rows, metrics, genotypes):
        assert EXPECTED_KEYS <= row.keys()
        probabilities = {key: value for key, value in row.items() if key.startswith("alpha_probability/")}
        assert len(probabilities) == 30
        assert probabilities["alpha_probability/skip_connect/1<-0"] == genotype["probabilities"][0][1]
        assert probabilities["alpha_probability/avg_pool_3x3/3<-2"] == genotype["probabilities"][5][4]
        assert row["alpha/probabilities/_type"] == "table-file" and row["alpha/probabilities/nrows"] == 6
        assert row["nb201/cifar10-valid/valid"] == metric["nb201"]["cifar10"]["valid"]
        assert row["supernet/gap_loss"] == pytest.approx(metric["valid_loss"] - metric["train_loss"])
    assert [m.name or m.glob_name for m in of_type(records, "metric") if m.step_metric == "epoch"] == ["*"]
    tables = [json.loads(path.read_text()) for path in (folder / "files" / "media" / "table").rglob("*.table.json")]
    assert len(tables) == 2
    assert all(t["columns"] == ["edge", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
               and [row[0] for row in t["data"]] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"] for t in tables)
    final = json.loads((out / "genotype.json").read_text())["probabilities"]
    assert any([row[1:] for row in t["data"]] == final for t in tables)

    genotype = json.loads((out / "genotype.json").read_text())
    (artifact,) = [a for a in of_type(records, "artifact") if a.type == "genotype"]
    assert artifact.name == f"genotype-{run.run_id}"
    assert json.loads(artifact.metadata)["genotype"] == genotype["genotype"]
    assert {entry.path for entry in artifact.manifest.contents} == {"genotype.json", "genotypes.jsonl"}
    (exit_record,) = of_type(records, "exit")
    assert exit_record.exit_code == 0
    captured = capfd.readouterr()
    assert "wandb:" not in captured.out + captured.err  # no banner, history or summary flood


def test_interrupted_search_closes_its_wandb_run_and_the_resume_continues_it(tmp_path, wandb_env, monkeypatch):
    out = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 1)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_config(out), echo=lines.append)
    assert "--resume --out" in lines[-1]
    monkeypatch.undo()
    run_search(tiny_config(out), resume=True, echo=lines.append)

    first, second = (finished_run_records(folder) for folder in offline_runs(out))
    assert of_type(first, "exit")[0].exit_code == 130 and of_type(second, "exit")[0].exit_code == 0
    assert of_type(first, "run")[0].run_id == of_type(second, "run")[0].run_id  # one W&B run per search
    assert [(row["epoch"], row["_step"]) for row in history_rows(first)] == [(0, 0)]
    assert [(row["epoch"], row["_step"]) for row in history_rows(second)] == [(1, 1)]


def test_an_epoch_checkpointed_but_never_logged_reaches_wandb_on_resume(tmp_path, wandb_env, monkeypatch):
    out = tmp_path / "run"
    real_save = darts_tse.search.loop.save_checkpoint

    def save_then_die_on_second_epoch(path, state):
        real_save(path, state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt  # after the checkpoint, before any sink saw the epoch

    monkeypatch.setattr(darts_tse.search.loop, "save_checkpoint", save_then_die_on_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_config(out), echo=lambda line: None)
    monkeypatch.undo()
    run_search(tiny_config(out), resume=True, echo=lambda line: None)  # nothing left to train

    first, second = (finished_run_records(folder) for folder in offline_runs(out))
    assert [(row["epoch"], row["_step"]) for row in history_rows(first)] == [(0, 0)]
    assert [(row["epoch"], row["_step"]) for row in history_rows(second)] == [(1, 1)]  # epoch 0 is not repeated


@pytest.mark.parametrize("flag, env", [("disabled", None), ("offline", "disabled"), ("online", "disabled")])
def test_disabled_writes_nothing_wandb_related(tmp_path, wandb_env, monkeypatch, flag, env):
    if env:
        monkeypatch.setenv("WANDB_MODE", env)
    out = tmp_path / "run"
    run_search(tiny_config(out, wandb=flag, epochs=1), echo=lambda line: None)
    assert not (out / "wandb").exists() and list(wandb_env.iterdir()) == []
    assert not (tmp_path / "wandb-home").exists()
    assert (out / "metrics.jsonl").read_text().count("\n") == 1


def test_an_unknown_WANDB_MODE_is_ignored_not_fatal(tmp_path, wandb_env, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_MODE", "bogus")
    out = tmp_path / "run"
    run_search(tiny_config(out, epochs=1), echo=lambda line: None)
    assert "ignoring WANDB_MODE='bogus'" in caplog.text and "failed" not in caplog.text
    records = finished_run_records(offline_runs(out)[0])  # the --wandb offline run was written
    assert [row["epoch"] for row in history_rows(records)] == [0]
    assert os.environ["WANDB_MODE"] == "bogus"  # the user's environment is left as it was


def test_the_wandb_file_reader_keeps_only_complete_records(tmp_path, wandb_env):
    out = tmp_path / "run"
    run_search(tiny_config(out), echo=lambda line: None)
    finished_run_records(offline_runs(out)[0])
    path = next(offline_runs(out)[0].glob("run-*.wandb"))
    data = path.read_bytes()
    full = read_payloads(path)
    assert len(full) > 5 and last_logged_step(out / "wandb", path.stem[len("run-"):]) == 1
    torn = tmp_path / "torn.wandb"
    for size in list(range(0, len(data), max(1, len(data) // 97))) + [len(data)]:
        torn.write_bytes(data[:size])  # a writer killed after `size` bytes
        assert read_payloads(torn) == full[:len(read_payloads(torn))]
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # a damaged byte: everything before it, nothing after
    torn.write_bytes(bytes(flipped))
    assert 0 < len(read_payloads(torn)) < len(full) and read_payloads(torn) == full[:len(read_payloads(torn))]
    torn.write_bytes(b"PK\x03\x04 not a W&B log")
    with pytest.raises(UnknownWandbFormat):
        read_payloads(torn)


@pytest.mark.slow
def test_sigkill_then_resume_gives_wandb_every_epoch_exactly_once(tmp_path, wandb_env):
    """W&B's writer is buffered: a killed process may have flushed none of its epochs. The resume reads what the
    killed segment holds on disk and logs exactly the rest."""
    out = tmp_path / "run"
    config = tiny_config(out, epochs=3, synthetic_samples=64)
    command = [sys.executable, str(REPO_ROOT / "train_search.py"), "--method", config.method, "--K", "2",
               "--dataset", "synthetic", "--synthetic-samples", "64", "--synthetic-image-size", "16",
               "--batch-size", "8", "--C", "4", "--N", "1", "--epochs", "3", "--threads", "1", "--device", "cpu",
               "--no-progress", "--wandb", "offline", "--out", str(out)]
    # each process gets its own W&B service (an earlier in-process run leaves WANDB_SERVICE set for its children)
    env = {name: value for name, value in os.environ.items() if name != "WANDB_SERVICE"}
    process = subprocess.Popen(command, cwd=wandb_env, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 180
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() else "slow"
        time.sleep(0.01)
    process.kill()
    process.communicate()
    resumed = subprocess.run([sys.executable, str(REPO_ROOT / "train_search.py"), "--resume", "--out", str(out)],
                             cwd=wandb_env, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    segments = offline_runs(out)
    assert len(segments) == 2
    steps = [row["_step"] for row in history_rows(segment_records(segments[0]))]
    steps += [row["_step"] for row in history_rows(finished_run_records(segments[1]))]
    assert sorted(steps) == [0, 1, 2]


def test_resume_skips_the_epochs_an_earlier_segment_holds_on_disk(tmp_path, wandb_env, monkeypatch):
    """A process killed after W&B flushed epochs 0-1 (no clean close, so no marker): those are not logged again."""
    out = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_config(out, epochs=3), echo=lambda line: None)
    monkeypatch.undo()
    finished_run_records(offline_runs(out)[0])
    (out / "wandb" / "last_logged_epoch").unlink()  # as after a SIGKILL: only the segment file tells
    run_search(tiny_config(out, epochs=3), resume=True, echo=lambda line: None)
    first, second = (finished_run_records(folder) for folder in offline_runs(out))
    assert [row["_step"] for row in history_rows(first)] == [0, 1]
    assert [row["_step"] for row in history_rows(second)] == [2]
    assert (out / "wandb" / "last_logged_epoch").read_text() == "2\n"


# ---- failures ---------------------------------------------------------------------------------------------------
def failing_runs(tmp_path, caplog, **overrides) -> list[str]:
    """Run a 2-epoch search and return the W&B warnings it logged."""
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="darts_tse"):
        rows = run_search(tiny_config(out, **overrides), echo=lambda line: None)
    assert [row["epoch"] for row in rows] == [0, 1]
    assert (out / "metrics.jsonl").read_text().count("\n") == 2 and (out / "genotype.json").is_file()
    return [r.getMessage() for r in caplog.records if "Weights & Biases" in r.getMessage()]


def test_wandb_init_failure_warns_once_and_the_search_goes_on(tmp_path, wandb_env, monkeypatch, caplog):
    import wandb

    def no_network(*args, **kwargs):
        raise ConnectionError("wandb.ai unreachable\nsecond line")

    monkeypatch.setattr(wandb, "init", no_network)
    (warning,) = failing_runs(tmp_path, caplog)
    assert "init failed (ConnectionError: wandb.ai unreachable)" in warning and "\n" not in warning
    assert "local files only" in warning


def test_wandb_not_installed_warns_once(tmp_path, wandb_env, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    (warning,) = failing_runs(tmp_path, caplog)
    assert "import failed (ModuleNotFoundError" in warning


def test_wandb_logging_failure_warns_once_and_stops_logging(tmp_path, wandb_env, monkeypatch, caplog):
    calls = []

    class BrokenRun:
        dir = str(tmp_path)
        summary = {}

        def define_metric(self, *args, **kwargs):
            pass

        def log(self, *args, **kwargs):
            calls.append("log")
            raise OSError("disk full")

        def finish(self, *args, **kwargs):
            calls.append("finish")

    fake = types.SimpleNamespace(init=lambda **kwargs: BrokenRun(), Settings=lambda **kwargs: None,
                                 Table=lambda **kwargs: None)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    (warning,) = failing_runs(tmp_path, caplog)
    assert "logging failed (OSError: disk full)" in warning
    assert calls == ["log"]  # switched off after the failure


# ---- keys and modes ---------------------------------------------------------------------------------------------
def test_flatten_metrics_labels_nb201_numbers_by_dataset_and_split():
    record = {"epoch": 3, "train_loss": 1.0, "train_acc": 70.0, "valid_loss": 1.5, "valid_acc": 60.0, "tse_ema": 2.0,
              "alpha_entropy": 1.2, "skip_count": 2, "param_free_count": 3, "alpha_steps": 4, "steps": 400, "lr": 0.02,
              "seconds": 12.5, "nb201_index": 7,
              "nb201": {"cifar10": {"valid": 88.0, "test": 93.5}, "cifar100": {"valid": 70.0, "test": None},
                        "imagenet16-120": {"valid": 44.0, "test": 45.0}}}
    flat = flatten_metrics(record)
    assert flat["nb201/cifar10/test"] == 93.5 and flat["nb201/cifar10-valid/valid"] == 88.0
    assert flat["nb201/cifar100/valid"] == 70.0 and "nb201/cifar100/test" not in flat
    assert flat["nb201/imagenet16-120/test"] == 45.0
    assert flat["supernet/gap_loss"] == 0.5 and flat["supernet/gap_acc"] == 10.0
    assert flat["epoch"] == 3 and flat["alpha/steps"] == 4 and flat["train/seconds"] == 12.5


def test_wandb_mode_honours_WANDB_MODE():
    assert resolve_wandb_mode("offline", {}) == "offline"
    assert resolve_wandb_mode("offline", {"WANDB_MODE": "online"}) == "online"
    assert resolve_wandb_mode("online", {"WANDB_MODE": "dryrun"}) == "offline"
    assert resolve_wandb_mode("offline", {"WANDB_MODE": "disabled"}) == "disabled"
    assert resolve_wandb_mode("disabled", {"WANDB_MODE": "online"}) == "disabled"  # an explicit off wins
    assert resolve_wandb_mode("offline", {"WANDB_MODE": "bogus"}) == "offline"


def test_wandb_ids_are_unique_and_valid():
    ids = {new_wandb_id("darts-tse-K100-cifar10-seed0-20250101 12:00") for _ in range(20)}
    assert len(ids) == 20
    assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") for i in ids)
    assert all(i.startswith("darts-tse-K100-cifar10-seed0-20250101-12-00-") for i in ids)
