"""The search-space protocol (darts_tse.spaces): the registry, each space's paths and record fields, the settings
that belong to one space, and the readers on a DARTS-space run directory (no supernet needed here: the files are
written as a DARTS-space search writes them)."""
import json
import math

import numpy as np
import pytest
import torch

from darts_tse.config import ConfigError, OneShotConfig, SearchConfig
from darts_tse.darts_space import DARTS_OPS, DARTS_OPS_NO_NONE, DARTS_V2, DartsGenotype
from darts_tse.mixing import alpha_entropy
from darts_tse.nb201 import BenchmarkError
from darts_tse.nb301 import NB301Error
from darts_tse.space import Genotype
from darts_tse.spaces import SpaceError, get_space, list_spaces, space_info

from conftest import load_script

TINY = dict(dataset="synthetic", synthetic_samples=64, synthetic_image_size=8, batch_size=8, C=4, epochs=1,
            threads=1, wandb="disabled", progress=False, device="cpu")


def test_the_registry_names_both_spaces_and_refuses_others():
    assert list_spaces() == ["nb201", "darts"]
    assert get_space(None).name == "nb201" and get_space("darts").name == "darts"
    with pytest.raises(SpaceError, match="unknown search space 'nas301'; choose one of: nb201, darts"):
        get_space("nas301")
    assert space_info("darts").edge_names()[:5] == ("2<-0", "2<-1", "3<-0", "3<-1", "3<-2")
    assert len(space_info("darts").edge_names()) == 14 and len(space_info("nb201").edge_names()) == 6
    assert space_info("darts").op_names("no-none") == DARTS_OPS_NO_NONE
    assert space_info("darts").op_names("all") == DARTS_OPS


def test_nb201_paths_are_drawn_as_before():
    """The NB201 space draws exactly what the samplers drew before the protocol (same generator calls)."""
    space = get_space("nb201")
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert space.random_path(g1) == tuple(torch.randint(0, 5, (6,), generator=g2).tolist())
    orders = [torch.randperm(5, generator=g2).tolist() for _ in range(6)]
    assert space.fair_paths(g1) == [tuple(order[k] for order in orders) for k in range(5)]
    assert [g.to_str() for g in space.distinct_paths(3, 9)] == [g.to_str() for g in space.distinct_paths(3, 9)]


def test_darts_random_path_is_a_valid_genotype_reproducible_from_the_generator():
    space = get_space("darts")
    a = space.random_path(torch.Generator().manual_seed(3))
    b = space.random_path(torch.Generator().manual_seed(3))
    assert isinstance(a, DartsGenotype) and a == b
    for cell in ("normal", "reduce"):
        pairs = a.cell(cell)
        for node in range(4):
            (op1, in1), (op2, in2) = pairs[2 * node:2 * node + 2]
            assert in1 != in2 and max(in1, in2) < node + 2 and "none" not in (op1, op2)
    paths = space.distinct_paths(20, 1)
    assert len({p.to_str() for p in paths}) == 20 and paths == space.distinct_paths(20, 1)


def test_darts_fair_paths_train_every_non_none_op_of_every_drawn_edge_once():
    paths = get_space("darts").fair_paths(torch.Generator().manual_seed(0))
    assert len(paths) == len(DARTS_OPS_NO_NONE) == 7
    for cell in ("normal", "reduce"):
        for slot in range(8):  # every path keeps the same edges (inputs); the ops on each are a permutation
            assert len({path.cell(cell)[slot][1] for path in paths}) == 1
            assert sorted(path.cell(cell)[slot][0] for path in paths) == sorted(DARTS_OPS_NO_NONE)


def test_darts_record_fields_are_per_cell_type():
    space = get_space("darts")
    fields = space.genotype_fields(DARTS_V2)
    assert fields["genotype"] == DARTS_V2.to_str()
    assert fields["skip_count_normal"] == DARTS_V2.skip_count["normal"] == fields["skip_count"] == 2
    assert fields["skip_count_reduce"] == DARTS_V2.skip_count["reduce"] == 3  # DARTS_V2 as in DARTS genotypes.py
    assert fields["param_free_count_reduce"] == DARTS_V2.param_free_count["reduce"]
    probabilities = torch.softmax(torch.randn(2, 14, 8), dim=-1)
    entropy = space.entropy_fields(alpha_entropy, probabilities)
    assert entropy["alpha_entropy_normal"] == pytest.approx(alpha_entropy(probabilities[0]))
    assert entropy["alpha_entropy_reduce"] == pytest.approx(alpha_entropy(probabilities[1]))
    assert entropy["alpha_entropy"] == pytest.approx(alpha_entropy(probabilities))
    assert get_space("nb201").entropy_fields(alpha_entropy, probabilities[0, :6, :5]).keys() == {"alpha_entropy"}
    assert space.benchmark_fields(None, [DARTS_V2]) == [{"nb301": None}]  # no benchmark: no number, never a guess


