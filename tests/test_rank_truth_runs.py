"""scripts/rank_subnets.py --truth-runs: the one-shot ranking judged against from-scratch training runs of its cells
(train_genotype.py), the benchmark kept beside it, the subnetworks' trace cache of the same ranking reused unchanged,
and one-line errors for too few cells with runs and for runs that mix settings."""
from __future__ import annotations

import csv
import json
import statistics

import pytest

from conftest import load_script
from darts_tse.analysis import load_runs
from darts_tse.analysis.train_runs import training_truth
from darts_tse.cli import rank_subnets
from darts_tse.config import OneShotConfig, TrainConfig
from darts_tse.estimators import spearman
from darts_tse.ranking import SubnetFinetuner, sample_subnets
from darts_tse.search import run_search

SUPERNET = dict(dataset="synthetic", synthetic_samples=96, synthetic_image_size=8, batch_size=16, C=4, N=1, epochs=1,
                threads=1, wandb="disabled", progress=False, device="cpu", probes=4, sampler="random")
TRAIN = ["--dataset", "synthetic", "--synthetic-samples", "48", "--synthetic-image-size", "8", "--C", "4", "--N", "1",
         "--batch-size", "16", "--epochs", "2", "--steps-per-epoch", "1", "--threads", "1", "--device", "cpu",
         "--wandb", "disabled", "--no-progress"]
SUBNETS = 6
TRAINED = 4  # the first 4 of the 6 subnetworks have training runs, 2 seeds each


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth_runs")
    run_search(OneShotConfig(**SUPERNET, out=str(root / "supernet")), echo=lambda line: None)
    cells = [g.to_str() for g in sample_subnets(SUBNETS, 0)]
    train = load_script("train_genotype")
    for k, cell in enumerate(cells[:TRAINED]):
        for seed in (0, 1):
            assert train.main([cell, "--seed", str(seed), "--out", str(root / "train" / f"c{k}-s{seed}"), *TRAIN]) == 0
    return root, cells


def _argv(root, table) -> list[str]:
    return [str(root / "supernet"), "--subnets", str(SUBNETS), "--B", "1", "2", "--valid-batches", "1",
            "--benchmark", str(table), "--no-zero-cost", "--no-progress"]


def _last_test_acc(run_dir) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return rows[-1]["test_acc"]


def test_the_truth_is_the_runs_mean_final_test_accuracy_and_the_cache_is_reused(study, nb201_table, tmp_path,
                                                                                 monkeypatch, capsys):
    root, cells = study
    assert rank_subnets.main([*_argv(root, nb201_table), "--out", str(tmp_path / "plain.json")]) == 0
    plain = json.loads((tmp_path / "plain.json").read_text())["runs"][0]
    cache_dirs = sorted((root / "supernet" / "subnet_rankings").iterdir())
    traces = (plain_cache := next(d for d in cache_dirs if str(d) == plain["cache"])) / "traces.jsonl"
    before = traces.read_bytes()
    capsys.readouterr()

    def no_training(self, genotype):
        raise AssertionError("a trace was computed again: --truth-runs changed the cache")

    monkeypatch.setattr(SubnetFinetuner, "run", no_training)
    out = {"json": tmp_path / "r.json", "csv": tmp_path / "r.csv"}
    assert rank_subnets.main([*_argv(root, nb201_table), "--truth-runs", str(root / "train"), "--out",
                              str(out["json"]), "--csv", str(out["csv"])]) == 0
    captured = capsys.readouterr()
    # the same cache, unchanged: zero new traces
    assert sorted((root / "supernet" / "subnet_rankings").iterdir()) == cache_dirs
    assert traces.read_bytes() == before and f"{SUBNETS} of {SUBNETS} subnetworks already trained" in captured.out
    run = json.loads(out["json"].read_text())["runs"][0]
    assert run["cache"] == str(plain_cache) and run["settings"] == plain["settings"]

    # the truth: each cell's mean over its seeds of the last test_acc in metrics.jsonl, read here independently
    expected = {cells[k]: statistics.fmean(_last_test_acc(root / "train" / f"c{k}-s{seed}") for seed in (0, 1))
                for k in range(TRAINED)}
    rows = {row["genotype"]: row for row in run["subnets"]}
    assert [g for g, row in rows.items() if row["truth"] is None] == cells[TRAINED:]
    for cell, accuracy in expected.items():
        assert rows[cell]["truth"] == pytest.approx(accuracy) and rows[cell]["truth_seeds"] == 2
    for row in plain["subnets"]:  # the benchmark's numbers stay, per subnetwork
        assert rows[row["genotype"]]["benchmark_truth"] == row["truth"]

    # ρ against the runs' truth, on the cells that have one; the benchmark's ρ on the same cells
    ranked = [rows[cell] for cell in cells[:TRAINED]]
    tse = [-row["estimates"]["2"]["TSE"] for row in ranked]
    assert run["table"]["TSE"]["2"]["spearman"] == pytest.approx(spearman(tse, [r["truth"] for r in ranked]))
    assert run["table"]["TSE"]["2"]["subnets"] == TRAINED
    assert run["benchmark_table"]["TSE"]["2"]["spearman"] == pytest.approx(
        spearman(tse, [r["benchmark_truth"] for r in ranked]))
    agreement = spearman([r["truth"] for r in ranked], [r["benchmark_truth"] for r in ranked])
    assert run["truth_runs"]["spearman_with_benchmark"] == pytest.approx(agreement)

    report = captured.out
    assert ("truth: from-scratch training runs: mean final test accuracy (%) over 2 seeds, test split of synthetic"
            in report and "C=4 N=1, 2 epochs, batch 16, protocol nb201; final = epoch 1 (0-based)" in report)
    assert "the same 4 subnetworks against the benchmark:\ntruth: NB201 cifar10 test accuracy" in report
    assert report.count("run: ") == 1 and report.count("ρ B=1") == 2  # the second table: truth line and table only
    assert f"with NB201 cifar10 test accuracy = {agreement:+.3f}" in report
    assert f"ranked: the {TRAINED} subnetworks that have training runs; 2 have none" in report
    assert "4 of 6 subnetworks have training runs" in captured.err
    lines = list(csv.reader(out["csv"].open()))
    header = lines[0]
    assert {"runs_test_acc", "nb201_cifar10_test", "truth_seeds"} <= set(header) and len(lines) == SUBNETS + 1
    by_genotype = {line[1]: dict(zip(header, line)) for line in lines[1:]}
    assert float(by_genotype[cells[0]]["runs_test_acc"]) == pytest.approx(expected[cells[0]])
    assert float(by_genotype[cells[5]]["nb201_cifar10_test"]) == pytest.approx(rows[cells[5]]["benchmark_truth"])


