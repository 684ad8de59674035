"""The reference's protocol switches: train_oneshot --preset tse-code and the per-step cosine (config.py,
search/loop.py)."""
import json
import math

import pytest
import torch

from darts_tse.cli import train_oneshot
from darts_tse.config import TSE_CODE_ONESHOT_PRESET, OneShotConfig
from darts_tse.search import run_search
from darts_tse.search.checkpoint import load_checkpoint
from darts_tse.search.loop import cosine_per_step

from conftest import interrupt_at_epoch


def test_the_tse_code_preset_sets_the_reference_supernet_and_a_given_flag_wins():
    config = OneShotConfig(preset="tse-code").resolve(set())
    assert (config.epochs, config.batch_size, config.lr, config.lr_min, config.momentum, config.nesterov,
            config.weight_decay, config.grad_clip, config.lr_schedule) == (100, 64, 0.025, 0.001, 0.9, True, 5e-4,
                                                                           None, "step")
    assert OneShotConfig(preset="tse-code", epochs=3).resolve({"epochs"}).epochs == 3
    assert OneShotConfig().resolve(set()) == OneShotConfig()
    assert all("rubinxin/TSE" in source for _, source in TSE_CODE_ONESHOT_PRESET.values())


def test_the_per_step_cosine_is_the_closed_form_of_epoch_plus_step_fraction():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.025)
    config = OneShotConfig(epochs=4, lr=0.025, lr_min=0.001)
    seen = []
    for _ in cosine_per_step(range(5), optimizer, config, epoch=1, total=5):
        seen.append(optimizer.param_groups[0]["lr"])
    expected = [0.001 + 0.024 * (1 + math.cos(math.pi * (1 + i / 5) / 4)) / 2 for i in range(5)]
    assert seen == expected and seen[0] > seen[-1]


def test_a_tse_code_run_records_its_settings_and_anneals_every_step(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--preset", "tse-code", "--epochs", "2", "--batch-size", "16", "--steps-per-epoch", "2", "--dataset",
            "synthetic", "--synthetic-samples", "64", "--synthetic-image-size", "8", "--C", "4", "--N", "1",
            "--probes", "1", "--threads", "1", "--wandb", "disabled", "--device", "cpu", "--no-progress", "--out",
            str(out)]
    assert train_oneshot.main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    config = config.get("config", config)
    assert config["preset"] == "tse-code" and config["lr_schedule"] == "step" and config["grad_clip"] is None
    assert config["epochs"] == 2 and config["batch_size"] == 16  # the flags given win
    lrs = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lrs[0] == 0.025 and lrs[1] == OneShotConfig(lr=0.025, lr_min=0.001).lr_min + 0.024 / 2


def test_a_per_step_schedule_resumes_exactly(tmp_path, monkeypatch):
    """Two epochs in one go equal one epoch, Ctrl-C, and a resume for the second (the lr is a function of the epoch
    and the step, and the scheduler's recursion restarts from the epoch's start value)."""
    tiny = dict(dataset="synthetic", synthetic_samples=64, synthetic_image_size=8, batch_size=16, C=4, N=1, epochs=2,
                threads=1, wandb="disabled", progress=False, device="cpu", probes=1, lr_schedule="step",
                grad_clip=None)
    run_search(OneShotConfig(**tiny, out=str(tmp_path / "whole")), echo=lambda line: None)
    part = OneShotConfig(**tiny, out=str(tmp_path / "part"))
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run_search(part, echo=lambda line: None)
    monkeypatch.undo()
    run_search(part, resume=True, echo=lambda line: None)
    whole, resumed = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("whole", "part"))
    assert all(torch.equal(whole["model"][k], resumed["model"][k]) for k in whole["model"])
    assert whole["weight_optimizer"]["param_groups"][0]["lr"] == resumed["weight_optimizer"]["param_groups"][0]["lr"]
