"""The baselines and the reference's protocol switches in rank_subnets' table (ranking/baselines.py, ranking/study.py)."""
import json

import pytest
import torch

from darts_tse.cli import rank_subnets
from darts_tse.config import OneShotConfig
from darts_tse.estimators import grouped_spearman, partial_spearman, spearman
from darts_tse.networks import NB201Network, count_weights
from darts_tse.ranking import ZeroCostSettings, zero_cost_scores
from darts_tse.search import run_search
from darts_tse.space import Genotype
from darts_tse.space.size import conv_weights, network_size

TINY = dict(dataset="synthetic", synthetic_samples=96, synthetic_image_size=8, batch_size=16, C=4, N=1, epochs=1,
            threads=1, wandb="disabled", progress=False, device="cpu", probes=2)
ZERO_COST = ["--zero-cost-C", "4", "--zero-cost-N", "1", "--zero-cost-batch", "8"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("oneshot") / "run"
    run_search(OneShotConfig(**TINY, out=str(out)), echo=lambda line: None)
    return out


def _study(run, nb201_table, tmp_path, *extra):
    path = tmp_path / f"study{len(list(tmp_path.iterdir()))}.json"
    argv = [str(run), "--subnets", "10", "--B", "2", "4", "--valid-batches", "1", "--benchmark", str(nb201_table),
            "--no-progress", "--out", str(path), *ZERO_COST, *extra]
    assert rank_subnets.main(argv) == 0
    return json.loads(path.read_text())["runs"][0]


@pytest.mark.parametrize("genotype", ["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|",
                                      "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"])
def test_the_stand_alone_network_has_the_weights_the_analytic_count_says(genotype):
    cell = Genotype.parse(genotype)
    for classes in (10, 100):
        assert count_weights(NB201Network(cell, 16, 5, classes)) == network_size(cell, num_classes=classes,
                                                                                 effective=False).params


def test_zero_cost_scores_are_seeded_per_cell_and_leave_the_global_generator_alone():
    cell = Genotype.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    x, y = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4, 5])
    settings = ZeroCostSettings(C=4, N=1, batch_size=6)
    state = torch.random.get_rng_state()
    first = zero_cost_scores(cell, x, y, 10, settings)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert zero_cost_scores(cell, x, y, 10, settings) == first
    assert set(first) == {"SNIP", "SynFlow", "JacCov"} and first["SNIP"] > 0 and first["SynFlow"] > 0


def test_every_rank_table_has_the_size_and_zero_cost_baselines_and_what_tse_adds(run, nb201_table, tmp_path, capsys):
    study = _study(run, nb201_table, tmp_path)
    report = capsys.readouterr().out
    for name in ("TSE", "TSE-E", "ConvW", "Params", "FLOPs", "SNIP", "SynFlow", "JacCov"):
        assert name in study["table"] and f"\n{name} " in report
    assert "ρ|size B=2" in report and "ρ|convs B=4" in report
    rows = study["subnets"]
    truths = [row["truth"] for row in rows]
    cells = [Genotype.parse(row["genotype"]) for row in rows]
    assert [row["baselines"]["ConvW"] for row in rows] == [conv_weights(c) for c in cells]
    assert study["table"]["ConvW"]["2"]["spearman"] == pytest.approx(spearman([conv_weights(c) for c in cells], truths))
    tse = [-row["estimates"]["4"]["TSE"] for row in rows]
    params = [row["baselines"]["Params"] for row in rows]
    assert study["table"]["TSE"]["4"]["partial"] == pytest.approx(partial_spearman(tse, truths, params))
    convs = [row["baselines"]["convs"] for row in rows]
    grouped = grouped_spearman(tse, truths, convs)
    assert study["table"]["TSE"]["4"]["grouped"] == (None if grouped != grouped else pytest.approx(grouped))
    assert study["table"]["Params"]["2"]["partial"] is None  # Params given Params says nothing
    snip = [row["baselines"]["SNIP"] for row in rows]
    assert study["table"]["SNIP"]["4"]["spearman"] == pytest.approx(spearman(snip, truths))
    # the zero-cost scores are kept beside the traces: a second study computes none again
    cache = next((run / "subnet_rankings").iterdir())
    stored = next(cache.glob("zero_cost-*.jsonl")).read_text()
    assert len(stored.splitlines()) == 10
    again = _study(run, nb201_table, tmp_path)
    assert next(cache.glob("zero_cost-*.jsonl")).read_text() == stored and again["table"] == study["table"]


