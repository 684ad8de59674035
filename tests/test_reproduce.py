"""scripts/reproduce.py: Table 2 and Figure 4, one command each, at tiny size on the fixtures (cli/reproduce.py,
ranking/table2.py, query/figure4.py, analysis/figure4.py)."""
import json

import pytest

from darts_tse.cli import reproduce
from darts_tse.config import OneShotConfig
from darts_tse.query import Figure4Settings, figure4_configs
from darts_tse.search import run_search

from conftest import load_script

TINY = dict(dataset="synthetic", synthetic_samples=64, synthetic_image_size=8, batch_size=16, C=4, N=1, epochs=1,
            threads=1, wandb="disabled", progress=False, device="cpu", probes=1)


@pytest.fixture(scope="module")
def supernets(tmp_path_factory):
    root = tmp_path_factory.mktemp("supernets")
    runs = []
    for sampler, seed in (("random", 0), ("random", 1), ("fair", 0)):
        out = root / f"{sampler}{seed}"
        run_search(OneShotConfig(**TINY, sampler=sampler, seed=seed, out=str(out)), echo=lambda line: None)
        runs.append(str(out))
    return runs


def test_table2_in_one_command_groups_samplers_and_reports_every_setting(supernets, nb201_table, tmp_path, capsys):
    argv = ["table2", "--supernets", *supernets, "--benchmark", str(nb201_table), "--subnets", "6", "--B", "2", "4",
            "--zero-cost-C", "4", "--zero-cost-N", "1", "--zero-cost-batch", "8", "--threads", "1", "--no-progress",
            "--out", str(tmp_path / "t2")]
    assert reproduce.main(argv) == 0
    report = (tmp_path / "t2" / "table2.md").read_text()
    assert "| RandNAS (n=2) | TSE |" in report and "| FairNAS (n=1) | TSE-E |" in report
    for baseline in ("ConvW", "Params", "FLOPs", "SNIP", "SynFlow", "JacCov"):
        assert f"| RandNAS (n=2) | {baseline} |" in report
    assert "learning rate 0.001 (constant)" in report and "gradient clip None" in report
    assert "one 64-image search-valid minibatch; B read after B + 1 steps" in report
    assert "epochs 1 (code: 100)" in report and "grad_clip 5.0 (code: None)" in report  # the supernets are not the paper's
    assert "## Where this differs from the paper" in report
    documents = json.loads((tmp_path / "t2" / "table2.json").read_text())
    assert set(documents) == {"RandNAS", "FairNAS"} and len(documents["RandNAS"]["runs"]) == 2
    run = documents["RandNAS"]["runs"][0]
    assert run["settings"]["budgets"] == [3, 5] and run["settings"]["lr"] == 0.001 and run["settings"]["grad_clip"] is None
    capsys.readouterr()
    assert reproduce.main(argv) == 0  # the same command again trains nothing: every trace is kept
    assert capsys.readouterr().out.count("6 of 6 subnetworks already trained") == 3
    assert (tmp_path / "t2" / "table2.md").read_text() == report


def test_figure4_in_one_command_runs_the_grid_plots_best_error_and_continues(synthetic_store, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    argv = ["figure4", "--curves", str(synthetic_store), "--runs", "2", "--max-queries", "12", "--no-progress",
            "--out", str(tmp_path / "f4")]
    assert load_script("reproduce").main(argv) == 0
    out = tmp_path / "f4"
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 2 * 3 * 2  # RE, TPE × TSE-EMA (T=10), Val Acc (T=10), Val Acc (T=200) × 2 runs
    assert "query-cifar10-re-tse-ema-T10-emacode-charge1-seed0" in runs
    assert (out / "figure4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "figure4.md").read_text()
    assert "best test error (%)" in report and "± 1 standard error" in report
    assert "| cifar10 | RE · TSE-EMA (T=10) | 2 |" in report and "| cifar10 | TPE · Val Acc (T=200) | 2 |" in report
    assert "cifar10 330000 s" in report and "no per-seed curves" in report
    config = json.loads((out / "runs" / "query-cifar10-tpe-val-acc-T10-charge1-seed1" / "config.json").read_text())
    assert config["epochs_charged"] == 11 and config["optuna"]["sampler"] == "TPESampler"
    capsys.readouterr()
    assert load_script("reproduce").main(argv) == 0  # continues: every run finished earlier is skipped
    assert capsys.readouterr().out.count("finished earlier (summary.json); skipped") == 12
    assert (out / "figure4.md").read_text() == report


def test_figure4_ours_uses_this_projects_defaults(synthetic_store):
    configs, notes = figure4_configs(Figure4Settings(curves=str(synthetic_store), out_dir="x", protocol="ours"))
    assert {c.ema for c in configs} == {"sum"} and not any(c.extra_epoch for c in configs) and not notes
    assert {(c.algorithm, c.fitness, c.budget_epochs) for c in configs} == {
        (a, f, t) for a in ("re", "tpe") for f, t in (("tse-ema", 10), ("val-acc", 10), ("val-acc-final", 200))}


def test_reproduce_bad_input_is_one_line(tmp_path, capsys):
    assert reproduce.main(["figure4", "--curves", str(tmp_path / "none.npz"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert reproduce.main(["table2", "--supernets", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
