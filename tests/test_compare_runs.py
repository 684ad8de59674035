"""Means over search seeds: darts_tse.seed_groups, scripts/compare_runs.py and plot_curves.py --mean-over-seeds."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from darts_tse.analysis import (
    Run,
    RunDirError,
    format_summary,
    group_curves,
    group_runs,
    load_run,
    plot_curves,
    summary,
)
from darts_tse.config import SearchConfig
from darts_tse.search import run_search

from conftest import REPO_ROOT, load_script

TINY = dict(K=2, dataset="synthetic", synthetic_samples=32, synthetic_image_size=16, batch_size=8, C=4, N=1, epochs=3,
            threads=1, progress=False, device="cpu", wandb="disabled")


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory) -> dict[str, list[Path]]:
    """Two seeds each of darts and darts-tse (K=2), 3 tiny epochs."""
    root = tmp_path_factory.mktemp("seeds")
    runs: dict[str, list[Path]] = {}
    for method in ("darts", "darts-tse"):
        for seed in (0, 1):
            out = root / f"{method}-seed{seed}"
            run_search(SearchConfig(method=method, seed=seed, out=str(out), **TINY), echo=lambda line: None)
            runs.setdefault(method, []).append(out)
    return runs


def fake_run(name: str, seed: int, nb201: list, skips: list, **settings) -> Run:
    config = {"method": "darts", "seed": seed, "out": name, "threads": 1, "lr": 0.025, **settings}
    metrics = [{"epoch": epoch, "nb201": {"cifar10": {"valid": None, "test": value}}, "skip_count": skip,
                "train_loss": 2.0 - epoch, "valid_loss": 2.5 - epoch, "genotype": f"g{seed}"}
               for epoch, (value, skip) in enumerate(zip(nb201, skips))]
    return Run(Path(name), config, metrics)


def sample_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_runs_that_differ_only_in_seed_and_run_local_settings_form_one_group():
    a = fake_run("a", 0, [80.0], [1])
    b = fake_run("b", 1, [90.0], [2], threads=2, device="cuda", wandb="online")  # not search settings
    c = fake_run("c", 0, [70.0], [0], lr=0.05)  # another search
    d = fake_run("d", 0, [60.0], [0], method="darts-tse", K=100)
    e = fake_run("e", 2, [85.0], [1], K=7, tse_mode="rollout")  # darts does not use K: the same search as a and b
    groups = group_runs([a, b, c, d, e])
    assert [[run.path.name for run in group.runs] for group in groups] == [["a", "b", "e"], ["c"], ["d"]]
    # labels tell the groups apart: the differing setting is named where the method is shared
    assert [group.label for group in groups] == ["darts lr=0.025", "darts lr=0.05", "darts-tse K=100"]
    assert groups[0].seeds == [0, 1, 2]
    assert group_runs([d, fake_run("f", 1, [61.0], [0], method="darts-tse", K=5)])[1].label == "darts-tse K=5"
    with pytest.raises(RunDirError, match="names no known method"):
        group_runs([fake_run("g", 0, [1.0], [0], method="enas")])


def test_settings_a_run_does_not_use_do_not_split_a_group():
    base = fake_run("a", 0, [80.0], [1], dataset="cifar10", epochs=50)
    same = [fake_run("b", 1, [81.0], [1], dataset="cifar10", drnas_reg="kl", kl_weight=0.5, K=3, tse_mode="rollout",
                     synthetic_samples=9),  # darts uses none of these; synthetic sizes do nothing on CIFAR
            fake_run("c", 2, [82.0], [1], dataset="cifar10", epochs=50, lr_min=0.001)]  # a default, written out
    assert len(group_runs([base, *same])) == 1
    tse = [fake_run("t0", 0, [80.0], [1], method="darts-tse", order=1), fake_run("t1", 1, [80.0], [1],
                                                                                  method="darts-tse", order=2)]
    assert len(group_runs(tse)) == 1  # TSE has no second order
    drnas = [fake_run("d0", 0, [80.0], [1], method="drnas", kl_weight=0.1), fake_run("d1", 1, [80.0], [1],
                                                                                     method="drnas", kl_weight=0.2)]
    assert len(group_runs(drnas)) == 1  # kl_weight only acts with --drnas-reg kl
    kl = [fake_run("k0", 0, [80.0], [1], method="drnas", drnas_reg="kl", kl_weight=0.1),
          fake_run("k1", 1, [80.0], [1], method="drnas", drnas_reg="kl", kl_weight=0.2)]
    assert [group.label for group in group_runs(kl)] == ["drnas kl_weight=0.1", "drnas kl_weight=0.2"]
    synthetic = [fake_run("s0", 0, [80.0], [1], dataset="synthetic", synthetic_samples=64),
                 fake_run("s1", 1, [80.0], [1], dataset="synthetic", synthetic_samples=128)]
    assert len(group_runs(synthetic)) == 2


def test_the_same_seed_twice_in_a_group_and_a_run_without_config_are_errors():
    with pytest.raises(RunDirError, match="are the same search .*seed 0"):
        group_runs([fake_run("a", 0, [80.0], [1]), fake_run("b", 0, [81.0], [1])])
    with pytest.raises(RunDirError, match="no config.json"):
        group_runs([Run(Path("bare"), {}, [{"epoch": 0}])])


def test_summary_is_mean_and_sample_std_at_the_last_common_epoch():
    a = fake_run("a", 0, [80.0, 85.0, 87.0], [1, 2, 3])
    b = fake_run("b", 1, [90.0, 92.0], [0, 1])  # one epoch behind
    c = fake_run("c", 2, [70.0, None, 99.0], [2, 2, 2])  # NB201 lacks the genotype at epoch 1
    group, = group_runs([a, b, c])
    item = summary(group, "cifar10", "test")
    assert item["epoch"] == 1  # the last epoch every seed finished
    assert item["nb201"]["n"] == 2 and item["nb201"]["mean"] == pytest.approx(88.5)
    assert item["nb201"]["std"] == pytest.approx(sample_std([85.0, 92.0]))
    assert item["skip_count"] == pytest.approx({"mean": 5 / 3, "std": sample_std([2, 1, 2]), "n": 3})
    assert item["seeds"] == [0, 1, 2] and item["genotypes"] == ["g0", "g1", "g2"]
    at_zero = summary(group, "cifar10", "test", epoch=0)
    assert format_summary([at_zero], "cifar10", "test", given_epoch=True).startswith("At epoch 0 (0-based): mean and")
    assert format_summary([item], "cifar10", "test").startswith("At the last epoch (0-based) every seed of a group")
    assert at_zero["nb201"]["mean"] == pytest.approx(80.0) and at_zero["nb201"]["std"] == pytest.approx(10.0)
    with pytest.raises(RunDirError, match="b has not finished epoch 2"):
        summary(group, "cifar10", "test", epoch=2)
    one = summary(group_runs([a])[0], "cifar10", "test")
    assert one["nb201"]["mean"] == 87.0 and math.isnan(one["nb201"]["std"])  # no spread from one seed


def test_group_curves_average_the_seeds_that_finished_each_epoch():
    a = fake_run("a", 0, [80.0, 85.0, 87.0], [1, 2, 3])
    b = fake_run("b", 1, [90.0, 95.0], [0, 1])
    curves = group_curves(group_runs([a, b])[0], "cifar10", "test")
    nb201 = curves.series["nb201"]
    assert nb201.epochs == [0, 1, 2] and nb201.count == [2, 2, 1]
    assert nb201.mean == pytest.approx([85.0, 90.0, 87.0])
    assert nb201.std[:2] == pytest.approx([sample_std([80.0, 90.0]), sample_std([85.0, 95.0])]) and math.isnan(nb201.std[2])
    assert curves.label == "darts (mean ± std, 1-2 seeds)"  # b stopped after epoch 1
    assert group_curves(group_runs([a, fake_run("c", 2, [1.0, 2.0, 3.0], [0, 0, 0])])[0], "cifar10", "test").label == \
        "darts (mean ± std, 2 seeds)"


def test_compare_runs_script_prints_each_groups_numbers(seed_runs, tmp_path):
    paths = [str(path) for paths in seed_runs.values() for path in paths]
    result = subprocess.run([sys.executable, "scripts/compare_runs.py", *paths, "--out", str(tmp_path / "s.json")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "mean and sample standard deviation (n - 1) over search seeds" in result.stdout
    assert "cifar10-valid valid" in result.stdout  # the offline benchmark: valid numbers, labelled so
    document = json.loads((tmp_path / "s.json").read_text())
    assert [group["label"] for group in document["groups"]] == ["darts", "darts-tse K=2"]
    for group, method in zip(document["groups"], ("darts", "darts-tse")):
        rows = [load_run(path).metrics[-1] for path in seed_runs[method]]
        values = [row["nb201"]["cifar10"]["valid"] for row in rows]
        assert group["epoch"] == 2 and group["seeds"] == [0, 1]
        assert group["nb201"]["mean"] == pytest.approx(sum(values) / 2)
        assert group["nb201"]["std"] == pytest.approx(sample_std(values))
        assert group["curves"]["valid_loss"]["mean"][-1] == pytest.approx(sum(row["valid_loss"] for row in rows) / 2)
        line = next(line for line in result.stdout.splitlines() if line.startswith(group["label"] + "  "))
        assert f"{group['nb201']['mean']:.2f} ± {group['nb201']['std']:.2f}" in line


def test_compare_runs_errors_are_one_line(seed_runs, tmp_path, capsys):
    main = load_script("compare_runs").main
    darts = [str(path) for path in seed_runs["darts"]]
    assert main([darts[0], darts[0]]) == 0  # the same directory twice counts once, and says so
    assert f"{darts[0]} is given twice: counting it once" in capsys.readouterr().err
    assert main([*darts, "--epoch", "9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has not finished epoch 9" in err[0]
    copy = tmp_path / "copy"
    shutil.copytree(seed_runs["darts"][1], copy)
    (copy / "config.json").unlink()
    assert main([darts[0], str(copy)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_plot_mean_over_seeds_draws_the_group_means_with_bands(seed_runs, tmp_path, monkeypatch):
    matplotlib_figure = pytest.importorskip("matplotlib.figure")
    drawn = []
    real_savefig = matplotlib_figure.Figure.savefig
    monkeypatch.setattr(matplotlib_figure.Figure, "savefig",
                        lambda figure, *args, **kwargs: (drawn.append(figure), real_savefig(figure, *args, **kwargs))[1])
    runs = [load_run(path) for paths in seed_runs.values() for path in paths]
    plot_curves(runs, tmp_path / "c.png", mean_over_seeds=True)
    nb201_axes, loss_axes, skip_axes = drawn[0].axes
    assert len(nb201_axes.collections) == 2  # a band per method
    assert len(nb201_axes.get_lines()) == 2 + 4  # a mean per method, then a thin line per seed
    for index, method in enumerate(("darts", "darts-tse")):
        members = [load_run(path) for path in seed_runs[method]]
        skips = [[row["skip_count"] for row in run.metrics] for run in members]
        assert list(skip_axes.get_lines()[index].get_ydata()) == pytest.approx([sum(pair) / 2 for pair in zip(*skips)])
        for seed in range(len(members)):
            thin = skip_axes.get_lines()[2 + 2 * index + seed]
            assert list(thin.get_ydata()) == skips[seed] and thin.get_linewidth() < 1
        losses = [[row["train_loss"] for row in run.metrics] for run in members]
        assert list(loss_axes.get_lines()[2 * index].get_ydata()) == pytest.approx([sum(p) / 2 for p in zip(*losses)])
    assert "mean over search seeds" in nb201_axes.get_title()
    assert load_script("plot_curves").main([*map(str, (p for ps in seed_runs.values() for p in ps)),
                                            "--mean-over-seeds", "-o", str(tmp_path / "m.png")]) == 0


def test_the_table_says_when_fewer_seeds_have_a_number_and_which_seeds_are_unfinished():
    a = fake_run("a", 0, [80.0, 85.0], [1, 2], epochs=2)
    b = fake_run("b", 1, [90.0, None], [0, 1], epochs=2)  # its benchmark lacks the epoch-1 genotype
    c = fake_run("c", 2, [70.0], [2], epochs=2)  # still running: 1 of 2 epochs
    group, = group_runs([a, b, c])
    item = summary(group, "cifar10", "test")
    assert item["epoch"] == 0 and item["unfinished"] == [{"run": "c", "seed": 2, "finished": 1, "epochs": 2}]
    row = format_summary([item], "cifar10", "test").splitlines()[-1]
    assert row.split()[:4] == ["darts", "3", "0", "(unfinished:"] and "seed 2 at 1/2)" in row
    assert f"80.00 ± {sample_std([80.0, 90.0, 70.0]):.2f}" in row and "(n=" not in row
    at_one = summary(group_runs([a, b])[0], "cifar10", "test")
    row = format_summary([at_one], "cifar10", "test").splitlines()[-1]
    assert "85.00 (n=1)" in row  # one of two seeds has the number: no spread, and the n says so
    assert "1.5 ± 0.7" in row and "n/a" not in row
    no_numbers = summary(group_runs([fake_run("d", 0, [None], [0])])[0], "cifar10", "test")
    assert format_summary([no_numbers], "cifar10", "test").splitlines()[-1].split()[3] == "n/a"
    same_cell = summary(group_runs([fake_run("e", 0, [1.0], [0]), fake_run("f", 1, [2.0], [0])])[0], "cifar10", "test")
    same_cell["genotypes"] = ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    assert format_summary([same_cell], "cifar10", "test").endswith("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_json_has_null_for_undefined_numbers_and_write_errors_are_one_line(seed_runs, tmp_path, capsys):
    main = load_script("compare_runs").main
    one_seed = [str(seed_runs["darts"][0])]
    assert main([*one_seed, "--out", str(tmp_path / "one.json")]) == 0
    document = json.loads((tmp_path / "one.json").read_text(), parse_constant=lambda name: pytest.fail(name))
    assert (document["dataset"], document["split"]) == ("cifar10", "valid")
    group, = document["groups"]
    assert group["nb201"]["std"] is None and group["curves"]["nb201"]["std"] == [None, None, None]
    capsys.readouterr()
    assert main([*one_seed, "--out", str(tmp_path)]) == 2  # a directory
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --out {tmp_path} is a folder; give a file name")


def test_unreadable_run_files_are_one_line_errors(seed_runs, tmp_path, capsys):
    main = load_script("compare_runs").main
    for name, text, message in (("config.json", "{not json", "is not JSON"),
                                ("config.json", "[1, 2]", "is not a JSON object"),
                                ("metrics.jsonl", '{"loss": 1}\n{"epoch": 0}\n', "line 1 is not a row of an epoch")):
        broken = tmp_path / f"broken-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(seed_runs["darts"][0], broken)
        (broken / name).write_text(text)
        assert main([str(broken)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_bands_stay_inside_each_metrics_range_and_seed_lines_can_be_left_out(tmp_path, monkeypatch):
    matplotlib_figure = pytest.importorskip("matplotlib.figure")
    drawn = []
    real_savefig = matplotlib_figure.Figure.savefig
    monkeypatch.setattr(matplotlib_figure.Figure, "savefig",
                        lambda figure, *args, **kwargs: (drawn.append(figure), real_savefig(figure, *args, **kwargs))[1])
    runs = [fake_run("a", 0, [99.0, 10.0], [6, 0]), fake_run("b", 1, [80.0, 30.0], [2, 0])]
    plot_curves(runs, tmp_path / "band.png", mean_over_seeds=True, seed_lines=False)
    nb201_axes, _, skip_axes = drawn[0].axes
    assert len(nb201_axes.get_lines()) == 1
    nb201_band = nb201_axes.collections[0].get_paths()[0].vertices[:, 1]
    skip_band = skip_axes.collections[0].get_paths()[0].vertices[:, 1]
    assert nb201_band.max() == pytest.approx(100.0) and skip_band.max() == pytest.approx(6.0)  # clipped, not 103 / 8.8
    assert skip_band.min() == pytest.approx(0.0)


def test_the_band_is_one_sample_std_around_the_mean(tmp_path, monkeypatch):
    matplotlib_figure = pytest.importorskip("matplotlib.figure")
    drawn = []
    real_savefig = matplotlib_figure.Figure.savefig
    monkeypatch.setattr(matplotlib_figure.Figure, "savefig",
                        lambda figure, *args, **kwargs: (drawn.append(figure), real_savefig(figure, *args, **kwargs))[1])
    runs = [fake_run("a", 0, [80.0, 84.0], [1, 2]), fake_run("b", 1, [90.0, 86.0], [1, 4])]
    plot_curves(runs, tmp_path / "band.png", mean_over_seeds=True)
    nb201_axes = drawn[0].axes[0]
    band = nb201_axes.collections[0].get_paths()[0].vertices
    for epoch, values in ((0, [80.0, 90.0]), (1, [84.0, 86.0])):  # both means are 85
        edges = band[band[:, 0] == epoch][:, 1]
        assert edges.min() == pytest.approx(85.0 - sample_std(values)) and edges.max() == pytest.approx(85.0 + sample_std(values))
