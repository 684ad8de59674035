"""End-to-end tests of scripts/rank_estimators.py (subprocess) and the curve loaders behind it."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from darts_tse.estimators import CurveLoadError, load_curves_csv, load_curves_nats, parse_indices

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "rank_estimators.py"

# 200-epoch test accuracies averaged over seeds, from ../shared/nb201/nb201_accuracy.csv
NB201_CIFAR10_TEST = {"0": 85.8633, "11": 91.5833, "284": 88.7900}
NB201_CIFAR100_TEST = {"0": 52.9133, "11": 67.6067, "284": 62.1400}


def run_script(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def write_json_curves(path):
    """Four architectures whose final accuracy follows training speed, plus two unusable entries."""
    archs = []
    for i, rate in enumerate([0.1, 0.2, 0.4, 0.8]):
        train = [2.0 / (1 + rate * t) for t in range(1, 9)]
        archs.append({"id": f"a{i}", "train_losses": train, "valid_losses": [v + 0.1 for v in train],
                      "valid_accs": [50 + 10 * rate * t for t in range(1, 9)],
                      "minibatch_losses": [[v + 0.05, v - 0.05] for v in train], "final_test_acc": 60 + 10 * i})
    archs.append({"id": "no-truth", "train_losses": [1.0, 0.9]})
    archs.append({"id": "no-curve", "train_losses": [], "final_test_acc": 70.0})
    path.write_text(json.dumps({"architectures": archs}))
    return path


def test_script_on_nats_fake(nats_fake_dir, tmp_path):
    out_json = tmp_path / "rank.json"
    result = run_script("--nats-dir", nats_fake_dir, "--nb201-dataset", "cifar10", "--max-epochs", "12",
                        "--out", out_json)
    assert result.returncode == 0, result.stderr
    assert "architectures: 3 used, 0 missing" in result.stdout
    assert "skipped TLmini" in result.stdout
    data = json.loads(out_json.read_text())
    assert data["budgets"] == list(range(1, 13))
    assert sorted(data["architectures"]) == ["0", "11", "284"]
    assert set(data["spearman"]) == {"TSE", "TSE-E", "TSE-EMA"}  # cifar10 has no validation split
    for values in data["spearman"].values():
        assert len(values) == 12 and all(v is None or -1.0 <= v <= 1.0 for v in values)
    # with gamma close to 1 over 12 epochs, TSE-EMA ranks like TSE
    assert data["spearman"]["TSE-EMA"] == data["spearman"]["TSE"]
    # every number says what it is: curves averaged over seeds, the ground truth's dataset, split and budget
    assert data["truth"] == "cifar10 test-accuracy after 200 epochs (hp=200), mean over seeds"
    assert data["truth"] in result.stdout and data["settings"]["seed"] == "mean"
    assert "(cifar10 curves, hp=200, mean over seeds)" in data["source"]


def test_one_seed_is_labelled_as_such(nats_fake_dir, tmp_path):
    out_json = tmp_path / "rank.json"
    result = run_script("--nats-dir", nats_fake_dir, "--nb201-dataset", "cifar10-valid", "--hp", "12", "--seed", "777",
                        "--nb201-truth-dataset", "cifar100", "--out", out_json)
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    assert data["settings"]["seed"] == 777 and "seed 777" in data["source"] and "seed 777" in result.stdout
    assert data["truth"].startswith("cifar100 test-accuracy after 200 epochs")


def test_nats_loader_reads_real_curves_and_ground_truth(nats_fake_dir):
    curve_set = load_curves_nats(nats_fake_dir, dataset="cifar10", hp="200", indices=[0, 11, 284, 5])
    truth = {r.id: r.final_test_acc for r in curve_set.records}
    assert truth == pytest.approx(NB201_CIFAR10_TEST, abs=1e-3)
    assert all(r.curve.num_epochs == 200 and r.curve.valid_losses is None for r in curve_set.records)
    assert [(m.id, m.reason) for m in curve_set.missing] == [("5", "no record file in the directory")]
    c100 = load_curves_nats(nats_fake_dir, dataset="cifar100", hp="12", indices=[0, 11, 284])
    assert {r.id: r.final_test_acc for r in c100.records} == pytest.approx(NB201_CIFAR100_TEST, abs=1e-3)
    assert all(r.curve.num_epochs == 12 and r.curve.valid_losses is not None for r in c100.records)
    # curves of the CIFAR-10 train split: mean training loss falls over 200 epochs
    c10v = load_curves_nats(nats_fake_dir, dataset="cifar10-valid", indices=[284])
    train = c10v.records[0].curve.train_losses
    assert train[-1] < 0.5 * train[0]


def test_script_reports_missing_architectures(nats_fake_dir, tmp_path):
    out_json = tmp_path / "rank.json"
    result = run_script("--nats-dir", nats_fake_dir, "--indices", "0,11,284,7", "--hp", "12", "--out", out_json)
    assert result.returncode == 0, result.stderr
    assert "missing architectures: 1" in result.stdout
    assert "7: no record file in the directory" in result.stdout
    data = json.loads(out_json.read_text())
    assert data["num_missing"] == 1 and data["num_architectures"] == 3
    assert {"SoVL", "VAccES"} <= set(data["spearman"])  # cifar10-valid hp=12 has x-valid curves
    assert data["effective_budget"] is not None and 1 <= data["effective_budget"] <= 12


def test_script_on_json_curves(tmp_path):
    curves = write_json_curves(tmp_path / "curves.json")
    out_json = tmp_path / "rank.json"
    plot = tmp_path / "rank.png"
    result = run_script("--curves", curves, "--out", out_json, "--plot", plot, "--gamma", "0.9")
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    assert data["budgets"] == list(range(1, 9))
    assert data["settings"]["gamma"] == 0.9
    assert set(data["spearman"]) == {"TSE", "TSE-E", "TSE-EMA", "SoVL", "TLmini", "VAccES"}
    for name, values in data["spearman"].items():
        assert values == pytest.approx([1.0] * 8), name  # faster training <-> higher accuracy, every budget
    missing = {m["id"]: m["reason"] for m in data["missing"]}
    assert missing == {"no-truth": "no final test accuracy", "no-curve": "no training-loss curve"}
    assert "missing architectures: 2" in result.stdout
    assert plot.stat().st_size > 0


def test_script_fractional_e_on_json_curves(tmp_path):
    curves = write_json_curves(tmp_path / "curves.json")
    result = run_script("--curves", curves, "--tse-e", "0.5", "--max-epochs", "4")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.strip().startswith("T "))
    assert "TSE-E" in header and "skipped TSE-E" not in result.stdout


def test_csv_curves(tmp_path):
    path = tmp_path / "curves.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "epoch", "train_loss", "valid_loss", "final_test_acc"])
        for arch, losses, acc in (("x", [2.0, 1.0, 0.5], 90), ("y", [2.0, 1.5, 1.2], 80), ("z", [2.5, 2.0, 1.9], 70)):
            for epoch, loss in enumerate(losses, start=1):
                writer.writerow([arch, epoch, loss, loss + 0.2, acc if epoch == 1 else ""])
        writer.writerow(["gap", 1, 1.0, "", 50])
        writer.writerow(["gap", 3, 0.5, "", 50])
    curve_set = load_curves_csv(path)
    assert [r.id for r in curve_set.records] == ["x", "y", "z"]
    assert curve_set.records[0].curve.valid_losses == pytest.approx((2.2, 1.2, 0.7))
    assert [m.id for m in curve_set.missing] == ["gap"] and "without gaps" in curve_set.missing[0].reason
    result = run_script("--curves", path)
    assert result.returncode == 0, result.stderr
    last_row = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("3 ")][0]
    assert last_row[1:] == ["+1.000"] * 4  # TSE, TSE-E, TSE-EMA, SoVL (no valid_acc column: VAccES skipped)
    assert "skipped VAccES" in result.stdout


@pytest.mark.parametrize("flag, suffix", [("--nats-dir", ""), ("--curves", ".json"), ("--curves", ".csv")])
def test_missing_path_is_a_one_line_error(tmp_path, flag, suffix):
    missing = tmp_path / f"does-not-exist{suffix}"
    result = run_script(flag, missing)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rank_estimators: error:") and "not found" in lines[0] and str(missing) in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_bad_inputs_are_one_line_errors(tmp_path):
    not_nats = tmp_path / "empty-dir"
    not_nats.mkdir()
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    wrong_shape = tmp_path / "shape.json"
    wrong_shape.write_text(json.dumps({"archs": []}))
    one_arch = tmp_path / "one.json"
    one_arch.write_text(json.dumps({"architectures": [{"id": 1, "train_losses": [1.0], "final_test_acc": 5}]}))
    cases = [(("--nats-dir", not_nats), "not a NATS-Bench topology directory"),
             (("--curves", bad_json), "cannot read JSON curves"),
             (("--curves", wrong_shape), "'architectures' list"),
             (("--curves", one_arch), "need at least 2 architectures"),
             (("--curves", tmp_path / "c.txt"), "use a .json or .csv file")]
    for args, message in cases:
        result = run_script(*args)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_parse_indices():
    assert parse_indices("0, 11,3-5") == [0, 11, 3, 4, 5]
    with pytest.raises(CurveLoadError, match="bad index"):
        parse_indices("5-2")
