"""scripts/query_search.py and scripts/plot_query.py: runs and the Figure-4 plot end to end, one-line errors, and two
workers sharing one optuna study in a SQLite file."""
import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, load_script

pytest.importorskip("matplotlib")


def test_search_runs_and_the_figure4_plot(synthetic_store, tmp_path, capsys):
    search, plot = load_script("query_search").main, load_script("plot_query").main
    common = ["--curves", str(synthetic_store), "--wallclock", "3000", "--runs", "3", "--out", str(tmp_path),
              "--no-progress", "--population", "10", "--sample-size", "3"]
    for fitness, budget in (("tse-ema", "10"), ("val-acc", "10"), ("val-acc-final", None)):
        assert search([*common, "--algorithm", "re", "--fitness", fitness] + (["--budget-epochs", budget] if budget else [])) == 0
    out = capsys.readouterr().out
    assert "search space: 243 architectures" in out and "incumbent" in out
    runs = sorted(tmp_path.glob("query-*"))
    assert len(runs) == 9
    figure = tmp_path / "figure4.png"
    assert plot([*map(str, runs), "-o", str(figure)]) == 0
    table = capsys.readouterr().out
    assert figure.stat().st_size > 10_000
    for label in ("RE · TSE-EMA (T=10)", "RE · Val Acc (T=10)", "RE · Val Acc (T=200)"):
        assert label in table and "n=3" in table
    assert "test accuracy of the incumbent" in table and "wrote" in table
    assert plot([*map(str, runs[:3]), "-o", str(tmp_path / "regret.png"), "--y", "best-regret", "--band", "sem",
                 "--linear-clock"]) == 0


