"""The one flag vocabulary (CHANGELOG.md, "One vocabulary"): every renamed flag's old spelling still works for one
release, sets what the new one sets, and prints one ``note: --old is deprecated; use --new`` line."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

# command module, the flags every parse needs, the old spelling and its value, the new spelling, dest, parsed value
RENAMED = [
    ("compare_runs", ["r"], ["--json", "x.json"], "--out", "json", Path("x.json")),
    ("compare_runs", ["r"], ["--dataset", "cifar100"], "--nb201-dataset", "dataset", "cifar100"),
    ("compare_runs", ["r"], ["--split", "test"], "--nb201-split", "split", "test"),
    ("plot_curves", ["r"], ["--output", "c.png"], "--out", "output", "c.png"),
    ("plot_curves", ["r"], ["--dataset", "cifar100"], "--nb201-dataset", "dataset", "cifar100"),
    ("plot_curves", ["r"], ["--split", "valid"], "--nb201-split", "split", "valid"),
    ("plot_alpha", ["r"], ["--output", "a.png"], "--out", "output", "a.png"),
    ("plot_query", ["r"], ["--output", "q.png"], "--out", "output", "q.png"),
    ("export_nb201_curves", ["--nats", "d"], ["--output", "s.npz"], "--out", "output", "s.npz"),
    ("export_nb201_curves", ["--nats", "d", "-o", "s.npz"], ["--datasets", "cifar100"], "--nb201-datasets",
     "datasets", "cifar100"),
    ("export_nb201_curves", ["--nats", "d", "-o", "s.npz"], ["--epochs", "4"], "--curve-epochs", "epochs", 4),
    ("query_search", ["--curves", "c.npz"], ["--out-dir", "q"], "--out", "out_dir", "q"),
    ("query_search", ["--curves", "c.npz"], ["--dataset", "cifar100"], "--nb201-dataset", "dataset", "cifar100"),
    ("rank_estimators", ["--curves", "c.json"], ["--json", "r.json"], "--out", "json_out", "r.json"),
    ("rank_estimators", ["--curves", "c.json"], ["--dataset", "cifar100"], "--nb201-dataset", "dataset", "cifar100"),
    ("rank_estimators", ["--curves", "c.json"], ["--truth-dataset", "cifar100"], "--nb201-truth-dataset",
     "truth_dataset", "cifar100"),
    ("rank_subnets", ["r"], ["--json", "t.json"], "--out", "json", Path("t.json")),
    ("rank_subnets", ["r"], ["--truth-dataset", "cifar100"], "--nb201-dataset", "truth_dataset", "cifar100"),
    ("bench_search", [], ["--json", "b.json"], "--out", "json", Path("b.json")),
    ("bench_search", [], ["--epochs", "2"], "--timed-epochs", "epochs", 2),
    ("bench_search", [], ["--warmup-epochs", "0"], "--untimed-epochs", "warmup_epochs", 0),
    ("bench_search", [], ["--search-epochs", "9"], "--projected-epochs", "search_epochs", 9),
]


@pytest.mark.parametrize("module, base, old, new, dest, value", RENAMED,
                         ids=[f"{row[0]}{row[2][0]}" for row in RENAMED])
def test_an_old_spelling_works_and_notes_the_new_one(module, base, old, new, dest, value, capsys):
    parser = importlib.import_module(f"darts_tse.cli.{module}").build_parser()
    args = parser.parse_args([*base, *old])
    assert getattr(args, dest) == value
    assert capsys.readouterr().err.splitlines() == [f"note: {old[0]} is deprecated; use {new}"]
    assert getattr(parser.parse_args([*base, new, old[1]]), dest) == value  # the new spelling, without a note
    assert capsys.readouterr().err == ""
    help_text = parser.format_help()
    assert new in help_text and f"{old[0]} " not in help_text.replace(new, "")



def test_reproduce_figure4_datasets_old_spelling(capsys):
    from darts_tse.cli import reproduce

    args = reproduce.build_parser().parse_args(["figure4", "--curves", "c.npz", "--datasets", "cifar100",
                                                "ImageNet16-120", "-o", "r"])
    assert args.datasets == ["cifar100", "imagenet16-120"] and args.out == Path("r")
    assert capsys.readouterr().err.splitlines() == ["note: ImageNet16-120 is deprecated; use imagenet16-120",
                                                    "note: --datasets is deprecated; use --nb201-datasets"]


@pytest.mark.parametrize("module, base, dest", [
    ("rank_estimators", ["--curves", "c.json", "--nb201-dataset"], "dataset"),
    ("rank_estimators", ["--curves", "c.json", "--nb201-truth-dataset"], "truth_dataset"),
    ("rank_subnets", ["r", "--nb201-dataset"], "truth_dataset"),
    ("query_search", ["--curves", "c.npz", "--nb201-dataset"], "dataset"),
])
def test_one_spelling_of_imagenet16_120_and_the_old_one_with_a_note(module, base, dest, capsys):
    parser = importlib.import_module(f"darts_tse.cli.{module}").build_parser()
    assert getattr(parser.parse_args([*base, "imagenet16-120"]), dest) == "imagenet16-120"
    assert capsys.readouterr().err == ""
    assert getattr(parser.parse_args([*base, "ImageNet16-120"]), dest) == "imagenet16-120"
    assert capsys.readouterr().err.splitlines() == ["note: ImageNet16-120 is deprecated; use imagenet16-120"]


def test_rank_estimators_hands_the_library_the_nats_bench_spelling(nats_fake_dir, capsys):
    """The command says imagenet16-120; the NATS-Bench reader it calls still gets ImageNet16-120 (a wrong spelling
    would fail to find the dataset's records, not pass silently)."""
    from darts_tse.cli import rank_estimators

    assert rank_estimators.main(["--nats-dir", str(nats_fake_dir), "--nb201-dataset", "imagenet16-120",
                                 "--max-epochs", "3"]) == 0
    assert "ImageNet16-120" in capsys.readouterr().out


@pytest.mark.parametrize("module, old", [("bench_step", "--json"), ("compare_hvp", "--json"),
                                         ("export_nb201_table", "--output")])
def test_old_output_spelling_of_commands_without_a_parser_builder(module, old, tmp_path, capsys):
    """These commands build their parser in main: the old spelling reaches --out, whose check (a folder is not a
    file) names the new flag."""
    main = importlib.import_module(f"darts_tse.cli.{module}").main
    argv = [str(tmp_path / "missing.pth")] if module == "export_nb201_table" else []
    assert main([*argv, old, str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"note: {old} is deprecated; use --out"
    assert f"--out {tmp_path} is a folder" in err[-1] if module != "export_nb201_table" else "is a folder" in err[-1]


@pytest.mark.parametrize("module", ["search", "train_oneshot", "sweep", "compare_methods"])
def test_run_and_folder_outputs_take_dash_o(module):
    parser = importlib.import_module(f"darts_tse.cli.{module}").build_parser()
    args, _ = parser.parse_known_args(["-o", "runs/x", "--methods", "darts", "--seeds", "0"]
                                      if module == "compare_methods" else ["-o", "runs/x"])
    assert args.out == "runs/x"
