"""The README's report commands on a runs/ folder as a user really has it: a search run twice, a sweep folder, a
compare-methods folder, a failed start and a query run beside ordinary runs (tiny real searches)."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from darts_tse.analysis import RunDirError, compare, markdown_report
from darts_tse.analysis.selection import load_search_runs, query_run_paths
from darts_tse.config import SearchConfig
from darts_tse.search import run_search
from darts_tse.sweeps.record import Job, Sweep

from conftest import load_script

TINY = dict(K=2, dataset="synthetic", synthetic_samples=32, synthetic_image_size=16, batch_size=8, C=4, N=1, epochs=2,
            threads=1, progress=False, device="cpu", wandb="disabled")


def search(out: Path, **settings) -> Path:
    run_search(SearchConfig(out=str(out), **{**TINY, **settings}), echo=lambda line: None)
    return out


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("project") / "runs"
    search(runs / "darts-synthetic-seed0-a", method="darts", seed=0)
    older = search(runs / "darts-synthetic-seed0-b", method="darts", seed=0)  # the smoke command run twice
    os.utime(older / "metrics.jsonl", (1_000_000_000, 1_000_000_000))  # b was written first (not by name order)
    # a sweep folder, as the sweep command records it: two jobs run, one not started yet
    sweep = runs / "sweep-tse"
    jobs = [Job(f"method=darts-tse,seed={seed}", {"method": "darts-tse", "seed": str(seed)},
                ["--method", "darts-tse", "--seed", str(seed)]) for seed in (0, 1, 2)]
    Sweep(sweep, {"method": ["darts-tse"], "seed": ["0", "1", "2"]}, [], jobs).save()
    for job in jobs[:2]:
        search(sweep / job.name, method="darts-tse", seed=int(job.axes["seed"]))
    # a compare-methods folder: its sweep in runs/, the report files beside it; another scale and data, capped
    comparison = runs / "compare-small"
    (comparison / "runs").mkdir(parents=True)
    (comparison / "compare_methods.json").write_text(json.dumps({"methods": ["drnas"], "seeds": [0]}))
    (comparison / "report.md").write_text("# an earlier report\n")
    data = comparison / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.integers(0, 255, (48, 8, 8, 3), dtype=np.uint8), y_train=rng.integers(0, 3, 48))
    job = Job("method=drnas,seed=0", {"method": "drnas", "seed": "0"}, ["--method", "drnas"])
    Sweep(comparison / "runs", {"method": ["drnas"], "seed": ["0"]}, [], [job]).save()
    search(comparison / "runs" / job.name, method="drnas", seed=0, dataset="npz", data_dir=str(data), C=8,
           steps_per_epoch=2)
    (runs / "darts-failed-start").mkdir()  # a start that failed before its first epoch
    query = runs / "query-cifar10-re-seed0"
    query.mkdir()
    (query / "query.jsonl").write_text("")  # a query search (not a differentiable one), unfinished
    return runs


def everything(runs: Path) -> list[str]:
    return sorted(str(path) for path in runs.iterdir())  # what the shell gives for runs/*


def test_compare_runs_reads_runs_star(runs_folder, capsys):
    assert load_script("compare_runs").main(everything(runs_folder)) == 0
    out, err = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith(("darts", "drnas"))]
    assert len(rows) == 3, out  # darts (the repeat counted once), darts-tse (2 seeds of the sweep), drnas
    darts, tse, drnas = (next(row for row in rows if row.startswith(name + " ")) for name in ("darts", "darts-tse", "drnas"))
    assert darts.split("]")[1].split()[0] == "1" and tse.split("]")[1].split()[0] == "2"  # seeds per group
    # the labels name the data and the scale, since the runs differ in them
    assert "[synthetic, C=4 steps_per_epoch=all]" in darts and "[npz (tiny.npz), C=8 steps_per_epoch=2]" in drnas
    notes = err.splitlines()
    newest = runs_folder / "darts-synthetic-seed0-a"
    assert f"{newest} repeats the search of {runs_folder / 'darts-synthetic-seed0-b'}" in err
    assert f"counting the newest, {newest}, once" in err
    assert any("compare-small: a compare-methods folder" in line for line in notes)
    assert f"{runs_folder / 'sweep-tse'}: 1 of its 3 jobs have no run directory yet (not started)" in notes
    assert any(line.startswith(f"skipping {runs_folder / 'darts-failed-start'} has no finished epoch") for line in notes)
    assert any(line.startswith("skipping") and "query-based search (plot-query reads it)" in line for line in notes)
    assert "Traceback" not in err


def test_plot_curves_and_plot_alpha_read_runs_star(runs_folder, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "curves.png"
    assert load_script("plot_curves").main([*everything(runs_folder), "-o", str(figure)]) == 0
    assert figure.stat().st_size > 10_000 and "(4 runs)" in capsys.readouterr().out
    assert load_script("plot_curves").main([*everything(runs_folder), "--mean-over-seeds",
                                            "-o", str(tmp_path / "mean.png")]) == 0
    assert load_script("plot_alpha").main([str(runs_folder / "sweep-tse"), "-o", str(tmp_path / "alpha.png")]) == 0
    assert sorted(path.name for path in tmp_path.glob("alpha-*.png")) == [
        "alpha-method=darts-tse,seed=0.png", "alpha-method=darts-tse,seed=1.png"]
    # `runs/sweep-tse/*` (its record and job directories) reads the same two runs; the record alone gets a hint
    assert [run.path.name for run in load_search_runs(everything(runs_folder / "sweep-tse"))] == [
        "method=darts-tse,seed=0", "method=darts-tse,seed=1"]
    with pytest.raises(RunDirError, match="is a sweep's record, not a run directory; pass its run directories"):
        load_search_runs([runs_folder / "sweep-tse" / "sweep.json"])


def test_plot_query_leaves_out_what_is_not_a_finished_query_run(runs_folder, capsys):
    assert load_script("plot_query").main([*everything(runs_folder), "-o", "unused.png"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[-1].startswith("error: none of the") and "finished query-search run" in err[-1]
    notes = []
    assert query_run_paths([runs_folder], notes.append) == [runs_folder / "query-cifar10-re-seed0"]  # alone: the
    assert notes == [f"{runs_folder}: reading the 1 query-search runs in it"]  # reader then says what it lacks
    assert load_script("plot_query").main([str(runs_folder), "-o", "unused.png"]) == 2
    assert "has no summary.json" in capsys.readouterr().err


def test_report_shows_every_smoke_cap(runs_folder):
    runs = load_search_runs([runs_folder / "compare-small", runs_folder / "darts-synthetic-seed0-a"])
    text = markdown_report(compare(runs), title="t", command="c", plot=None)
    assert "**Smoke cap** `steps_per_epoch` = 2: training minibatches" in text and "(in drnas" in text
    assert "**Smoke cap** `synthetic_samples` = 32" in text
    plain = markdown_report(compare(runs[1:]), title="t", command="c", plot=None)
    assert "steps_per_epoch" not in plain.split("## Result")[0]


def test_plot_query_reads_the_query_runs_of_runs_star(runs_folder, synthetic_store, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import shutil

    runs = tmp_path / "runs"
    assert load_script("query_search").main(["--curves", str(synthetic_store), "--algorithm", "rs", "--max-queries",
                                             "3", "--runs", "2", "--out", str(runs), "--no-progress"]) == 0
    shutil.copytree(runs_folder / "query-cifar10-re-seed0", runs / "query-unfinished")
    shutil.copytree(runs_folder / "sweep-tse", runs / "sweep-tse")
    capsys.readouterr()
    assert load_script("plot_query").main([*everything(runs), "-o", str(tmp_path / "q.png")]) == 0
    out, err = capsys.readouterr()
    assert "(2 runs, 1 line)" in out
    assert f"skipping {runs / 'query-unfinished'}: its query search did not finish" in err
    assert f"skipping {runs / 'sweep-tse'} is not a query-search run" in err


def test_context_labels_name_only_what_differs():
    from darts_tse.analysis.runs import context_labels

    base = {"dataset": "cifar10", "C": 16, "N": 5, "epochs": 50, "batch_size": 64}
    assert context_labels([base, dict(base)]) == ["", ""]
    assert context_labels([base, {**base, "dataset": "fashion-mnist"}]) == ["cifar10", "fashion-mnist"]
    assert context_labels([base, {**base, "C": 8, "steps_per_epoch": 20}]) == [
        "C=16 steps_per_epoch=all", "C=8 steps_per_epoch=20"]
    own = [{**base, "dataset": "npz", "data": {"source": "/d/a.npz"}}, {**base, "dataset": "npz", "data_dir": "b.npz"}]
    assert context_labels(own) == ["npz (a.npz)", "npz (b.npz)"]


def test_plot_curves_leaves_a_one_shot_run_of_runs_star_out_with_a_note(tmp_path, capsys):
    """A one-shot supernet run derives no genotype to plot: plot_curves skips it with a note, as compare_runs does."""
    pytest.importorskip("matplotlib")
    from darts_tse.config import OneShotConfig

    runs = tmp_path / "runs"
    search(runs / "darts-synthetic-seed0", method="darts", seed=0)
    oneshot = {key: value for key, value in TINY.items() if key != "K"}
    run_search(OneShotConfig(out=str(runs / "oneshot-random"), probes=2, **oneshot), echo=lambda line: None)
    figure = tmp_path / "curves.png"
    assert load_script("plot_curves").main([*everything(runs), "-o", str(figure)]) == 0
    out, err = capsys.readouterr()
    assert figure.stat().st_size > 10_000 and "(1 run)" in out
    assert f"skipping {runs / 'oneshot-random'} is a one-shot supernet run" in err