def test_fewer_than_three_cells_with_runs_is_a_one_line_error(study, nb201_table, capsys):
    root, _ = study
    two = [str(root / "train" / f"c{k}-s{seed}") for k in range(2) for seed in (0, 1)]
    assert rank_subnets.main([*_argv(root, nb201_table), "--truth-runs", *two]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: only 2 of the 6 ranked subnetworks have training runs")


def test_runs_that_mix_settings_are_refused_in_one_line(study, nb201_table, tmp_path, capsys):
    root, cells = study
    other = tmp_path / "other-lr"
    assert load_script("train_genotype").main([cells[0], "--seed", "2", "--lr", "0.05", "--out", str(other),
                                               *TRAIN]) == 0
    for extra, message in (([str(other)], "the training runs mix settings (lr: 0.1 vs 0.05)"),
                           ([str(root / "supernet")], "is not a training run")):
        capsys.readouterr()
        assert rank_subnets.main([*_argv(root, nb201_table), "--truth-runs", str(root / "train"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err


def test_several_supernets_give_mean_and_std_against_both_truths(study, nb201_table, tmp_path, capsys):
    root, _ = study
    second = tmp_path / "supernet-seed1"
    run_search(OneShotConfig(**{**SUPERNET, "seed": 1}, out=str(second)), echo=lambda line: None)
    argv = [str(root / "supernet"), str(second), *_argv(root, nb201_table)[1:], "--truth-runs", str(root / "train"), "--out",
            str(tmp_path / "two.json")]
    assert rank_subnets.main(argv) == 0
    report = capsys.readouterr().out
    assert report.count("numbers: mean ± sample std over the 2 runs (supernet seeds)") == 2
    document = json.loads((tmp_path / "two.json").read_text())
    tables = [run["table"]["TSE"]["2"]["spearman"] for run in document["runs"]]
    assert document["mean_over_runs"]["TSE"]["2"]["spearman"]["mean"] == pytest.approx(statistics.fmean(tables))
    benchmark = [run["benchmark_table"]["TSE"]["2"]["spearman"] for run in document["runs"]]
    mean = statistics.fmean(benchmark)
    assert f"{mean:.3f} ± {statistics.stdev(benchmark):.3f}" in report.split("against the benchmark:")[1]


def _written_run(path, genotype, seed, accs, epochs=3):
    """A training run's config.json and metrics.jsonl as train_genotype writes them (the test accuracy per epoch)."""
    path.mkdir(parents=True)
    config = TrainConfig(genotype=genotype, dataset="npz", data_dir="x.npz", seed=seed, protocol="nb201", C=8, N=1,
                         batch_size=32, epochs=epochs).to_dict()
    record = {"sha256": "d", "source": "/data/x.npz", "test_images": 1017}
    (path / "config.json").write_text(json.dumps(config | {"data": record}))
    rows = [{"epoch": e, "train_loss": 1.0, "test_loss": 1.0, "test_acc": acc} for e, acc in enumerate(accs)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_an_unfinished_seed_sets_its_cells_final_epoch_and_the_label_says_so(tmp_path):
    cells = [g.to_str() for g in sample_subnets(2, 3)]
    _written_run(tmp_path / "a0", cells[0], 0, [10, 20, 30])
    _written_run(tmp_path / "a1", cells[0], 1, [12, 22])  # still running: its cell is compared at epoch 1
    _written_run(tmp_path / "a2", cells[0], 2, [14, 24, 34])
    _written_run(tmp_path / "b0", cells[1], 0, [40, 50, 60])
    _written_run(tmp_path / "b1", cells[1], 1, [42, 52, 62])
    truth = training_truth(load_runs(sorted(tmp_path.iterdir())))
    assert truth.accuracy == {cells[0]: pytest.approx((20 + 22 + 24) / 3), cells[1]: pytest.approx((60 + 62) / 2)}
    assert truth.epoch == {cells[0]: 1, cells[1]: 2} and truth.seeds == {cells[0]: 3, cells[1]: 2}
    assert truth.label == ("from-scratch training runs: mean final test accuracy (%) over 2-3 seeds, test split of npz "
                           "at /data/x.npz (1,017 test images), C=8 N=1, 3 epochs, batch 32, protocol nb201; final = "
                           "epoch 1-2 (0-based), the last every seed finished, of 3 planned")
