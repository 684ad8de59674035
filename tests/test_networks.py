"""The stand-alone evaluation networks: NB201's equals the NB201 authors' (xautodl's TinyNetwork), their costs."""
from __future__ import annotations

import pytest
import torch

from darts_tse.networks import NB201Network, count_weights, multiply_adds
from darts_tse.space import Genotype

CELLS = [
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|none~0|+|nor_conv_1x1~0|none~1|+|none~0|avg_pool_3x3~1|skip_connect~2|",  # node 1 is zero
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # the empty cell: every cell outputs zeros
]


def _xautodl_network(cell: str, C: int, N: int, num_classes: int):
    xautodl = pytest.importorskip("xautodl", reason="the NB201 authors' code: pip install --no-deps xautodl")
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    assert xautodl is not None
    return TinyNetwork(C, N, Structure.str2structure(cell), num_classes)


@pytest.mark.parametrize("cell", CELLS)
def test_nb201_network_equals_xautodl_tiny_network(cell):
    torch.manual_seed(0)
    theirs = _xautodl_network(cell, 8, 2, 10).double()
    ours = NB201Network(cell, C=8, N=2, num_classes=10).double()
    their_state, our_state = theirs.state_dict(), ours.state_dict()
    assert len(their_state) == len(our_state)
    mapped = {}
    for (our_key, our_value), (their_key, their_value) in zip(our_state.items(), their_state.items()):
        assert our_value.shape == their_value.shape, (our_key, their_key)
        assert our_key.rsplit(".", 1)[-1] == their_key.rsplit(".", 1)[-1], (our_key, their_key)
        value = their_value.clone()
        if value.is_floating_point() and their_key.endswith(("running_mean", "running_var")):
            value = torch.rand_like(value) + (0.5 if "var" in their_key else -0.5)  # non-trivial eval statistics
            their_state[their_key].copy_(value)
        mapped[our_key] = value
    ours.load_state_dict(mapped)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    for mode in (True, False):  # batch statistics, then the running statistics
        theirs.train(mode)
        ours.train(mode)
        expected = theirs(x)[1]
        assert torch.allclose(ours(x), expected, atol=1e-10, rtol=1e-9)
    assert count_weights(ours) == sum(p.numel() for p in theirs.parameters())


def test_nb201_network_skips_none_edges_and_counts_its_costs():
    full = NB201Network("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                        C=16, N=5)
    sparse = NB201Network(Genotype.parse(CELLS[1]), C=16, N=5)
    assert count_weights(full) > count_weights(sparse)
    assert sum(len(cell.ops) for cell in sparse.cells if hasattr(cell, "ops")) == 3 * 5 * 3  # 3 of 6 edges built
    # the 3×3-conv cell's conv multiply-adds by hand: 6 convs of 9·C² per pixel per cell, 15 cells at 32², 16², 8²
    convs = sum(5 * 6 * 9 * (16 * 2**s) ** 2 * (32 // 2**s) ** 2 for s in range(3))
    assert multiply_adds(full, 32) > convs
    assert multiply_adds(full, 32) - convs == multiply_adds(NB201Network(CELLS[2], C=16, N=5), 32)
    assert full.training  # multiply_adds leaves the mode as it was


def test_nb201_network_takes_the_op_names_of_the_genotype():
    with pytest.raises(ValueError, match="unknown op"):
        NB201Network("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


# ---- DARTS' NetworkCIFAR -------------------------------------------------------------------------------------------
def test_darts_v2_has_darts_weight_count_without_the_auxiliary_head():
    from darts_tse.darts_space import DARTS_V2
    from darts_tse.networks import NetworkCIFAR

    network = NetworkCIFAR(DARTS_V2, C=36, layers=20, num_classes=10, auxiliary=True)
    assert count_weights(network) == 3_349_342  # the DARTS paper's "3.3 M"
    assert count_weights(network, exclude=None) > 3_349_342  # the head exists, and is left out of the count
    assert count_weights(NetworkCIFAR(DARTS_V2.to_str(), auxiliary=False)) == 3_349_342


def test_darts_network_drop_path_and_auxiliary_head_act_in_training_only():
    from darts_tse.darts_space import DARTS_V2
    from darts_tse.networks import NetworkCIFAR

    torch.manual_seed(0)
    network = NetworkCIFAR(DARTS_V2, C=4, layers=3, num_classes=10)
    x = torch.randn(4, 3, 32, 32)
    network.eval()
    network.drop_path_prob = 0.0
    logits, auxiliary = network.forward_train(x)
    assert auxiliary is None  # no head in evaluation
    network.drop_path_prob = 0.5
    torch.manual_seed(1)
    assert torch.equal(network(x), logits)  # drop-path off in evaluation
    network.train()
    torch.manual_seed(1)
    dropped, auxiliary = network.forward_train(x)
    assert auxiliary is not None and auxiliary.shape == (4, 10)
    network.drop_path_prob = 0.0
    torch.manual_seed(1)
    kept, _ = network.forward_train(x)
    assert not torch.allclose(dropped, kept)  # drop-path changes the training forward
    torch.manual_seed(1)
    assert torch.equal(network.forward_train(x)[0], kept)  # and nothing else random does


def test_drop_path_keeps_the_expectation():
    from darts_tse.networks import drop_path

    torch.manual_seed(0)
    x = torch.ones(20000, 1, 1, 1)
    out = drop_path(x, 0.2)
    assert set(out.unique().tolist()) == {0.0, 1.25}
    assert abs(out.mean().item() - 1.0) < 0.02