def test_bad_inputs_give_one_line(synthetic_store, tmp_path, capsys):
    search, plot = load_script("query_search").main, load_script("plot_query").main
    unfinished = tmp_path / "query-unfinished"
    unfinished.mkdir()
    (unfinished / "query.jsonl").write_text("")
    out = ["--out", str(tmp_path / "runs")]
    cases = [
        (search, ["--curves", str(tmp_path / "none.npz"), "--max-queries", "3"], "curve store"),
        (search, ["--curves", str(synthetic_store)], "give --wallclock SECONDS"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--budget-epochs", "50"], "keeps 12 epochs"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--nb201-dataset", "cifar100"], "--nb201-datasets cifar100"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--curve-seed", "777"], "--per-seed"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--storage", "sqlite:///x.db"],
         "drop --storage for --algorithm re"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--algorithm", "tpe", "--storage",
                  "nosuchdb://x"], "cannot open optuna storage"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--tse-e", "inf"], "--tse-e must be a finite"),
        (search, ["--curves", str(synthetic_store), "--max-queries", "3", "--fitness", "tse-e", "--tse-e", "nan"],
         "--tse-e must be a finite"),
        (plot, [str(unfinished)], "has no summary.json"),
        (plot, [str(tmp_path / "nowhere")], "is not a directory"),
    ]
    for main, argv, message in cases:
        assert main(argv + out if main is search else argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()  # no failed run left a directory behind
    assert search(["--curves", str(synthetic_store), "--max-queries", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    assert search(["--curves", str(synthetic_store), "--max-queries", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "finished earlier (summary.json); skipped" in capsys.readouterr().out
    assert search(["--curves", str(synthetic_store), "--max-queries", "3", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds a finished run of other settings (max_queries differ)" in err and err.count("\n") == 1


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(synthetic_store, tmp_path, capsys):
    import optuna

    database = tmp_path / "study.db"
    script = REPO_ROOT / "scripts" / "query_search.py"

    def worker(seed, fitness="tse-ema"):
        # --extend-study: a worker that starts late, after the other finished, joins anyway (the study is this test's)
        argv = [sys.executable, str(script), "--curves", str(synthetic_store), "--algorithm", "tpe", "--fitness", fitness,
                "--max-queries", "15", "--seed", str(seed), "--storage", f"sqlite:///{database}", "--study-name",
                "shared", "--extend-study", "--out", str(tmp_path / "runs"), "--no-progress"]
        return subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first, second = worker(0), worker(1)
    for process in (first, second):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{database}")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 30
    numbers = {}
    for seed in (0, 1):
        run = tmp_path / "runs" / f"query-cifar10-tpe-tse-ema-T10-seed{seed}"
        numbers[seed] = [json.loads(line)["trial"] for line in (run / "query.jsonl").read_text().splitlines()]
        summary = json.loads((run / "summary.json").read_text())
        assert summary["study"]["name"] == "shared" and summary["study"]["complete_trials"] >= 15
    assert len(numbers[0]) == len(numbers[1]) == 15 and not set(numbers[0]) & set(numbers[1])
    assert set(numbers[0]) | set(numbers[1]) == {t.number for t in complete}
    # the two workers are one search (one study), not two independent runs: one line, its queries merged
    from darts_tse.analysis import load_query_run
    from darts_tse.analysis.query_runs import group_query_runs

    workers = [load_query_run(tmp_path / "runs" / f"query-cifar10-tpe-tse-ema-T10-seed{seed}") for seed in (0, 1)]
    [[study]] = group_query_runs(workers)
    assert study.workers == [w.path for w in workers] and len(study.rows) == 30
    clock = [row["clock_s"] for row in study.rows]
    assert clock == sorted(clock) and sorted(row["fitness"] for row in study.rows) == sorted(
        row["fitness"] for w in workers for row in w.rows)
    assert all(row["incumbent_fitness"] == max(r["fitness"] for r in study.rows[:i + 1]) for i, row in enumerate(study.rows))
    assert load_script("plot_query").main([*map(str, (w.path for w in workers)), "-o", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "n=1" in out and "1 run (a study of 2 workers)" in out, out
    # a worker with another fitness may not join: the study would mix two objectives
    third = worker(2, fitness="val-acc")
    _, err = third.communicate(timeout=300)
    assert third.returncode == 2 and "was started by a search with other settings (fitness, gamma differ)" in err
    assert err.count("\n") == 1


def test_plot_refuses_damaged_runs_and_other_outputs_with_one_line(synthetic_store, tmp_path, capsys):
    import shutil

    search, plot = load_script("query_search").main, load_script("plot_query").main
    assert search(["--curves", str(synthetic_store), "--algorithm", "rs", "--max-queries", "3", "--out",
                   str(tmp_path / "runs"), "--no-progress"]) == 0
    [run] = (tmp_path / "runs").iterdir()

    def damaged(name, edit):
        copy = tmp_path / name
        shutil.copytree(run, copy)
        edit(copy)
        return copy

    def config_edit(**changes):
        def edit(copy):
            config = json.loads((copy / "config.json").read_text())
            (copy / "config.json").write_text(json.dumps({**config, **changes}))
        return edit

    def null_clock(copy):
        rows = (copy / "query.jsonl").read_text().splitlines()
        rows[1] = json.dumps({**json.loads(rows[1]), "clock_s": None})
        (copy / "query.jsonl").write_text("\n".join(rows) + "\n")

    (tmp_path / "folder.png").mkdir()
    cases = [
        ([str(run), "-o", str(tmp_path / "fig.xyz")], "the file name must end in .png"),
        ([str(run), "-o", str(tmp_path / "folder.png")], "is a folder"),
        ([str(damaged("labels", config_edit(labels="x"))), "-o", str(tmp_path / "a.png")], "lacks labels"),
        ([str(damaged("optimum", config_edit(optimum={"test": "high"}))), "-o", str(tmp_path / "a.png")],
         "damaged labels or optimum"),
        ([str(damaged("clock", null_clock)), "-o", str(tmp_path / "a.png")], "line 2: clock_s is not a finite number"),
        ([str(damaged("summary", lambda copy: (copy / "summary.json").write_text("[1]"))), "-o", str(tmp_path / "a.png")],
         "summary.json is not a JSON object; it is written by scripts/query_search.py"),
    ]
    for argv, message in cases:
        assert plot(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "fig.xyz").exists() and not (tmp_path / "a.png").exists()
    # runs that differ only in the code's version still form one line
    assert plot([str(run), str(damaged("newer", config_edit(darts_tse="9.9", seed=7))), "-o",
                 str(tmp_path / "b.png")]) == 0
    assert "n=2" in capsys.readouterr().out
