"""The size baselines (space/size.py) against NATS-Bench's published params/FLOPs, their rank correlation with NB201
over all 15,625 cells, and the partial / within-group Spearman ρ (estimators/ranking.py)."""
import bz2
import csv
import json
import pickle

import numpy as np
import pytest

from darts_tse.estimators import grouped_spearman, partial_spearman, spearman
from darts_tse.space.genotype import Genotype
from darts_tse.space.size import DATASET_SHAPES, conv_count, conv_weights, effective_edges, network_size

NATS_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16-120"}


def test_network_size_is_what_nats_bench_publishes_for_its_fixture_cells(nats_fake_dir):
    """params (M) and FLOPs (M) as NATS-Bench's records hold them, for every dataset, counted analytically."""
    checked = 0
    for path in sorted(nats_fake_dir.glob("0*.pickle.pbz2")):
        with bz2.open(path) as handle:  # the NATS-Bench project's own test fixture (a file the test names)
            record = pickle.load(handle)["200"]
        genotype = Genotype.parse(record["arch_str"])
        for (name, _seed), result in record["all_results"].items():
            if name not in NATS_DATASETS:
                continue
            size, classes = DATASET_SHAPES[NATS_DATASETS[name]]
            ours = network_size(genotype, num_classes=classes, image_size=size, effective=False)
            assert ours.params == round(float(result["params"]) * 1e6), (record["arch_str"], name)
            assert ours.flops == round(float(result["flop"]) * 1e6), (record["arch_str"], name)
            checked += 1
    assert checked >= 9


def test_effective_edges_drop_what_never_reaches_the_output():
    # node 1 feeds nothing (2<-1, 3<-1 none): its conv is dead; node 2 has no input (2<-0, 2<-1 none): 3<-2 is dead
    cell = Genotype.parse("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|")
    assert effective_edges(cell) == (False, False, False, True, False, False)
    assert conv_weights(cell) == 1 and conv_count(cell) == 1
    assert network_size(cell).params < network_size(cell, effective=False).params
    resnet = Genotype.parse("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    assert effective_edges(resnet) == (True, False, True, True, False, True)
    assert conv_weights(resnet) == 18 and conv_count(resnet) == 2
    assert conv_weights(Genotype.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")) == 0


@pytest.mark.parametrize("column, convw, convs, within", [("cifar10_test", 0.822, 0.756, 0.458),
                                                       ("cifar100_test", 0.797, 0.769, 0.377),
                                                       ("imagenet16_test", 0.776, 0.763, 0.288)])
def test_conv_weights_rank_all_nb201_cells_like_test_accuracy(nb201_table, column, convw, convs, within):
    """The size baselines' Spearman ρ with NB201's 200-epoch test accuracy over all 15,625 cells, as docs/oneshot.md
    quotes them (measured here): conv weights (= the effective cell's Params and FLOPs ranks), the conv count, and
    conv weights within groups of equal conv count (what is left: 1×1 against 3×3)."""
    with open(nb201_table, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15625
    cells = [Genotype.parse(row["arch"]) for row in rows]
    truth = [float(row[column]) for row in rows]
    weights = [conv_weights(cell) for cell in cells]
    counts = [conv_count(cell) for cell in cells]
    assert spearman(weights, truth) == pytest.approx(convw, abs=5e-4)
    assert spearman([network_size(cell).params for cell in cells], truth) == pytest.approx(convw, abs=5e-4)
    assert spearman(counts, truth) == pytest.approx(convs, abs=5e-4)
    assert grouped_spearman(weights, truth, counts) == pytest.approx(within, abs=5e-4)


def test_partial_spearman_removes_what_the_size_explains():
    rng = np.random.default_rng(0)
    size = rng.normal(size=400)
    signal = rng.normal(size=400)
    truth = size + 0.5 * signal
    only_size = size + 0.01 * rng.normal(size=400)
    assert spearman(only_size, truth) > 0.8
    assert abs(partial_spearman(only_size, truth, size)) < 0.15  # nothing beyond the size
    assert partial_spearman(signal, truth, size) > 0.6  # what the size does not explain
    assert np.isnan(partial_spearman(size, truth, size))


def test_grouped_spearman_is_the_size_weighted_mean_within_groups():
    x = [1, 2, 3, 4, 1, 2, 3, 9, 9]
    y = [1, 2, 3, 4, 3, 2, 1, 5, 6]
    groups = ["a"] * 4 + ["b"] * 3 + ["c"] * 2  # c is below min_size 3
    assert grouped_spearman(x, y, groups) == pytest.approx((4 * 1.0 + 3 * -1.0) / 7)
    assert np.isnan(grouped_spearman(x, y, list(range(9))))


def test_rank_estimators_puts_the_size_baselines_beside_the_estimators(nats_fake_dir, tmp_path, capsys):
    from darts_tse.cli import rank_estimators

    out = tmp_path / "rank.json"
    assert rank_estimators.main(["--nats-dir", str(nats_fake_dir), "--max-epochs", "20", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "baselines, no training (Spearman ρ with the same truth): ConvW" in report and "ρ|size" in report
    document = json.loads(out.read_text())
    ids = document["architectures"]
    cells = [Genotype.from_index(int(i)) for i in ids]
    assert set(document["baselines"]) == {"ConvW", "Params", "FLOPs"}
    assert set(document["beyond_size"]["TSE"]) == {"partial", "grouped"}
    # the three fixture cells' conv weights: 2 (two 1×1), 27 (three 3×3), 1 (one 1×1)
    assert sorted(conv_weights(c) for c in cells) == [1, 2, 27]