def test_genotype_json_names_edges_and_ops_and_reads_back_in_both_spaces():
    darts, nb201 = space_info("darts"), space_info("nb201")
    data = json.loads(json.dumps(darts.genotype_to_dict(DARTS_V2)))
    assert data["edges"]["normal"][0] == {"edge": "2<-" + str(DARTS_V2.normal[0][1]), "op": DARTS_V2.normal[0][0]}
    assert darts.genotype_from_dict(data) == DARTS_V2
    cell = Genotype.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
    data = json.loads(json.dumps(nb201.genotype_to_dict(cell)))
    assert data["cell"][2] == {"edge": "2<-1", "op": "skip_connect"} and nb201.genotype_from_dict(data) == cell


@pytest.mark.parametrize("settings, fragment", [
    (dict(space="nb201", partial_channels=2), "--partial-channels (PC-DARTS' channel sampling) exists in the DARTS"),
    (dict(space="nb201", ops="no-none"), "--ops no-none (DrNAS' op list) exists in the DARTS space only"),
    (dict(space="darts", partial_channels=3), "--partial-channels 3 does not divide --C 4"),
    (dict(space="darts", layers=0), "--layers must be"),
    (dict(space="nas301"), "--space"),
])
def test_settings_of_one_space_are_refused_in_one_line_elsewhere(settings, fragment):
    with pytest.raises(ConfigError) as error:
        SearchConfig(**{**TINY, **settings}).validate()
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_space_settings_are_recorded_and_unused_ones_named():
    config = SearchConfig(**{**TINY, "space": "darts", "layers": 5, "ops": "no-none", "partial_channels": 2,
                             "N": 3}).validate()
    assert {k: config.to_dict()[k] for k in ("space", "layers", "ops", "partial_channels")} == \
        {"space": "darts", "layers": 5, "ops": "no-none", "partial_channels": 2}
    assert any(s.startswith("--N 3 is ignored") for s in config.ignored_settings())
    assert "darts-" in config.default_out()
    assert not any("layers" in s for s in SearchConfig(**TINY).validate().ignored_settings())
    OneShotConfig(**{**TINY, "space": "darts", "probes": 20000}).validate()  # the DARTS space has ~10^18 cells
    with pytest.raises(ConfigError, match="only 15625 cells"):
        OneShotConfig(**{**TINY, "probes": 20000}).validate()


def test_a_benchmark_of_the_other_space_is_one_line(tmp_path):
    csv = tmp_path / "nb201_accuracy.csv"
    csv.write_text("arch\n")
    with pytest.raises(NB301Error, match="is an NB201 benchmark; the DARTS space takes the NB301 surrogate"):
        get_space("darts").load_benchmark(str(csv))
    with pytest.raises(BenchmarkError, match="is an ONNX file"):
        get_space("nb201").load_benchmark(str(tmp_path / "model_v2.onnx"))