def test_tse_e_and_the_budget_offset_read_the_trace_as_documented(run, nb201_table, tmp_path):
    ours = _study(run, nb201_table, tmp_path, "--tse-e-last", "2", "--no-zero-cost")
    shifted = _study(run, nb201_table, tmp_path, "--budget-offset", "1", "--no-zero-cost")
    assert "SNIP" not in ours["table"] and "ConvW" in ours["table"]
    trace_file = next(p for p in (run / "subnet_rankings").iterdir()
                      if json.loads((p / "settings.json").read_text())["budgets"] == [3, 5]) / "traces.jsonl"
    traces = {t["genotype"]: t for t in map(json.loads, trace_file.read_text().splitlines())}
    for row, ref in zip(ours["subnets"], shifted["subnets"]):
        losses = traces[row["genotype"]]["train_losses"]
        assert row["estimates"]["4"]["TSE-E"] == pytest.approx(row["estimates"]["4"]["TSE"] - row["estimates"]["2"]["TSE"])
        assert ref["estimates"]["4"]["TSE"] == pytest.approx(sum(losses[:5]))  # "B = 4" after 5 steps
        assert ref["estimates"]["2"]["TLmini"] == losses[2]
    assert shifted["protocol"]["budget_offset"] == 1


def test_reference_val_acc_is_one_64_image_minibatch_and_the_clip_can_be_dropped(run, nb201_table, tmp_path):
    reference = _study(run, nb201_table, tmp_path, "--val-acc", "reference", "--no-finetune-clip", "--no-zero-cost")
    assert reference["protocol"]["val_acc"] == "reference" and reference["protocol"]["finetune_grad_clip"] is None
    assert reference["settings"]["valid_batch_size"] == 64 and reference["settings"]["valid_batches"] == 1
    assert reference["settings"]["grad_clip"] is None
    # search-valid here holds 48 images: the one minibatch is all of them, as a batch of 16 x 1 is not
    default = _study(run, nb201_table, tmp_path, "--no-zero-cost")
    assert "valid_batch_size" not in default["settings"]  # earlier studies' cache keys are unchanged


def test_an_undefined_zero_cost_score_ranks_last():
    from darts_tse.ranking import ESTIMATORS, rank_table

    rows = []
    for i, jac in enumerate([1.0, 2.0, float("nan"), 3.0]):
        rows.append({"truth": [20.0, 30.0, 10.0, 40.0][i],
                     "estimates": {"1": {name: float(i) for name in ESTIMATORS}},
                     "baselines": {"ConvW": i, "Params": i, "FLOPs": i, "convs": i, "SNIP": 1.0, "SynFlow": 1.0,
                                   "JacCov": jac}})
    table = rank_table(rows, [1])
    assert table["JacCov"]["1"]["spearman"] == pytest.approx(1.0)  # NaN scored below every defined score
    assert table["SNIP"]["1"]["spearman"] is None  # a constant score: undefined


def test_a_study_asked_for_its_bars_writes_no_bar_frames_into_a_file_or_pipe(tmp_path, capsys):
    """Without --no-progress the bars are on only where stderr is a terminal: none of their frames reach a log."""
    run = tmp_path / "run"
    run_search(OneShotConfig(**TINY, out=str(run)), echo=lambda line: None)
    argv = [str(run), "--subnets", "2", "--B", "1", "--valid-batches", "1", "--out", str(tmp_path / "study.json"),
            *ZERO_COST]
    assert rank_subnets.main(argv) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "cell/s" not in err and "subnet/s" not in err
