"""The one command (``darts-tse``, ``python -m darts_tse``): its listing, its dispatch, fast ``--help`` everywhere,
and hints that name the command the way the user ran it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from darts_tse import commands
from darts_tse.cli import main as dispatcher


def test_help_lists_every_installed_command_once_by_flow(capsys):
    assert dispatcher.main(["--help"]) == 0
    text = capsys.readouterr().out
    installed = [command for command in commands.COMMANDS if command.available()]
    assert {"search", "compare-runs", "sweep", "query-search", "nb201"} <= {command.name for command in installed}
    for command in installed:
        assert sum(line.split()[0] == command.name for line in text.splitlines() if line.startswith("  ")) == 1
        assert command.summary in text
    flows = [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert flows == [flow for flow in commands.FLOWS if any(c.flow == flow for c in installed)]


def test_a_row_whose_module_is_absent_is_not_listed(monkeypatch, capsys):
    extra = commands.Command("not-here", "no_such_module_xyz", "search", "a command of another branch")
    monkeypatch.setattr(dispatcher, "COMMANDS", (*commands.COMMANDS, extra))
    assert dispatcher.main(["--help"]) == 0
    assert "not-here" not in capsys.readouterr().out
    assert dispatcher.main(["not-here"]) == 2
    assert "has no command 'not-here'" in capsys.readouterr().err


def test_unknown_command_is_one_line_with_a_suggestion(capsys):
    assert dispatcher.main(["serch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean search?" in err and "darts-tse --help" in err


def test_every_command_help_imports_no_torch():
    """`darts-tse <cmd> --help` for every command in one fresh process: torch is never imported."""
    code = (
        "import sys\n"
        "from darts_tse import commands\n"
        "from darts_tse.cli.main import main\n"
        "for c in commands.COMMANDS:\n"
        "    if not c.available(): continue\n"
        "    try: main([c.name, '--help'])\n"
        "    except SystemExit as e: assert e.code == 0, (c.name, e.code)\n"
        "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert "usage: darts-tse search" in result.stdout and "usage: darts-tse bench-step" in result.stdout


def test_python_dash_m_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "darts_tse", "export-genotype", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "usage: python -m darts_tse export-genotype" in result.stdout


def test_invocation_names_the_way_the_command_was_run(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert commands.invocation("search") == "python train_search.py"
    assert commands.invocation("sweep") == "python scripts/sweep.py"
    assert commands.invocation("nb201") == "python -m darts_tse.nb201"
    with commands.launched_as("darts-tse", "query-search"):
        assert commands.invocation("export-nb201-curves") == "darts-tse export-nb201-curves"
        assert commands.current_prog() == "darts-tse query-search"
    assert commands.current_prog() is None
    monkeypatch.setattr(sys, "argv", ["/usr/bin/darts-tse-sweep"])  # the deprecated installed commands
    assert commands.invocation("compare-runs") == "darts-tse compare-runs"
    monkeypatch.setattr(sys, "argv", ["../darts_tse/scripts/sweep.py"])  # a checkout elsewhere, as the user named it
    assert commands.invocation("compare-runs") == "python ../darts_tse/scripts/compare_runs.py"
    assert commands.invocation("search") == "python ../darts_tse/train_search.py"
    monkeypatch.setattr(sys, "argv", ["./train_search.py"])
    assert commands.invocation("sweep") == "python scripts/sweep.py"


def test_pyproject_installs_darts_tse_as_the_dispatcher():
    import importlib
    import tomllib

    from conftest import REPO_ROOT

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["darts-tse"].split(":")
    assert getattr(importlib.import_module(module), function) is dispatcher.main
    for name, target in scripts.items():  # every deprecated darts-tse-* command is a row of the table
        if name != "darts-tse":
            assert commands.find(name.removeprefix("darts-tse-")).module_path == target.split(":")[0], name


@pytest.mark.parametrize("launcher", [None, "darts-tse"])
def test_a_library_hint_names_the_command_as_run(tmp_path, capsys, monkeypatch, launcher):
    monkeypatch.setattr(sys, "argv", ["scripts/query_search.py"])
    flags = ["--curves", str(tmp_path / "missing.npz"), "--max-queries", "2", "--out", str(tmp_path / "q")]
    if launcher is None:
        from darts_tse.cli.query_search import main
        assert main(flags) == 2
    else:
        assert dispatcher.main(["query-search", *flags]) == 2
    err = capsys.readouterr().err
    expected = "python scripts/export_nb201_curves.py" if launcher is None else "darts-tse export-nb201-curves"
    assert err.startswith("error: ") and expected in err, err


# ---- the shared flags ------------------------------------------------------------------------------------------
def test_every_command_has_no_progress_and_quiet(capsys):
    for command in commands.COMMANDS:
        if not command.available():
            continue
        with pytest.raises(SystemExit) as stop:
            dispatcher.main([command.name, "--help"])
        assert stop.value.code == 0
        text = capsys.readouterr().out
        assert "--no-progress" in text and ("-q, --quiet" in text or "-q/--quiet" in text), command.name


def test_deprecated_alias_works_once_noted_and_hidden(capsys):
    import argparse

    from darts_tse.cli.vocabulary import deprecated_alias

    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--out", default="runs")
    parser.add_argument("--nb201-dataset", choices=("cifar10", "cifar100"), default="cifar10")
    parser.add_argument("--overwrite", action="store_true")
    deprecated_alias(parser, "--out-dir", "--out")
    deprecated_alias(parser, "--truth-dataset", "--nb201-dataset")
    deprecated_alias(parser, "--force", "--overwrite")
    args = parser.parse_args(["--out-dir", "x", "--truth-dataset", "cifar100", "--force"])
    assert (args.out, args.nb201_dataset, args.overwrite) == ("x", "cifar100", True)
    err = capsys.readouterr().err.splitlines()
    assert err == ["note: --out-dir is deprecated; use --out", "note: --truth-dataset is deprecated; use --nb201-dataset",
                   "note: --force is deprecated; use --overwrite"]
    assert parser.parse_args([]).out == "runs" and capsys.readouterr().err == ""  # defaults untouched
    with pytest.raises(SystemExit):
        parser.parse_args(["--truth-dataset", "mnist"])  # the new flag's choices hold for the old spelling
    help_text = parser.format_help()
    assert "--out-dir" not in help_text and "--truth-dataset" not in help_text
    with pytest.raises(ValueError, match="--nope is not a flag"):
        deprecated_alias(parser, "--old", "--nope")


def test_quiet_turns_bars_and_info_lines_off_for_one_command_only():
    import logging

    from darts_tse.cli import search
    from darts_tse.cli.errors import cli_main

    seen = {}

    @cli_main
    def fake_main(argv):
        seen["progress"] = search.build_parser().parse_args(argv).progress
        seen["disabled"] = logging.root.manager.disable
        return 0

    assert fake_main(["-q"]) == 0
    assert seen == {"progress": False, "disabled": logging.INFO}
    assert logging.root.manager.disable == logging.NOTSET  # restored when the command returned
    assert search.given_settings(["--quiet"]) == {"progress": False}  # a resume takes it like any given flag
    logging.disable(logging.NOTSET)


def test_bars_stay_off_when_stderr_is_not_a_terminal(synthetic_store, tmp_path, capsys):
    """A query search asked for its bar (no --no-progress) writes no carriage-return frames into a file or pipe."""
    from conftest import load_script

    search = load_script("query_search").main
    assert search(["--curves", str(synthetic_store), "--wallclock", "3000", "--out", str(tmp_path),
                   "--algorithm", "rs"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "sim-s" not in err


def test_a_quiet_search_prints_only_what_to_do_next(tmp_path, capsys):
    from darts_tse.cli import search

    flags = ["--dataset", "synthetic", "--synthetic-samples", "32", "--synthetic-image-size", "16", "--batch-size", "8",
             "--C", "4", "--N", "1", "--epochs", "1", "--K", "100", "--threads", "1", "--wandb", "disabled",
             "--out", str(tmp_path / "run")]
    assert search.main([*flags, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith("note: --K 100")] and out
    assert search.main([*flags[:-2], "--out", str(tmp_path / "loud")]) == 0  # progress bars asked for
    out, err = capsys.readouterr()
    assert "epoch 0 of 0..0" in out  # without -q the epoch lines are there
    assert "\r" not in err and "it/s" not in err  # stderr is not a terminal here: no bar frames in it