def test_train_search_refuses_another_space_s_benchmark_before_building(tmp_path, capsys):
    from darts_tse.cli.search import main

    csv = tmp_path / "table.csv"
    csv.write_text("arch\n")
    argv = ["--space", "darts", "--dataset", "synthetic", "--synthetic-image-size", "8", "--C", "4", "--layers", "5",
            "--epochs", "1", "--threads", "1", "--wandb", "disabled", "--no-progress", "--device", "cpu"]
    assert main([*argv, "--benchmark", str(csv), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "is an NB201 benchmark" in err[0]
    assert main([*argv, "--partial-channels", "3", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.startswith("error: --partial-channels 3 does not divide --C 4")
    assert not (tmp_path / "run").exists()


# ---- the readers on a DARTS-space run ---------------------------------------------------------------------------
def write_darts_run(path, seed: int, accuracies: list[float]) -> list[DartsGenotype]:
    """A DARTS-space search's files as the loop and LocalFiles write them (config, metrics, genotypes)."""
    from darts_tse.tracking import LocalFiles

    rng = np.random.default_rng(seed)
    config = SearchConfig(**{**TINY, "space": "darts", "layers": 5, "seed": seed, "out": str(path)}).to_dict()
    sink = LocalFiles(path)
    path.mkdir()
    sink.start(config, [])
    genotypes = []
    for epoch, accuracy in enumerate(accuracies):
        probabilities = torch.softmax(torch.tensor(rng.normal(size=(2, 14, 8))), dim=-1)
        genotype = DartsGenotype.from_weights(probabilities.numpy())
        genotypes.append(genotype)
        fields = get_space("darts").genotype_fields(genotype)
        record = {"epoch": epoch, "train_loss": 2.0 - epoch / 10, "train_acc": 10.0, "valid_loss": 2.1,
                  "valid_acc": 11.0, "steps": 2, "alpha_steps": 2, "alpha_entropy": 2.0, **fields,
                  "nb301": {"valid_acc": accuracy, "label": "NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, "
                                                            "epoch 98"}, "tse_ema": 2.0, "lr": 0.1, "seconds": 1.0}
        rounded = [[[round(float(v), 6) for v in row] for row in cell] for cell in probabilities]
        sink.log_epoch(record, {"alpha": rounded, "probabilities": rounded})
    return genotypes


def test_export_genotype_prints_darts_literal_and_json(tmp_path, capsys):
    genotypes = write_darts_run(tmp_path / "run", 0, [92.0, 92.5])
    main = load_script("export_genotype").main
    assert main([str(tmp_path / "run"), "--format", "darts"]) == 0
    literal = capsys.readouterr().out.strip()
    assert literal.startswith("Genotype(normal=[(") and DartsGenotype.from_str(literal) == genotypes[-1]
    assert main([str(tmp_path / "run")]) == 0 and capsys.readouterr().out.strip() == literal  # the space's own form
    assert main([str(tmp_path / "run"), "--format", "json", "--epoch", "0"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["space"] == "darts" and entry["nb301"]["valid_acc"] == 92.0
    assert entry["names"]["cell_types"] == ["normal", "reduce"] and len(entry["names"]["edges"]) == 14
    assert space_info("darts").genotype_from_dict(entry["cell"]) == genotypes[0]
    assert main([str(tmp_path / "run"), "--format", "nb201"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --format nb201: the run searched the darts space; use --format "
                                               "darts or json")
    final = json.loads((tmp_path / "run" / "genotype.json").read_text())
    assert final["space"] == "darts" and final["names"]["ops"] == list(DARTS_OPS) and "nb301" in final


def test_plot_alpha_draws_28_panels_and_compare_runs_reads_nb301(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    write_darts_run(tmp_path / "a", 0, [91.0, 92.0])
    write_darts_run(tmp_path / "b", 1, [90.0, 93.0])
    assert load_script("plot_alpha").main([str(tmp_path / "a"), "-o", str(tmp_path / "alpha.png")]) == 0
    assert (tmp_path / "alpha.png").stat().st_size > 10_000
    assert load_script("compare_runs").main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "NB301 surrogate valid" in out and "92.50 ± 0.71" in out  # mean ± sample std of 92 and 93
    assert load_script("plot_curves").main([str(tmp_path / "a"), str(tmp_path / "b"), "-o",
                                            str(tmp_path / "curves.png")]) == 0
    assert math.isclose(json.loads((tmp_path / "a" / "genotype.json").read_text())["nb301"]["valid_acc"], 92.0)


def test_wandb_keys_of_a_darts_record_name_the_cell_types():
    from darts_tse.tracking import flatten_metrics, probability_scalars

    record = {"epoch": 0, "train_loss": 2.0, "train_acc": 10.0, "valid_loss": 2.1, "valid_acc": 11.0,
              "alpha_entropy": 2.0, "alpha_entropy_normal": 2.01, "skip_count_reduce": 3,
              "nb301": {"valid_acc": 92.5, "label": "NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98"}}
    flat = flatten_metrics(record)
    assert flat["alpha/alpha_entropy_normal"] == 2.01 and flat["alpha/skip_count_reduce"] == 3
    assert flat["nb301/cifar10/valid_acc"] == 92.5
    probabilities = torch.softmax(torch.randn(2, 14, 8), dim=-1).tolist()
    scalars = probability_scalars(probabilities, space_info("darts"))
    assert len(scalars) == 2 * 14 * 8
    assert scalars["alpha_probability/reduce/skip_connect/5<-4"] == probabilities[1][13][3]
    nb201 = probability_scalars(torch.full((6, 5), 0.2).tolist())  # NB201's keys as before
    assert set(nb201) >= {"alpha_probability/skip_connect/1<-0", "alpha_probability/none/3<-2"}


def test_console_line_of_a_darts_epoch_names_cell_types_and_the_surrogate():
    from darts_tse.search.loop import console_line

    record = {"epoch": 1, "train_loss": 2.0, "train_acc": 10.0, "valid_loss": 2.1, "valid_acc": 11.0,
              "alpha_steps": 4, "alpha_entropy": 1.9, "skip_count": 2, "skip_count_normal": 2, "skip_count_reduce": 3,
              "nb301": {"valid_acc": 92.01, "label": "NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98"},
              "genotype": DARTS_V2.to_str(), "seconds": 1.0}
    line = console_line(record, 3, space_info("darts"), "no-none")
    assert "skip normal 2 reduce 3" in line and "NB301 surrogate valid 92.01%" in line
    assert f"(ln 7 − H {math.log(7) - 1.9:.1e})" in line
    assert "NB301 n/a" in console_line({**record, "nb301": None}, 3, space_info("darts"))


def test_a_sweep_grids_the_space_like_any_train_search_flag(tmp_path):
    from darts_tse.cli.sweep_plan import plan_jobs
    from darts_tse.sweeps import parse_axes

    fixed = ["--dataset", "synthetic", "--C", "4", "--epochs", "1", "--method", "darts-tse"]
    jobs, notes = plan_jobs(tmp_path / "sw", parse_axes(["space=nb201,darts", "layers=5,8"]), fixed)
    assert [job.name for job in jobs] == ["nb201", "darts-layers5", "darts-layers8"]  # nb201 has no --layers
    assert notes == ["layers is not used by darts-tse (only --space darts builds a supernet of --layers cells (NB201: "
                     "--N cells per stage)): its darts-tse jobs leave it out"]
    assert "--space" in jobs[1].argv and jobs[1].argv[jobs[1].argv.index("--layers") + 1] == "5"
