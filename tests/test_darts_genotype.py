"""The DARTS-space genotype: DARTS' literal, JSON, the derivation rule, random cells, counts."""
import json

import numpy as np
import pytest
import torch

from darts_tse.darts_space import (
    DARTS_OPS,
    DARTS_OPS_NO_NONE,
    DARTS_V1,
    DARTS_V2,
    EDGES,
    DartsGenotype,
    GenotypeError,
    edge_index,
)

# The line as published in quark0/darts cnn/genotypes.py.
DARTS_V2_LITERAL = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def darts_reference_parse(weights, ops):
    """quark0/darts Network.genotype's _parse, restated line by line on a (14, n_ops) array of softmax weights."""
    none = ops.index("none") if "none" in ops else None
    gene, n, start = [], 2, 0
    for i in range(4):
        end = start + n
        W = weights[start:end]
        edges = sorted(range(i + 2), key=lambda x: -max(W[x][k] for k in range(len(W[x])) if k != none))[:2]
        for j in edges:
            k_best = None
            for k in range(len(W[j])):
                if k != none and (k_best is None or W[j][k] > W[j][k_best]):
                    k_best = k
            gene.append((ops[k_best], j))
        start, n = end, n + 1
    return gene


def test_edge_numbering_is_darts_order():
    assert len(EDGES) == 14
    assert [edge_index(i, 0) for i in range(4)] == [0, 2, 5, 9]
    assert all(EDGES[edge_index(i, j)] == (i, j) for i, j in EDGES)
    with pytest.raises(GenotypeError):
        edge_index(0, 2)


def test_published_constants_format_as_darts_literal():
    assert DARTS_V2.to_str() == DARTS_V2_LITERAL
    assert str(DARTS_V2) == DARTS_V2_LITERAL
    assert DartsGenotype.from_str(DARTS_V2_LITERAL) == DARTS_V2
    assert DartsGenotype.from_str(DARTS_V1.to_str()) == DARTS_V1
    assert DARTS_V1 != DARTS_V2
    assert DARTS_V2.normal[7] == ("dil_conv_3x3", 2)
    assert DARTS_OPS[0] == "none" and DARTS_OPS_NO_NONE == DARTS_OPS[1:] and len(DARTS_OPS) == 8


def test_parser_accepts_darts_spellings():
    named = "DARTS_V2 = " + DARTS_V2_LITERAL
    assert DartsGenotype.from_str(named) == DARTS_V2
    ranged = DARTS_V2_LITERAL.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert DartsGenotype.from_str(ranged) == DARTS_V2  # DARTS' own genotype() prints range(2, 6)
    positional = f"genotypes.Genotype({list(DARTS_V2.normal)!r}, [2, 3, 4, 5], {list(DARTS_V2.reduce)!r}, range(2, 6))"
    assert DartsGenotype.from_str(positional) == DARTS_V2
    tuples = DARTS_V2_LITERAL.replace("[", "(").replace("]", ")")
    assert DartsGenotype.from_str(tuples) == DARTS_V2


