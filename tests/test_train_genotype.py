"""Training a found cell from scratch (kind "train"): protocols, the run's records, regularisers on training images
only, exact resume, genotype sources, one-line errors, and compare_runs' table over seeds."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from conftest import load_script
from darts_tse.cli.runs import given_settings
from darts_tse.analysis import GenotypeSourceError, resolve_genotype
from darts_tse.config import TRAIN_PROTOCOLS, ConfigError, TrainConfig, config_from_dict
from darts_tse.darts_space import DARTS_V2
from darts_tse.data import iterate_eval, load_train_test_data
from darts_tse.search import loop as search_loop
from darts_tse.search import run_search
from darts_tse.space import Genotype

CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
TINY = {"dataset": "synthetic", "synthetic_samples": 48, "synthetic_image_size": 16, "C": 4, "N": 1,
        "batch_size": 16, "epochs": 3, "threads": 1, "wandb": "disabled", "progress": False}


def tiny(tmp_path, name="run", **settings) -> TrainConfig:
    values = {"genotype": CELL, "space": "nb201", **TINY, **settings}
    config = TrainConfig(**values).resolve(set(values))
    return dataclasses.replace(config, out=str(tmp_path / name))


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# ---- protocols ---------------------------------------------------------------------------------------------------
def test_protocols_fill_in_what_the_command_line_did_not_name():
    darts = TrainConfig(genotype=DARTS_V2.to_str(), space="darts", epochs=3).resolve({"genotype", "space", "epochs"})
    assert darts.protocol == "darts" and darts.epochs == 3  # the flag wins
    assert (darts.C, darts.layers, darts.batch_size, darts.lr, darts.weight_decay) == (36, 20, 96, 0.025, 3e-4)
    assert (darts.cutout, darts.drop_path, darts.auxiliary_weight, darts.grad_clip) == (16, 0.2, 0.4, 5.0)
    nb201 = TrainConfig(genotype=CELL).resolve({"genotype"})
    assert (nb201.protocol, nb201.epochs, nb201.batch_size, nb201.lr, nb201.C, nb201.N) == ("nb201", 200, 256, 0.1, 16, 5)
    assert nb201.grad_clip is None and nb201.nesterov
    nb301 = TrainConfig(genotype=DARTS_V2.to_str(), space="darts", protocol="nb301").resolve({"protocol"})
    assert (nb301.C, nb301.layers, nb301.epochs, nb301.mixup, nb301.cutout) == (32, 8, 100, 0.2, 16)
    assert all(source for protocol in TRAIN_PROTOCOLS.values() for _, source in protocol.values())
    with pytest.raises(ConfigError, match="--protocol darts trains a darts-space cell"):
        TrainConfig(genotype=CELL, protocol="darts").validate()
    with pytest.raises(ConfigError, match="no drop-path"):
        TrainConfig(genotype=CELL, drop_path=0.2).validate()
    assert type(config_from_dict(nb201.to_dict())) is TrainConfig


# ---- the run's records -------------------------------------------------------------------------------------------
def test_a_training_run_records_its_network_before_the_first_epoch_and_its_curve_estimators(tmp_path, monkeypatch):
    seen = {}
    original = search_loop.run_epoch

    def spy(config, parts, benchmark, tse_ema, epoch):
        if epoch == 0:
            seen["config"] = json.loads((tmp_path / "run" / "config.json").read_text())
        return original(config, parts, benchmark, tse_ema, epoch)

    monkeypatch.setattr(search_loop, "run_epoch", spy)
    config = tiny(tmp_path, genotype_source="command line")
    rows = run_search(config, echo=lambda line: None)
    recorded = seen["config"]
    assert recorded["kind"] == "train" and recorded["genotype"] == CELL and recorded["genotype_source"] == "command line"
    assert recorded["network"]["weights"] > 0 and recorded["network"]["multiply_adds"] > 0
    assert recorded["data"]["train_images"] == 48 and recorded["data"]["test_images"] == 48
    assert "only reported" in recorded["data"]["split"]
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    losses = [row["train_loss"] for row in rows]
    for t, row in enumerate(rows, 1):
        assert {"train_acc", "test_loss", "test_acc", "lr", "drop_path_prob", "seconds"} <= set(row)
        assert "valid_loss" not in row
        assert row["tse"] == pytest.approx(sum(losses[:t]))
        assert row["tse_e"] == pytest.approx(losses[t - 1])
        assert row["tse_ema"] == pytest.approx(sum(0.999 ** (t - s) * losses[s - 1] for s in range(1, t + 1)))
    assert rows[0]["lr"] > rows[1]["lr"] > rows[2]["lr"]  # cosine
    assert not (tmp_path / "run" / "genotypes.jsonl").exists()


def test_drop_path_ramps_linearly_over_the_epochs(tmp_path):
    config = tiny(tmp_path, genotype=DARTS_V2.to_str(), space="darts", protocol="darts", C=2, layers=3,
                  synthetic_samples=16, synthetic_image_size=32, steps_per_epoch=1, epochs=4)
    rows = run_search(config, echo=lambda line: None)
    assert [row["drop_path_prob"] for row in rows] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    network = json.loads((tmp_path / "run" / "config.json").read_text())["network"]
    assert network["weights_with_auxiliary"] > network["weights"]


# ---- cutout and MixUp on training images only ---------------------------------------------------------------------
def test_cutout_and_mixup_touch_training_batches_only(tmp_path):
    from darts_tse.search.components import build_components

    config = tiny(tmp_path, cutout=8, mixup=0.2, steps_per_epoch=1)
    parts = build_components(config, torch.device("cpu"))
    trained, evaluated = [], []
    parts.task.trainer.step = lambda x, y, mixed=None: trained.append((x.clone(), mixed)) or _stats(y)
    stream = parts.data.stream("train", config.batch_size, seed=config.seed)
    clean = next(iter(stream.epoch(0)))[0]
    list(parts.task.train_epoch(stream.epoch(0), epoch=0))
    images, mixed = trained[0]
    assert mixed is not None and 0 <= mixed[1] <= 1  # a MixUp batch: partner labels and λ
    assert not torch.equal(images, clean)
    model_forward = parts.model.forward
    parts.model.forward = lambda x: evaluated.append(x.clone()) or model_forward(x)
    test = parts.data.split("valid")
    parts.task.evaluate(lambda: iterate_eval(test, config.batch_size, parts.data.mean, parts.data.std))
    expected = torch.cat([x for x, _ in iterate_eval(test, config.batch_size, parts.data.mean, parts.data.std)])
    assert torch.equal(torch.cat(evaluated), expected)  # the test images as they are


def _stats(y):
    from darts_tse.training import StepStats

    return StepStats(loss=torch.tensor(1.0), correct=torch.tensor(0), count=int(y.shape[0]))


def test_cutout_zeroes_one_square_per_image():
    from darts_tse.data import cutout

    images = torch.ones(64, 3, 32, 32)
    out = cutout(images, 16, torch.Generator().manual_seed(0))
    zeros = (out[:, 0] == 0).flatten(1).sum(1)
    assert zeros.max() == 256 and zeros.min() >= 64  # a 16×16 square, clipped at the border to at least 8×8
    assert torch.equal((out == 0).all(1), (out[:, :1] == 0).all(1))  # every channel alike


# ---- exact resume ------------------------------------------------------------------------------------------------
class Stop(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_a_killed_training_run_resumes_exactly(tmp_path, space):
    extra = ({"cutout": 8, "mixup": 0.2} if space == "nb201" else
             {"genotype": DARTS_V2.to_str(), "space": "darts", "protocol": "darts", "C": 2, "layers": 3,
              "synthetic_samples": 16, "synthetic_image_size": 32, "mixup": 0.2})
    reference = run_search(tiny(tmp_path, "reference", **extra), echo=lambda line: None)

    def stop_after_epoch_1(line):
        if line.startswith("epoch 1 of"):
            raise Stop()

    with pytest.raises(Stop):
        run_search(tiny(tmp_path, "killed", **extra), echo=stop_after_epoch_1)
    assert len(_rows(tmp_path / "killed")) == 2
    resumed = run_search(tiny(tmp_path, "killed", **extra), resume=True, echo=lambda line: None)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in reference]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in resumed] == strip
    with pytest.raises(ConfigError, match="already holds run files"):  # never overwriting
        run_search(tiny(tmp_path, "killed", **extra), echo=lambda line: None)


# ---- data --------------------------------------------------------------------------------------------------------
def test_npz_and_folder_without_a_test_split_are_one_line_errors(tmp_path):
    from darts_tse.data import DataError

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train_only.npz", x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
             y_train=np.arange(20) % 2)
    with pytest.raises(DataError, match="has no test split.*x_test and y_test"):
        load_train_test_data("npz", tmp_path / "train_only.npz")
    (tmp_path / "images" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="DIR/test/<class>"):
        load_train_test_data("folder", tmp_path / "images")
    with pytest.raises(DataError, match="imagenet16-120"):
        load_train_test_data("imagenet16-120", None)
    np.savez(tmp_path / "both.npz", x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
             y_train=np.arange(20) % 2, x_test=rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
             y_test=np.arange(6) % 2)
    data = load_train_test_data("npz", tmp_path / "both.npz")
    assert (len(data.train), len(data.test), data.record()["test_images"]) == (20, 6, 6)


def test_label_sorted_training_images_train_but_a_search_refuses_them(tmp_path):
    """A training run trains on the whole training set, so images sorted by label (whose halves lack classes) are
    fine there; a search, which splits them in halves, still refuses them in one line."""
    from darts_tse.data import DataError, load_search_data

    rng = np.random.default_rng(0)
    labels = np.sort(np.arange(20) % 4)  # 0,0,...,3,3: the first half holds classes 0-1 only
    np.savez(tmp_path / "sorted.npz", x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8), y_train=labels,
             x_test=rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), y_test=np.arange(8) % 4)
    data = load_train_test_data("npz", tmp_path / "sorted.npz")
    assert data.train.labels.tolist() == labels.tolist() and data.num_classes == 4
    with pytest.raises(DataError, match="have no image in search-train"):
        load_search_data("npz", tmp_path / "sorted.npz")


# ---- genotype sources and the command line -----------------------------------------------------------------------
def test_genotype_sources(tmp_path):
    assert resolve_genotype(CELL).space == "nb201"
    assert resolve_genotype("0").genotype == Genotype.from_index(0).to_str()
    assert resolve_genotype(DARTS_V2.to_str()) == resolve_genotype("DARTS_V2") == \
        resolve_genotype(DARTS_V2.to_str()).__class__("darts", DARTS_V2.to_str(), "command line")
    (tmp_path / "g.json").write_text(json.dumps({"epoch": 3, "genotype": CELL, "alpha": []}))
    assert resolve_genotype(str(tmp_path / "g.json")).genotype == CELL
    (tmp_path / "d.json").write_text(json.dumps(DARTS_V2.to_dict()))
    assert resolve_genotype(str(tmp_path / "d.json")).genotype == DARTS_V2.to_str()
    (tmp_path / "g.txt").write_text(CELL + "\n")
    assert resolve_genotype(str(tmp_path / "g.txt")).source == f"file {tmp_path / 'g.txt'}"
    for bad, message in [("nope", "cannot read a genotype"), ("15625", "out of range"), ("|x~0|", "bad genotype"),
                         ("Genotype(normal=[])", "bad genotype"), (str(tmp_path / "missing.json"), "no such file")]:
        with pytest.raises(GenotypeSourceError, match=message):
            resolve_genotype(bad)


@pytest.mark.slow
def test_a_search_runs_exported_genotype_trains_and_compare_runs_gives_mean_and_std(tmp_path, capsys):
    from darts_tse.cli import search
    assert search.main(["--method", "darts-tse", "--K", "2", "--dataset", "synthetic", "--synthetic-samples", "32",
                        "--synthetic-image-size", "16", "--C", "4", "--N", "1", "--batch-size", "16", "--epochs", "1",
                        "--threads", "1", "--wandb", "disabled", "--no-progress", "--out", str(tmp_path / "search")]) == 0
    export = load_script("export_genotype")
    capsys.readouterr()
    export.main([str(tmp_path / "search"), "--format", "json"])
    (tmp_path / "exported.json").write_text(capsys.readouterr().out)
    train = load_script("train_genotype")
    common = ["--epochs", "1", "--C", "4", "--N", "1", "--batch-size", "16", "--synthetic-samples", "32", "--threads",
              "1", "--wandb", "disabled", "--no-progress"]
    for seed, source in ((0, [str(tmp_path / "search")]),
                         (1, [str(tmp_path / "exported.json"), "--dataset", "synthetic", "--synthetic-image-size", "16"])):
        assert train.main([*source, "--seed", str(seed), "--out", str(tmp_path / f"train-{seed}"), *common]) == 0
    first = json.loads((tmp_path / "train-0" / "config.json").read_text())
    assert first["dataset"] == "synthetic" and first["genotype_source"].startswith("search run")
    capsys.readouterr()
    assert load_script("compare_runs").main([str(tmp_path / "train-0"), str(tmp_path / "train-1")]) == 0
    table = capsys.readouterr().out
    assert "| 2 |" in table and "±" in table  # one genotype, two seeds


def test_command_line_errors_are_one_line(tmp_path, capsys):
    train = load_script("train_genotype")
    cases = [([], "no genotype"), (["nope"], "cannot read a genotype"),
             ([CELL, "--genotype", CELL], "give the genotype once"),
             ([CELL, "--protocol", "nb301"], "--protocol nb301 trains a darts-space cell"),
             ([CELL, "--dataset", "imagenet16-120"], "reads none for imagenet16-120"),
             (["--resume", "--out", str(tmp_path / "none"), CELL], "--resume trains the checkpoint's genotype"),
             (["--resume", "--out", str(tmp_path / "none")], "no checkpoint")]
    for argv, message in cases:
        assert train.main([*argv, "--wandb", "disabled"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], (argv, err)


# ---- the rank study on training runs -----------------------------------------------------------------------------
def _fake_training_run(path, genotype, seed, accs, weights, **settings):
    path.mkdir(parents=True)
    config = TrainConfig(genotype=genotype, dataset="npz", data_dir="x.npz", seed=seed, protocol="nb201",
                         **settings).to_dict()
    (path / "config.json").write_text(json.dumps(config | {"network": {"weights": weights}, "data": {"sha256": "d"}}))
    rows = [{"epoch": e, "train_loss": 2.0 - acc / 100, "train_acc": acc, "test_loss": 2.1 - acc / 100,
             "test_acc": acc, "lr": 0.1, "seconds": 1.0} for e, acc in enumerate(accs)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_rank_estimators_reads_training_runs_with_an_independent_truth(tmp_path, capsys):
    from darts_tse.analysis import load_runs
    from darts_tse.analysis.train_runs import seed_agreement, training_curve_set

    cells = [Genotype.from_index(i).to_str() for i in range(4)]
    for k, cell in enumerate(cells):
        for seed in range(3):
            _fake_training_run(tmp_path / f"c{k}-s{seed}", cell, seed, [10 + k + seed, 20 + 2 * k + seed], 100 * k)
    runs = load_runs(sorted(tmp_path.iterdir()))
    mean = training_curve_set(runs)
    assert len(mean.records) == 4 and mean.records[1].final_test_acc == pytest.approx(22 + 1)  # mean of seeds 0..2
    own = training_curve_set(runs, seed=0)
    assert own.records[1].final_test_acc == pytest.approx(22 + 1.5)  # seeds 1 and 2 only
    assert own.records[1].curve.train_losses == pytest.approx((2.0 - 0.11, 2.0 - 0.22))  # seed 0's curve
    assert [pair[:3] for pair in seed_agreement(runs)] == [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0)]
    assert load_script("rank_estimators").main(["--train-runs", *map(str, sorted(tmp_path.iterdir()))]) == 0
    out = capsys.readouterr().out
    assert "weight counts, Spearman ρ with the truth = +1.000" in out and "seed 0 vs seed 1" in out


def test_search_readers_send_a_training_run_to_its_own_tools(tmp_path, capsys):
    _fake_training_run(tmp_path / "run", CELL, 0, [10, 20], 100)
    for script, argv in (("export_genotype", [str(tmp_path / "run")]),
                         ("plot_curves", [str(tmp_path / "run"), "-o", str(tmp_path / "x.png")])):
        assert load_script(script).main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is a training run" in err[0] and "compare_runs.py" in err[0]
    found = resolve_genotype(str(tmp_path / "run"))  # but its genotype trains again
    assert (found.genotype, found.source, found.data["dataset"]) == (CELL, f"training run {tmp_path / 'run'}", "npz")


def test_a_folder_trains_on_train_and_reports_test(tmp_path):
    from PIL import Image

    from darts_tse.data import DataError

    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 2)):
        for name in ("cat", "dog"):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    data = load_train_test_data("folder", tmp_path / "images", image_size=8)
    assert (len(data.train), len(data.test), data.classes, data.image_size) == (12, 4, ("cat", "dog"), 8)
    assert data.record()["normalisation"]["from"] == "training set"
    (tmp_path / "images" / "test" / "bird").mkdir()
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "images" / "test" / "bird" / "0.png")
    with pytest.raises(DataError, match="classes of .* differ"):
        load_train_test_data("folder", tmp_path / "images", image_size=8)


def test_bf16_training_steps_stay_finite(tmp_path):
    rows = run_search(tiny(tmp_path, precision="bf16", epochs=1, steps_per_epoch=2), echo=lambda line: None)
    assert np.isfinite(rows[0]["train_loss"]) and np.isfinite(rows[0]["test_loss"])


def test_the_protocol_table_of_the_docs_names_the_presets():
    from conftest import REPO_ROOT

    text = (REPO_ROOT / "docs" / "train_genotype.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `--")}
    for flag, name in (("`--epochs`", "epochs"), ("`--batch-size`", "batch_size"), ("`--weight-decay`", "weight_decay")):
        cells = [cell.strip() for cell in rows[flag].split("|")[2:5]]
        for cell, protocol in zip(cells, ("nb201", "darts", "nb301")):
            value = TRAIN_PROTOCOLS[protocol][name][0]
            assert float(cell.split()[0]) == value, (flag, protocol, cell)


def test_a_training_runs_directory_trains_again_under_all_its_settings(tmp_path, capsys):
    train = load_script("train_genotype")
    per_call = ["--threads", "1", "--wandb", "disabled", "--no-progress"]
    first = ["--genotype", CELL, "--dataset", "synthetic", "--synthetic-samples", "16", "--synthetic-image-size", "8",
             "--C", "4", "--N", "1", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8", "--lr", "0.05",
             "--weight-decay", "0.001", "--lr-schedule", "step", "--momentum", "0.8"]
    assert train.main([*first, "--out", str(tmp_path / "seed0"), *per_call]) == 0
    capsys.readouterr()
    assert train.main([str(tmp_path / "seed0"), "--seed", "1", "--out", str(tmp_path / "seed1"), *per_call]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("genotype from training run")]
    assert len(said) == 1 and "batch_size=8" in said[0] and "C=4" in said[0] and "epochs=1" in said[0], said
    assert train.main([str(tmp_path / "seed0"), "--seed", "2", "--batch-size", "16", "--out", str(tmp_path / "b16"),
                       *per_call]) == 0

    def settings(name):
        config = config_from_dict(json.loads((tmp_path / name / "config.json").read_text())).to_dict()
        return {key: value for key, value in config.items() if key not in ("seed", "out", "genotype_source")}

    assert settings("seed1") == settings("seed0")
    assert settings("seed0")["batch_size"] == 8 and settings("seed0")["lr"] == 0.05  # not nb201's 256 and 0.1
    assert settings("b16") == settings("seed0") | {"batch_size": 16}  # what the command line names wins
    capsys.readouterr()
    assert load_script("compare_runs").main([str(tmp_path / "seed0"), str(tmp_path / "seed1")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(rows) == 1 and "| 2 |" in rows[0], rows  # both seeds in one group


def test_a_training_run_named_with_another_protocol_keeps_only_its_data(tmp_path):
    from darts_tse.cli import train_genotype
    path = tmp_path / "run"
    path.mkdir()
    recorded = TrainConfig(genotype=DARTS_V2.to_str(), space="darts", protocol="nb301", dataset="synthetic",
                           C=4, layers=3, batch_size=8, seed=0, out=str(path)).to_dict()
    (path / "config.json").write_text(json.dumps(recorded))
    found = resolve_genotype(str(path))
    assert found.training["C"] == 4 and found.training["protocol"] == "nb301" and "seed" not in found.training
    assert "out" not in found.training and "threads" not in found.training and found.data["dataset"] == "synthetic"
    parser = train_genotype.build_parser
    for argv, expected in (([str(path)], {"C": 4, "layers": 3, "batch_size": 8, "protocol": "nb301"}),
                           ([str(path), "--protocol", "darts"], {"C": 36, "layers": 20, "batch_size": 96})):
        heard = []
        parsed = {key: value for key, value in vars(parser().parse_args(argv)).items()
                  if key not in ("resume", "overwrite", "trust_run_files")}
        args, given = train_genotype.genotype_settings(parsed, given_settings(parser, argv), False, report=heard.append)
        config = TrainConfig(**args).resolve(set(given))
        assert {key: getattr(config, key) for key in expected} == expected and config.dataset == "synthetic"
        assert len(heard) == 1 and ("differs from its protocol nb301" in heard[0]) == ("--protocol" in argv), heard


def test_compare_runs_says_which_settings_split_a_genotype_into_groups(tmp_path, capsys):
    from darts_tse.analysis import load_run
    from darts_tse.analysis.train_runs import training_table
    other = Genotype.from_index(7).to_str()
    for name, genotype, seed, settings in (("a0", CELL, 0, {"batch_size": 64}), ("a1", CELL, 1, {"batch_size": 64}),
                                           ("b0", CELL, 0, {"batch_size": 256, "lr": 0.05}),
                                           ("c0", other, 0, {}), ("c1", other, 1, {})):
        _fake_training_run(tmp_path / name, genotype, seed, [40.0, 50.0], 1000, **settings)
    table = training_table([load_run(tmp_path / name) for name in ("a0", "a1", "b0", "c0", "c1")])
    notes = [line for line in table.splitlines() if line.startswith("note:")]
    assert notes == [f"note: genotype `{CELL}` has 2 groups that differ in batch_size (64 vs 256); lr (0.025 vs 0.05)"]
    alone = training_table([load_run(tmp_path / name) for name in ("a0", "a1", "c0", "c1")])
    assert "note:" not in alone and alone.count("| `") == 2  # one group per genotype: the table as before
    capsys.readouterr()
    assert load_script("compare_runs").main([str(tmp_path / name) for name in ("a0", "b0")]) == 0
    assert "differ in batch_size (64 vs 256)" in capsys.readouterr().out
