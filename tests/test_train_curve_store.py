"""A curve store written from from-scratch training runs (export_nb201_curves.py --train-runs): it holds the runs'
curves exactly, the mean over seeds as the truth, no validation columns; query_search runs on it with the runs'
labels, refuses the validation fitnesses in one line; runs that mix settings or seeds are refused."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from conftest import load_script
from darts_tse.nb201.curves import CurveStoreError, load_curve_store
from darts_tse.nb201 import CurvesBenchmark
from darts_tse.space import Genotype

# four cells that differ only on edge 0: the store is a product of per-edge choices, so optuna's rs/tpe never miss
BASE = "|{}~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
CELLS = [BASE.format(op) for op in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")]
SEEDS = (0, 1)
TINY = ["--protocol", "nb201", "--dataset", "synthetic", "--synthetic-image-size", "8", "--synthetic-samples", "16",
        "--C", "4", "--N", "1", "--epochs", "2", "--batch-size", "8", "--steps-per-epoch", "1", "--threads", "1",
        "--wandb", "disabled", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Eight real training runs: 4 cells x 2 seeds, 2 epochs of one step each."""
    root = tmp_path_factory.mktemp("train-runs")
    train = load_script("train_genotype")
    for k, cell in enumerate(CELLS):
        for seed in SEEDS:
            assert train.main([cell, "--seed", str(seed), "--out", str(root / f"train-c{k}-s{seed}"), *TINY]) == 0
    return root


def _paths(root, pattern="train-*"):
    return [str(path) for path in sorted(root.glob(pattern))]


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _export(argv, capsys):
    code = load_script("export_nb201_curves").main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_the_store_holds_the_runs_curves_and_their_mean_final_test_accuracy(runs, tmp_path, capsys):
    code, out, _ = _export(["--train-runs", *_paths(runs), "--per-seed", "-o", str(tmp_path / "ours.npz")], capsys)
    assert code == 0 and "4 of 15,625" in out and "seeds 0, 1" in out
    store = load_curve_store(tmp_path / "ours.npz")
    assert store.from_training_runs and not store.has_validation and store.datasets == ("synthetic",)
    assert store.seeds == SEEDS and store.num_epochs == 2
    assert store.meta["settings"]["C"] == 4 and store.meta["settings"]["epochs"] == 2
    assert store.meta["data"]["dataset"] == "synthetic" and set(store.meta["data"]["sha256"]) == {"0", "1"}
    assert "test split" in store.meta["columns"]["final_test"]
    assert [machine["runs"] for machine in store.meta["machines"]] == [8] and store.meta["machines"][0]["threads"] == 1
    mean = store.curves("synthetic")
    for k, cell in enumerate(CELLS):
        row = store.row(Genotype.parse(cell).index)
        rows = {seed: _rows(runs / f"train-c{k}-s{seed}") for seed in SEEDS}
        losses = np.array([[r["train_loss"] for r in rows[s]] for s in SEEDS])
        seconds = np.array([[r["seconds"] for r in rows[s]] for s in SEEDS])
        finals = [rows[s][-1]["test_acc"] for s in SEEDS]
        assert mean.train_loss[row] == pytest.approx(losses.mean(axis=0), rel=1e-6)
        assert mean.epoch_time[row] == pytest.approx(seconds.mean(axis=0), rel=1e-6)
        assert mean.total_time[row] == pytest.approx(seconds.mean(axis=0).sum(), rel=1e-12)
        assert mean.final_test[row] == pytest.approx(sum(finals) / 2, rel=1e-12)  # the mean over the seeds
        for column in ("valid_loss", "valid_acc", "valtest_acc"):
            assert np.isnan(mean.column(column)[row]).all()  # no test curve under a validation name
        assert math.isnan(mean.final_valid[row])
        for i, seed in enumerate(SEEDS):  # each seed's own curve, exactly (float32)
            own = store.curves("synthetic", seed)
            assert (own.train_loss[row] == losses[i].astype(np.float32)).all()
            assert (own.epoch_time[row] == seconds[i].astype(np.float32)).all()
    with pytest.raises(CurveStoreError, match="not one of the training runs' seeds"):
        store.curves("synthetic", 777)
    with pytest.raises(CurveStoreError, match="not NB201's numbers"):
        CurvesBenchmark(tmp_path / "ours.npz")
    curve_set = store.curve_set("synthetic")
    assert "from-scratch runs' test accuracy" in curve_set.truth and "NB201" not in curve_set.truth
    # never overwritten unless asked
    code, _, err = _export(["--train-runs", *_paths(runs), "-o", str(tmp_path / "ours.npz")], capsys)
    assert code == 2 and len(err) == 1 and "--overwrite" in err[0]