@pytest.mark.parametrize(
    "text, words",
    [
        ("Genotype(normal=[", "malformed"),
        ("print('x')", "Genotype(normal"),
        ("Genotype(normal=__import__('os').system('touch /tmp/i23a/pwned'), normal_concat=[2], reduce=[], reduce_concat=[])", "not a literal"),
        (DARTS_V2_LITERAL.replace("'sep_conv_3x3', 0", "'conv_7x7', 0", 1), "unknown op"),
        (DARTS_V2_LITERAL.replace("'sep_conv_3x3', 0", "'none', 0", 1), "unknown op"),
        (DARTS_V2_LITERAL.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 6)"), "inputs 0..4"),
        (DARTS_V2_LITERAL.replace("('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", "('sep_conv_3x3', 1), ('sep_conv_3x3', 1)", 1), "twice"),
        (DARTS_V2_LITERAL.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"), "normal_concat"),
        (DARTS_V2_LITERAL.replace("reduce_concat", "reduce_cat"), "no field"),
        (DARTS_V2_LITERAL.replace(", reduce_concat=[2, 3, 4, 5]", ""), "lacks reduce_concat"),
        (DARTS_V2_LITERAL.replace("('dil_conv_3x3', 2)], normal_concat", "], normal_concat"), "8 (op, input) pairs"),
        (DARTS_V2_LITERAL + "\nx = 1", "one Genotype"),
    ],
)
def test_parser_refuses_malformed_literals_in_one_line(text, words):
    with pytest.raises(GenotypeError) as info:
        DartsGenotype.from_str(text)
    assert words in str(info.value) and "\n" not in str(info.value)
    import os

    assert not os.path.exists("/tmp/i23a/pwned")


def test_json_round_trip_and_refusals():
    data = json.loads(json.dumps(DARTS_V1.to_dict()))
    assert data["normal"][0] == ["sep_conv_3x3", 1]
    assert DartsGenotype.from_dict(data) == DARTS_V1
    with pytest.raises(GenotypeError, match="exactly"):
        DartsGenotype.from_dict({**data, "extra": 1})
    with pytest.raises(GenotypeError, match="integer"):
        DartsGenotype.from_dict({**data, "normal": [["sep_conv_3x3", True]] + data["normal"][1:]})
    with pytest.raises(GenotypeError, match="JSON object"):
        DartsGenotype.from_dict([1, 2])


def test_immutable_and_hashable():
    g = DartsGenotype(normal=list(DARTS_V2.normal), reduce=list(DARTS_V2.reduce))
    assert g == DARTS_V2 and hash(g) == hash(DARTS_V2) and isinstance(g.normal, tuple)
    with pytest.raises(AttributeError):
        g.normal = ()


def _logits(probs):
    return np.log(np.asarray(probs, dtype=np.float64))


def test_derivation_rule_on_hand_made_alpha_differs_from_naslib():
    """Node 1 (edges from states 0, 1, 2). After softmax: edge 0 is mostly `none` (0.86) with sep_conv_3x3 0.08;
    edge 1 has sep_conv_5x5 0.3; edge 2 has dil_conv_3x3 0.25. DARTS ranks by the largest non-none weight
    (0.08 < 0.25 < 0.3) and keeps inputs 1, 2; NASLib renormalises without none first (0.08/0.14 = 0.57 > 0.33 > 0.31)
    and would keep inputs 0, 1."""
    uniform = np.full(8, 1 / 8)
    probs = np.tile(uniform, (2, 14, 1))
    e0 = np.full(8, 0.01)
    e0[0], e0[4] = 0.86, 0.08  # none, sep_conv_3x3
    e1 = np.full(8, 0.1)
    e1[5] = 0.3  # sep_conv_5x5
    e2 = np.full(8, 0.55 / 6)
    e2[0], e2[6] = 0.2, 0.25  # dil_conv_3x3
    probs[0, 2:5] = e0, e1, e2
    probs[1, 0, 0], probs[1, 0, 3] = 0.5, 0.3  # reduce node 0, input 0: argmax is none, so the op is skip_connect
    probs[1, 0, [1, 2, 4, 5, 6, 7]] = 0.2 / 6
    probs[1, 1] = uniform
    g = DartsGenotype.from_alpha(_logits(probs))
    assert g.normal[2:4] == (("sep_conv_5x5", 1), ("dil_conv_3x3", 2))
    # Uniform edges tie: the lower input and the first non-none op win, as in DARTS' stable sort.
    assert g.normal[0:2] == (("max_pool_3x3", 0), ("max_pool_3x3", 1))
    assert g.reduce[0] == ("skip_connect", 0)
    # NASLib's rule on the same weights would keep inputs 0 and 1 for node 1.
    renorm = probs[0, 2:5, 1:] / probs[0, 2:5, 1:].sum(axis=1, keepdims=True)
    assert sorted(np.argsort(-renorm.max(axis=1), kind="stable")[:2].tolist()) == [0, 1]


def test_derivation_equals_darts_own_parse_on_random_alpha():
    rng = np.random.default_rng(0)
    for ops in (DARTS_OPS, DARTS_OPS_NO_NONE):
        for _ in range(200):
            alpha = rng.normal(0, rng.choice([1e-3, 1.0]), size=(2, 14, len(ops)))
            probs = np.exp(alpha) / np.exp(alpha).sum(-1, keepdims=True)
            g = DartsGenotype.from_alpha(alpha, ops)
            assert list(g.normal) == darts_reference_parse(probs[0], list(ops))
            assert list(g.reduce) == darts_reference_parse(probs[1], list(ops))
    alpha = torch.randn(2, 14, 8, dtype=torch.float32, requires_grad=True)
    assert DartsGenotype.from_alpha(alpha) == DartsGenotype.from_alpha(alpha.detach().numpy())


def test_derivation_refuses_bad_alpha():
    with pytest.raises(GenotypeError, match=r"\(2, 14, 8\)"):
        DartsGenotype.from_alpha(np.zeros((14, 8)))
    with pytest.raises(GenotypeError, match=r"\(2, 14, 7\)"):
        DartsGenotype.from_alpha(np.zeros((2, 14, 8)), DARTS_OPS_NO_NONE)
    with pytest.raises(GenotypeError, match="NaN"):
        DartsGenotype.from_alpha(np.full((2, 14, 8), np.nan))
    with pytest.raises(GenotypeError, match="distinct DARTS ops"):
        DartsGenotype.from_alpha(np.zeros((2, 14, 2)), ("none", "conv"))


def test_random_genotypes_are_valid_paths():
    rng = np.random.default_rng(1)
    draws = [DartsGenotype.random(rng) for _ in range(300)]
    ops_seen, inputs_seen = set(), set()
    for g in draws:
        for cell in (g.normal, g.reduce):
            for node in range(4):
                (_, a), (_, b) = cell[2 * node:2 * node + 2]
                assert a < b <= node + 1  # distinct, sorted, among the earlier states
                inputs_seen.add((node, a, b))
            ops_seen.update(op for op, _ in cell)
    assert ops_seen == set(DARTS_OPS_NO_NONE)
    assert len(inputs_seen) == 1 + 3 + 6 + 10  # every pair of inputs of every node occurs
    again = np.random.default_rng(1)
    assert [DartsGenotype.random(again) for _ in range(300)] == draws
    only = DartsGenotype.random(np.random.default_rng(2), ("none", "skip_connect"))
    assert {op for op, _ in only.normal + only.reduce} == {"skip_connect"}


def test_counts_per_cell_type():
    assert DARTS_V2.skip_count == {"normal": 2, "reduce": 3}
    assert DARTS_V2.param_free_count == {"normal": 2, "reduce": 8}
    assert DARTS_V1.skip_count == {"normal": 3, "reduce": 3}
    assert DARTS_V1.param_free_count == {"normal": 3, "reduce": 8}


def test_edges_and_canonical_order():
    assert DARTS_V2.edges("normal") == {0: "sep_conv_3x3", 1: "sep_conv_3x3", 2: "sep_conv_3x3", 3: "sep_conv_3x3",
                                        6: "sep_conv_3x3", 5: "skip_connect", 9: "skip_connect", 11: "dil_conv_3x3"}
    assert DARTS_V1.canonical().normal[:2] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert DARTS_V1.canonical().edges("reduce") == DARTS_V1.edges("reduce")
    with pytest.raises(GenotypeError, match="cell type"):
        DARTS_V1.cell("both")


def test_genotypes_and_nb301_encoding_load_no_torch():
    """Run readers use DARTS genotypes and the NB301 encoding without torch (package __init__s included)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from darts_tse.darts_space import DartsGenotype, DARTS_V2; from darts_tse.nb301 import encode;"
            "g = DartsGenotype.from_str(DARTS_V2.to_str()); encode(g); DartsGenotype.from_alpha([[[0.0] * 8] * 14] * 2);"
            "print('torch' in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
