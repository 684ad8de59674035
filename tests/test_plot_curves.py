"""scripts/plot_curves.py, plot_alpha.py and export_genotype.py on real (tiny) run directories, and darts_tse.runs."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from darts_tse.analysis import (
    MissingDependency,
    NoFinishedEpoch,
    Run,
    RunDirError,
    choose_nb201,
    genotype_entry,
    load_run,
    plot_curves,
    read_jsonl,
    unique_labels,
)
from darts_tse.config import SearchConfig
from darts_tse.search import run_search
from darts_tse.space.genotype import OPS

from conftest import REPO_ROOT, load_script

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[Path]:
    """A darts-tse (K=2, seed 0) and a darts (seed 1) run of 3 tiny epochs each."""
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for method, seed in (("darts-tse", 0), ("darts", 1)):
        out = root / f"{method}-seed{seed}"
        run_search(SearchConfig(method=method, K=2, seed=seed, dataset="synthetic", synthetic_samples=32,
                                synthetic_image_size=16, batch_size=8, C=4, N=1, epochs=3, threads=1, progress=False,
                                device="cpu", wandb="disabled", out=str(out)), echo=lambda line: None)
        runs.append(out)
    return runs


def test_plot_curves_script_writes_a_png_from_two_runs(two_runs, tmp_path):
    pytest.importorskip("matplotlib")
    output = tmp_path / "plots" / "curves.png"
    result = subprocess.run([sys.executable, "scripts/plot_curves.py", *map(str, two_runs), "-o", str(output)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes()[:8] == PNG_MAGIC and output.stat().st_size > 10_000
    assert f"wrote {output}" in result.stdout


def test_plot_curves_other_dataset_and_clear_errors(two_runs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    main = load_script("plot_curves").main
    assert main([*map(str, two_runs), "--nb201-dataset", "cifar100", "--nb201-split", "valid", "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    # the offline benchmark has no test accuracies: asking for them is a one-line error
    assert main([*map(str, two_runs), "--nb201-split", "test", "-o", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run has NB201 cifar10 test accuracies" in err[0]
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "m.png")]) == 2
    assert "run directory" in capsys.readouterr().err and not (tmp_path / "m.png").exists()


def test_missing_matplotlib_is_a_one_line_error(two_runs, tmp_path, monkeypatch, capsys):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependency, match="pip install matplotlib"):
        plot_curves([load_run(two_runs[0])], tmp_path / "x.png")
    assert load_script("plot_curves").main([str(two_runs[0]), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: plotting needs matplotlib")


def test_run_labels_come_from_config(two_runs):
    runs = [load_run(path) for path in two_runs]
    assert unique_labels(runs) == ["darts-tse K=2 seed 0", "darts seed 1"]
    twins = unique_labels([runs[0], Run(Path("elsewhere"), runs[0].config, runs[0].metrics)])
    assert twins == [f"darts-tse K=2 seed 0 ({two_runs[0].name})", "darts-tse K=2 seed 0 (elsewhere)"]


def test_nb201_series_choice():
    def run(*values):  # rows with cifar10 (valid, test)
        return Run(Path("r"), {}, [{"epoch": i, "nb201": {"cifar10": {"valid": v, "test": t}}} for i, (v, t) in enumerate(values)])

    with_test, valid_only = run((80.0, 90.0), (81.0, 91.0)), run((82.0, None))
    assert choose_nb201([with_test]) == ("cifar10", "test")
    assert choose_nb201([with_test, valid_only]) == ("cifar10", "valid")  # one axis for every run
    assert choose_nb201([with_test], "cifar10-valid") == ("cifar10", "valid")
    with pytest.raises(RunDirError, match="no test accuracy recorded for cifar10-valid"):
        choose_nb201([with_test], "cifar10-valid", "test")  # never silently the full-training-set number
    with pytest.raises(RunDirError, match="no run has NB201 cifar100"):
        choose_nb201([with_test], "cifar100")
    with pytest.raises(RunDirError, match="unknown NB201 dataset"):
        choose_nb201([with_test], "mnist")


def test_export_genotype_prints_the_genotype_of_an_epoch(two_runs, capsys):
    run = two_runs[0]
    metrics = read_jsonl(run / "metrics.jsonl")
    result = subprocess.run([sys.executable, "scripts/export_genotype.py", str(run), "--epoch", "1"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == metrics[1]["genotype"] + "\n"

    main = load_script("export_genotype").main
    assert main([str(run)]) == 0
    assert capsys.readouterr().out == metrics[-1]["genotype"] + "\n"  # the latest epoch by default
    assert main([str(run), "--epoch", "0", "--format", "json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    genotypes = read_jsonl(run / "genotypes.jsonl")
    assert entry["epoch"] == 0 and entry["genotype"] == metrics[0]["genotype"]
    assert entry["nb201_index"] == metrics[0]["nb201_index"] and entry["alpha"] == genotypes[0]["alpha"]
    assert main([str(run), "--epoch", "7"]) == 2
    assert "no epoch 7; its finished epochs are 0..2" in capsys.readouterr().err


def test_export_genotype_writes_to_out_and_keeps_an_existing_file(two_runs, tmp_path, capsys):
    run, main = two_runs[0], load_script("export_genotype").main
    metrics = read_jsonl(run / "metrics.jsonl")
    out = tmp_path / "g.txt"
    assert main([str(run), "-o", str(out)]) == 0
    assert out.read_text() == metrics[-1]["genotype"] + "\n" and capsys.readouterr().out == f"wrote {out}\n"
    out.write_text("mine\n")
    assert main([str(run), "--out", str(out)]) == 2  # never replaced unasked
    assert "exists already" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert main([str(run), "-o", str(out), "--overwrite"]) == 0 and out.read_text() == metrics[-1]["genotype"] + "\n"
    assert main([str(run), "--format", "json", "-o", str(tmp_path / "h.txt")]) == 2  # json goes to a .json file
    assert "must end in .json" in capsys.readouterr().err
    assert main([str(run), "--format", "json", "-o", str(tmp_path / "g.json")]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["genotype"] == metrics[-1]["genotype"]


def test_run_directory_errors(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoFinishedEpoch, match="no finished epoch .it is empty"):  # a failed start's leftover
        genotype_entry(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a search run directory"):
        genotype_entry(tmp_path / "other")
    (tmp_path / "empty" / "metrics.jsonl").write_text("")
    with pytest.raises(RunDirError, match="no finished epoch yet"):
        load_run(tmp_path / "empty")
    with pytest.raises(RunDirError, match="no finished epoch yet"):
        genotype_entry(tmp_path / "empty")


def test_a_partial_last_line_is_skipped(two_runs, tmp_path):
    """A run killed while appending leaves half a line; the readers keep the complete rows."""
    text = (two_runs[1] / "metrics.jsonl").read_text()
    (tmp_path / "metrics.jsonl").write_text(text + text.splitlines()[0][:40])
    assert len(load_run(tmp_path).metrics) == 3
    (tmp_path / "metrics.jsonl").write_text("{oops\n" + text)
    with pytest.raises(RunDirError, match="line 1 is not JSON"):
        load_run(tmp_path)


def test_plot_curves_draws_each_runs_own_series(two_runs, tmp_path, monkeypatch):
    matplotlib_figure = pytest.importorskip("matplotlib.figure")
    drawn = []
    real_savefig = matplotlib_figure.Figure.savefig

    def savefig(figure, *args, **kwargs):
        drawn.append(figure)
        return real_savefig(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib_figure.Figure, "savefig", savefig)
    runs = [load_run(path) for path in two_runs]
    dataset, split = choose_nb201(runs)
    plot_curves(runs, tmp_path / "c.png")
    nb201_axes, loss_axes, skip_axes = drawn[0].axes
    for index, run in enumerate(runs):
        def series(key):
            return [float("nan") if row.get(key) is None else row[key] for row in run.metrics]

        nb201 = [float("nan") if (row["nb201"] or {}).get(dataset, {}).get(split) is None
                 else row["nb201"][dataset][split] for row in run.metrics]
        assert list(nb201_axes.get_lines()[index].get_ydata()) == pytest.approx(nb201, nan_ok=True)
        assert list(loss_axes.get_lines()[2 * index].get_ydata()) == series("train_loss")
        assert list(loss_axes.get_lines()[2 * index + 1].get_ydata()) == series("valid_loss")
        assert list(skip_axes.get_lines()[index].get_ydata()) == series("skip_count")
        assert list(skip_axes.get_lines()[index].get_xdata()) == series("epoch")


def test_plot_alpha_draws_each_edges_op_probabilities_by_epoch(two_runs, tmp_path, monkeypatch, capsys):
    matplotlib_figure = pytest.importorskip("matplotlib.figure")
    drawn = []
    real_savefig = matplotlib_figure.Figure.savefig
    monkeypatch.setattr(matplotlib_figure.Figure, "savefig",
                        lambda figure, *args, **kwargs: (drawn.append(figure), real_savefig(figure, *args, **kwargs))[1])
    main = load_script("plot_alpha").main
    assert main([str(two_runs[1]), "-o", str(tmp_path / "alpha.png")]) == 0
    assert (tmp_path / "alpha.png").read_bytes()[:8] == PNG_MAGIC
    rows = read_jsonl(two_runs[1] / "genotypes.jsonl")
    panels = drawn[0].axes
    assert len(panels) == 6 and panels[2].get_title().startswith("edge 2←1")
    assert "darts seed 1" in drawn[0].get_suptitle() and "softmax(α)" in drawn[0].get_suptitle()
    values = [p for row in read_jsonl(two_runs[1] / "genotypes.jsonl") for edge in row["probabilities"] for p in edge]
    assert f"[{min(values):.6f}, {max(values):.6f}]" in drawn[0].get_suptitle()  # the range, whatever the scale
    assert {axes.get_ylim() for axes in panels} == {(0.0, 1.0)}  # one scale: a 4e-4 drift looks as small as it is
    assert main([str(two_runs[1]), "--zoom", "-o", str(tmp_path / "zoom.png")]) == 0
    low, high = drawn[-1].axes[0].get_ylim()
    assert {axes.get_ylim() for axes in drawn[-1].axes} == {(low, high)} and low < min(values) < max(values) < high < 1
    for edge, axes in enumerate(panels):
        lines = [line for line in axes.get_lines() if line.get_label() in OPS]
        assert [line.get_label() for line in lines] == list(OPS)
        for op, line in enumerate(lines):
            assert list(line.get_xdata()) == [row["epoch"] for row in rows]
            assert list(line.get_ydata()) == [row["probabilities"][edge][op] for row in rows]

    broken = tmp_path / "broken"
    shutil.copytree(two_runs[1], broken)
    capsys.readouterr()
    for probabilities in ([[1.0]], [], [[0.2] * 5] * 5 + [[]]):
        (broken / "genotypes.jsonl").write_text(json.dumps({"epoch": 0, "genotype": "x", "probabilities": probabilities}) + "\n")
        assert main([str(broken), "-o", str(tmp_path / "b.png")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "epoch 0 has no 6×5 'probabilities'" in err[0]
    (broken / "genotypes.jsonl").unlink()  # the fallback: genotype.json, here torn
    (broken / "genotype.json").write_text('{"epoch": 2, "geno')
    assert main([str(broken), "-o", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "genotype.json is not JSON" in err[0]