def test_runs_that_mix_settings_or_seeds_are_refused_in_one_line(runs, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(runs / "train-c0-s0", mixed / "train-c0-s0")
    shutil.copytree(runs / "train-c1-s0", mixed / "train-c1-s0")
    config = json.loads((mixed / "train-c1-s0" / "config.json").read_text())
    (mixed / "train-c1-s0" / "config.json").write_text(json.dumps(config | {"lr": 0.05}))
    out = str(tmp_path / "x.npz")
    cases = [(_paths(mixed), "mix settings (lr 0.1 vs 0.05"),
             ([*_paths(runs, "train-c[12]-s*"), str(runs / "train-c3-s0")], "has the runs of seeds 0, another has 0, 1"),
             (_paths(runs, "train-c0-s0") * 2, "appear twice")]
    for paths, message in cases:
        code, _, err = _export(["--train-runs", *paths, "-o", out], capsys)
        assert code == 2 and len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    code, _, err = _export(["--train-runs", *_paths(runs), "--curve-epochs", "1", "-o", out], capsys)
    assert code == 2 and len(err) == 1 and "--curve-epochs apply to --nats" in err[0]
    assert not (tmp_path / "x.npz").exists()


@pytest.fixture(scope="module")
def store(runs, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "ours.npz"
    assert load_script("export_nb201_curves").main(["--train-runs", *_paths(runs), "-o", str(path), "-q"]) == 0
    return path


@pytest.mark.parametrize("algorithm", ["rs", "re", "tpe"])
def test_query_search_runs_on_the_store_with_the_runs_labels(store, runs, tmp_path, capsys, algorithm):
    query = load_script("query_search")
    extra = ["--population", "3", "--sample-size", "2"] if algorithm == "re" else []
    assert query.main(["--curves", str(store), "--algorithm", algorithm, "--fitness", "tse-ema", "--budget-epochs",
                       "2", "--max-queries", "6", "-o", str(tmp_path), "-q", *extra]) == 0
    run = tmp_path / f"query-synthetic-{algorithm}-tse-ema-T2-seed0"  # the store's own dataset, picked by itself
    config = json.loads((run / "config.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    for labels in (config["labels"], summary["labels"]):
        assert labels["test"].startswith("from-scratch runs' test accuracy (%) on synthetic")
        assert "NB201" not in labels["test"] and "no validation split" in labels["valid"]
    assert config["store"]["origin"] == "training runs" and "training runs" in config["fitness_definition"]
    assert "measured seconds" in config["clock"]
    loaded = load_curve_store(store)
    assert config["store"]["sha256"] == loaded.sha256
    mean = loaded.curves("synthetic")
    rows = [json.loads(line) for line in (run / "query.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:  # every query's cost and truth are the runs' own numbers
        r = loaded.row(row["index"])
        assert row["cost_s"] == pytest.approx(float(mean.epoch_time[r].astype(np.float64).sum()))
        assert row["test"] == pytest.approx(float(mean.final_test[r])) and math.isnan(row["valid"])
    assert config["optimum"]["test"] == pytest.approx(float(mean.final_test.max()))
    if algorithm == "re":  # the plot says whose numbers it draws
        from darts_tse.analysis import load_query_run
        assert load_script("plot_query").main([str(run), "-o", str(tmp_path / "q.png"), "-q"]) == 0
        loaded_run = load_query_run(run)
        assert loaded_run.data.startswith("synthetic") and "measured wall time" in loaded_run.clock
        assert "from-scratch training runs" in loaded_run.store


def test_validation_fitnesses_and_nb201_wallclock_are_refused_in_one_line(store, tmp_path, capsys):
    query = load_script("query_search")
    common = ["--curves", str(store), "-o", str(tmp_path), "-q"]
    cases = [(["--fitness", "val-acc", "--budget-epochs", "2", "--max-queries", "3"], "no validation split"),
             (["--fitness", "val-acc-final", "--max-queries", "3"], "no validation split"),
             (["--fitness", "tse-ema", "--wallclock", "paper"], "--wallclock paper is a budget in NB201"),
             (["--fitness", "tse-ema", "--budget-epochs", "3", "--max-queries", "3"], "keeps 2 epochs"),
             (["--nb201-dataset", "cifar10", "--budget-epochs", "2", "--max-queries", "3"], "not cifar10")]
    for argv, message in cases:
        assert query.main([*common, *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], (argv, err)
    assert not list(tmp_path.glob("query-*"))
    reproduce = load_script("reproduce")
    assert reproduce.main(["figure4", "--curves", str(store), "--out", str(tmp_path / "f4"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "from-scratch training runs" in err[0]
