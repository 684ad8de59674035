"""scripts/compare_methods.py end to end on a tiny synthetic configuration: the searches as a local sweep, then the
comparison table, the mean ± std curves and the labelled markdown report in one folder; re-running continues."""
import json

import pytest

from conftest import NB201_TABLE, load_script

TINY = ["--dataset", "synthetic", "--synthetic-samples", "48", "--synthetic-image-size", "8", "--C", "2", "--N", "1",
        "--batch-size", "8", "--epochs", "2", "--steps-per-epoch", "2", "--K", "2", "--wandb", "disabled",
        "--no-progress", "--threads", "1", "--gpus-per-job", "0", "--max-parallel", "2"]


@pytest.mark.slow
def test_compare_methods_runs_the_searches_and_writes_table_plots_and_report(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    if not NB201_TABLE.is_file():
        pytest.skip(f"NB201 table not found at {NB201_TABLE}")
    out = tmp_path / "cmp"
    argv = ["--methods", "darts", "darts-tse", "--seeds", "0", "1", "--out", str(out), "--preset", "paper",
            "--benchmark", str(NB201_TABLE), *TINY]
    script = load_script("compare_methods")
    assert script.main(argv) == 0
    assert {path.name for path in out.iterdir()} == {"runs", "comparison.txt", "comparison.json", "curves.png",
                                                     "report.md", "compare_methods.json"}
    for job in ("darts-seed0", "darts-seed1", "darts-tse-seed0", "darts-tse-seed1"):
        assert (out / "runs" / job / "metrics.jsonl").is_file(), job
    table = (out / "comparison.txt").read_text()
    assert "mean and sample standard deviation (n - 1) over search seeds" in table
    assert "NB201 cifar10 test" in table and "darts-tse K=2" in table
    document = json.loads((out / "comparison.json").read_text())
    assert [group["seeds"] for group in document["groups"]] == [[0, 1], [0, 1]]
    report = (out / "report.md").read_text()
    for text in ("**NB201 cifar10 test**", "trained on all 50k CIFAR-10 training images", "(search seeds 0, 1)",
                 "## Data", "synthetic (random tensors, for smoke runs): 24 search-train / 24 search-valid images",
                 "![overfitting curves](curves.png)", "| darts-tse K=2 | paper |", "rollout"):
        assert text in report, text
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((out / "runs" / "darts-tse-seed0" / "config.json").read_text())
    assert (config["preset"], config["grad_clip"], config["tse_mode"]) == ("paper", None, "rollout")
    capsys.readouterr()

    assert script.main(argv) == 0  # the same command again: nothing to run, the report rewritten
    printed = capsys.readouterr().out
    assert sum(line.startswith("skip ") for line in printed.splitlines()) == 4 and "nothing to submit" in printed
    assert script.main([*argv[:8], "--preset", "uniform", *argv[10:]]) == 2
    assert "holds another comparison (preset: 'paper' -> 'uniform')" in capsys.readouterr().err


def test_compare_methods_refuses_a_folder_with_other_files_and_bad_flags(tmp_path, capsys):
    script = load_script("compare_methods")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert script.main(["--methods", "darts", "--seeds", "0", "--out", str(busy), *TINY]) == 2
    assert "holds other files (notes.txt); choose a new or empty folder" in capsys.readouterr().err
    assert (busy / "notes.txt").read_text() == "mine" and [p.name for p in busy.iterdir()] == ["notes.txt"]
    assert script.main(["--methods", "darts", "--seeds", "0", "--out", str(tmp_path / "new"), "--lr", "-1"]) == 2
    assert "--lr must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "new" / "compare_methods.json").exists()
    assert script.main(["--methods", "darts", "--seeds", "0", "--out", str(tmp_path / "x"), "--seed", "3"]) == 2
    assert "--seed is both a grid axis and a fixed flag" in capsys.readouterr().err
