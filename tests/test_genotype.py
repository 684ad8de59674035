import csv

import pytest
import torch

from darts_tse.space import OPS, Genotype, GenotypeError

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_parse_format_identity_for_all_cells():
    seen = set()
    for genotype in Genotype.all():
        text = genotype.to_str()
        assert Genotype.parse(text) == genotype
        assert Genotype.parse(text).to_str() == text
        seen.add(text)
    assert len(seen) == 15625


def test_index_round_trip_for_all_cells():
    for index in range(15625):
        assert Genotype.from_index(index).index == index


def test_index_and_string_agree_with_official_table(nb201_table):
    with open(nb201_table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15625
    for row in rows:
        genotype = Genotype.parse(row["arch"])
        assert genotype.index == int(row["index"])
        assert Genotype.from_index(int(row["index"])).to_str() == row["arch"]


def test_known_cells():
    assert Genotype.from_index(6111).to_str() == BEST_C10
    skip = Genotype.parse(ALL_SKIP)
    assert skip.skip_count == 6 and skip.param_free_count == 6
    best = Genotype.parse(BEST_C10)
    assert best.skip_count == 1 and best.param_free_count == 1
    assert best.ops == ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1")


def test_edges_may_be_listed_in_any_source_order_but_format_is_canonical():
    shuffled = "|none~0|+|skip_connect~1|nor_conv_1x1~0|+|avg_pool_3x3~2|none~0|nor_conv_3x3~1|"
    genotype = Genotype.parse(shuffled)
    assert genotype.to_str() == "|none~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def test_from_alpha_is_argmax_per_edge():
    alpha = torch.zeros(6, 5)
    expected = [3, 1, 0, 4, 2, 3]
    for edge, op in enumerate(expected):
        alpha[edge, op] = 1.0
    assert Genotype.from_alpha(alpha).op_indices == tuple(expected)
    with pytest.raises(GenotypeError, match="shape"):
        Genotype.from_alpha(torch.zeros(5, 5))


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_5x5'"),
        ("|none~0|+|none~0|none~1|", "3 node groups"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 group"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed edge 'none0'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "earlier node"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "appears twice"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "malformed node group"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~²|", "malformed edge 'none~²'"),  # a digit, but not 0-9
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~٢|", "malformed edge 'none~٢'"),  # Arabic-Indic two
    ],
)
def test_malformed_strings_name_the_bad_part(bad, fragment):
    with pytest.raises(GenotypeError, match=fragment.replace("|", r"\|").replace("(", r"\(")):
        Genotype.parse(bad)


def test_out_of_range_index_and_ops():
    with pytest.raises(GenotypeError, match="0..15624"):
        Genotype.from_index(15625)
    with pytest.raises(GenotypeError, match="unknown op"):
        Genotype(("none",) * 5 + ("max_pool",))
    assert len(OPS) == 5
