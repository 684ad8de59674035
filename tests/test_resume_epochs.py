"""--resume --epochs N: a finished or interrupted run goes on to N epochs, its cosine re-planned from where it stands
(config.json says so); without --epochs a resume stays exact; the note for a TSE window longer than an epoch."""
import json
import math
from pathlib import Path

import pytest
import torch

from darts_tse.config import SearchConfig
from darts_tse.search import run_search
from darts_tse.search.checkpoint import load_checkpoint

from darts_tse.cli import search as search_cli
from darts_tse.search.schedule import window_note

from conftest import interrupt_at_epoch

TINY = dict(method="darts-tse", K=2, dataset="synthetic", synthetic_samples=32, synthetic_image_size=16, batch_size=8,
            C=4, N=1, threads=1, wandb="disabled", progress=False, device="cpu")


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def same_rows(a: list[dict], b: list[dict]) -> bool:
    drop = ("seconds",)
    return [{k: v for k, v in r.items() if k not in drop} for r in a] == \
        [{k: v for k, v in r.items() if k not in drop} for r in b]


def resume(out: Path, *flags: str) -> int:
    return search_cli.main(["--resume", "--out", str(out), "--no-progress", *flags])


def test_a_finished_run_is_extended_and_config_json_records_the_replan(tmp_path, capsys):
    out = tmp_path / "run"
    run_search(SearchConfig(out=str(out), epochs=2, **TINY), echo=lambda line: None)
    before = rows(out)
    assert resume(out) == 0 and "nothing to resume (to train more, add --epochs N with N > 2)" in capsys.readouterr().out
    assert resume(out, "--epochs", "4") == 0
    after = rows(out)
    assert [row["epoch"] for row in after] == [0, 1, 2, 3] and same_rows(after[:2], before)
    lr_min = SearchConfig().lr_min
    assert after[1]["lr"] > lr_min  # the lr an epoch trained with; after epoch 1 the 2-epoch cosine stands at lr_min
    assert after[2]["lr"] == pytest.approx(lr_min) and after[3]["lr"] == pytest.approx(lr_min)  # no jump back up
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 4
    assert config["segments"][-1]["first_epoch"] == 2 and config["segments"][-1]["epochs"] == {"from": 2, "to": 4}
    assert "cosine re-planned at epoch 2" in config["segments"][-1]["lr_schedule"]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 3


def test_an_interrupted_run_is_extended_on_a_cosine_from_its_current_lr(tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run_search(SearchConfig(out=str(out), epochs=4, **TINY), echo=lambda line: None)
    monkeypatch.undo()
    lr2 = load_checkpoint(out / "checkpoint.pt")["weight_optimizer"]["param_groups"][0]["lr"]  # epoch 2's, as planned
    assert resume(out, "--epochs", "6") == 0
    config = SearchConfig()
    lrs = [row["lr"] for row in rows(out)]
    assert len(lrs) == 6 and lrs[2] == pytest.approx(lr2)  # continuous: epoch 2 trains at the lr it was due
    for epoch in range(2, 6):  # then a cosine from there to lr_min at epoch 6
        expected = config.lr_min + (lr2 - config.lr_min) * (1 + math.cos(math.pi * (epoch - 2) / 4)) / 2
        assert lrs[epoch] == pytest.approx(expected, rel=1e-9)
    # a plain resume of the extended run later finds it finished: the re-planned schedule is the checkpoint's
    assert load_checkpoint(out / "checkpoint.pt")["config"]["epochs"] == 6


def test_an_interrupted_run_resumed_without_epochs_is_still_exact(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run_search(SearchConfig(out=str(reference), epochs=3, **TINY), echo=lambda line: None)
    out = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run_search(SearchConfig(out=str(out), epochs=3, **TINY), echo=lambda line: None)
    monkeypatch.undo()
    assert resume(out) == 0
    assert same_rows(rows(out), rows(reference))
    assert torch.equal(load_checkpoint(out / "checkpoint.pt")["model"]["alpha"],
                       load_checkpoint(reference / "checkpoint.pt")["model"]["alpha"])
    assert "epochs" not in json.loads((out / "config.json").read_text())["segments"][-1]  # nothing re-planned


def test_fewer_epochs_than_finished_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    run_search(SearchConfig(out=str(out), epochs=2, **TINY), echo=lambda line: None)
    before = (out / "checkpoint.pt").read_bytes()
    assert resume(out, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already finished 2 epochs (0..1); give --epochs 3 or more" in err
    assert (out / "checkpoint.pt").read_bytes() == before


def test_a_run_whose_cosine_ended_at_lr_0_is_not_extended(tmp_path, capsys):
    """lr_min 0 (the training protocols'): at the end the learning rate is 0, so extra epochs would not train; the
    finished run's hint and the refusal say to start a new run instead."""
    out = tmp_path / "run"
    run_search(SearchConfig(out=str(out), epochs=2, **TINY | dict(lr_min=0.0)), echo=lambda line: None)
    before = (out / "metrics.jsonl").read_bytes()
    assert resume(out) == 0 and "learning rate has reached 0: to train longer, start a new run" in capsys.readouterr().out
    assert resume(out, "--epochs", "4") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error:") and "would not train" in err[0], err
    assert (out / "metrics.jsonl").read_bytes() == before  # nothing trained, nothing rewritten


def test_a_tse_window_longer_than_an_epoch_gets_a_note():
    config = SearchConfig(epochs=1, **{**TINY, "K": 100})
    assert window_note(config, 4) == ("note: --K 100 exceeds the 4 training minibatches of an epoch: α takes one step "
                                      "per epoch, on the sum over those 4 (not 100); a smaller --K gives more α steps")
    assert window_note(SearchConfig(epochs=1, **{**TINY, "K": 4}), 4) is None
    assert window_note(SearchConfig(epochs=1, **{**TINY, "method": "darts", "K": 100}), 4) is None


def test_the_note_is_printed_once_by_a_run(tmp_path):
    lines = []
    run_search(SearchConfig(out=str(tmp_path / "run"), epochs=1, **{**TINY, "K": 100}), echo=lines.append)
    notes = [line for line in lines if line.startswith("note: --K 100")]
    assert notes == [notes[0]] and "the 2 training minibatches" in notes[0]  # 16 search-train images / batch 8
