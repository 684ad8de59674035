"""The DARTS search network: DARTS' weight count, α layout, the fused mixed forward against a per-op reference,
partial channels, the discrete path, Dirichlet mixing, gradients to α."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from darts_tse.darts_space import DARTS_OPS, DARTS_OPS_NO_NONE, DARTS_V1, DARTS_V2, DartsGenotype, GenotypeError, edge_index
from darts_tse.darts_space.supernet import DartsSearchNetwork
from darts_tse.mixing import build_mixing


def tiny(C=4, layers=3, seed=0, **kw):
    """3 layers: cells normal, reduce, reduce (after a reduction: FactorizedReduce preprocessing)."""
    torch.manual_seed(seed)
    kw.setdefault("mixing", build_mixing("softmax"))
    return DartsSearchNetwork(C, layers, 10, **kw)


def reference_forward(net, x, mix):
    """DARTS' MixedOp Σ_ops w·op(x) edge by edge with the network's own modules (PC-DARTS' cat + shuffle per edge)."""
    s0 = s1 = net.stem(x)
    for cell in net.cells:
        w = mix[int(cell.reduction)]
        states = [cell.preprocess0(s0), cell.preprocess1(s1)]
        for node in range(4):
            total = 0
            for source in range(2 + node):
                e = edge_index(node, source)
                edge, h = cell.edges[e], states[source]
                part = cell.C // cell.k
                op_sum = sum(w[e, k] * op(h[:, :part]) for k, op in enumerate(edge.ops))
                if cell.k == 1:
                    out = op_sum
                else:
                    rest = h[:, part:]
                    rest = F.max_pool2d(rest, 2, 2) if edge.stride == 2 else rest
                    joined = torch.cat([op_sum, rest], dim=1)
                    b, c, hh, ww = joined.shape
                    out = joined.view(b, cell.k, c // cell.k, hh, ww).transpose(1, 2).reshape(b, c, hh, ww)
                total = total + out
            states.append(total)
        s0, s1 = s1, torch.cat(states[2:], dim=1)
    return net.classifier(s1.mean(dim=(2, 3)))


def one_hot(genotype, ops):
    """The mixing that selects the genotype's edges and ops: kept edges one-hot, the others all zero."""
    mix = torch.zeros(2, 14, len(ops), dtype=torch.float64)
    for t, cell in enumerate((genotype.normal, genotype.reduce)):
        for k, (op, source) in enumerate(cell):
            mix[t, edge_index(k // 2, source), ops.index(op)] = 1.0
    return mix


def test_darts_weight_count_and_alpha_layout():
    net = DartsSearchNetwork(16, 8, 10, mixing=build_mixing("softmax"))
    assert sum(p.numel() for p in net.weight_parameters()) == 1_930_618  # DARTS: "param size = 1.930618MB"
    assert net.alpha.shape == (2, 14, 8) and [p is net.alpha for p in net.arch_parameters()] == [True]
    assert dict(net.named_parameters())["alpha"] is net.alpha  # registered: DDP and checkpoints see it
    assert all(p is not net.alpha for p in net.weight_parameters())
    assert len(net.weight_parameters()) + 1 == len(list(net.parameters()))
    assert net.alpha_normal.data_ptr() == net.alpha.data_ptr() and torch.equal(net.alpha_reduce, net.alpha[1])
    assert [i for i, c in enumerate(net.cells) if c.reduction] == [2, 5]
    assert [c.reduction for c in tiny().cells] == [False, True, True]
    no_none = DartsSearchNetwork(16, 8, 10, mixing=build_mixing("dirichlet"), ops=DARTS_OPS_NO_NONE)
    assert no_none.alpha.shape == (2, 14, 7)
    assert sum(p.numel() for p in no_none.weight_parameters()) == 1_930_618  # `none` has no weights


@pytest.mark.parametrize("K, C, track", [(1, 4, False), (2, 4, True), (4, 8, False)])
def test_fused_mixed_forward_and_gradients_equal_the_per_op_reference(K, C, track):
    net = tiny(C, partial_channels=K, track_running_stats=track).double()
    ref = copy.deepcopy(net)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    mix = net.mixing_weights()
    mix_ref = ref.mixing_weights()
    out, expected = net(x, mix), reference_forward(ref, x, mix_ref)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    (out ** 2).sum().backward()
    (expected ** 2).sum().backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-8, atol=1e-10, msg=name)
    for (name, b), c in zip(net.named_buffers(), ref.buffers()):
        torch.testing.assert_close(b, c, rtol=1e-10, atol=1e-10, msg=name)
    assert net.alpha.grad[0].abs().sum() > 0 and net.alpha.grad[1].abs().sum() > 0


@pytest.mark.parametrize("ops", [DARTS_OPS, DARTS_OPS_NO_NONE])
def test_path_forward_equals_one_hot_mixing(ops):
    net = tiny(ops=ops).double()
    ref = copy.deepcopy(net)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for genotype in (DARTS_V2, DartsGenotype.random(np.random.default_rng(3), ops)):
        net.zero_grad()
        ref.zero_grad()
        path_out = net(x, path=genotype)
        mixed_out = ref(x, one_hot(genotype, list(ops)))
        torch.testing.assert_close(path_out, mixed_out, rtol=1e-10, atol=1e-10)
        path_out.sum().backward()
        mixed_out.sum().backward()
        for (name, p), q in zip(net.named_parameters(), ref.parameters()):
            if name != "alpha":
                torch.testing.assert_close(p.grad if p.grad is not None else torch.zeros_like(q), q.grad,
                                           rtol=1e-8, atol=1e-10, msg=name)


def test_path_runs_only_the_genotypes_ops(monkeypatch):
    net = tiny()
    calls = []
    for cell in net.cells:
        for e, edge in enumerate(cell.edges):
            for name, op in zip(edge.names, edge.ops):
                op.register_forward_hook(lambda *a, key=(cell.reduction, e, name): calls.append(key))
    net(torch.randn(2, 3, 8, 8), path=DARTS_V1)
    expected = sorted((red, edge_index(k // 2, j), op) for cell in net.cells for red in [cell.reduction]
                      for k, (op, j) in enumerate(DARTS_V1.reduce if red else DARTS_V1.normal))
    assert sorted(calls) == expected


def test_dirichlet_draws_once_per_forward_per_cell_type_and_edge(monkeypatch):
    net = tiny(mixing=build_mixing("dirichlet")).train()
    x = torch.randn(2, 3, 8, 8)
    draws = []
    original = torch.distributions.Dirichlet.rsample

    def counting(self, sample_shape=()):
        sample = original(self, sample_shape)
        draws.append(sample.shape)
        return sample

    monkeypatch.setattr(torch.distributions.Dirichlet, "rsample", counting)
    torch.manual_seed(5)
    out = net(x)
    assert draws == [torch.Size([2, 14, 8])]  # one sample per (cell type, edge), shared by every cell of the type
    torch.manual_seed(5)
    mix = net.mixing_weights()
    torch.testing.assert_close(net(x, mix), out)
    assert not torch.equal(mix[0], mix[1])
    out.sum().backward()
    assert net.alpha.grad is not None and net.alpha.grad.abs().sum() > 0


def test_genotype_is_darts_rule_on_softmax():
    net = tiny()
    with torch.no_grad():
        net.alpha.normal_(0, 1)
    assert net.genotype() == DartsGenotype.from_alpha(net.alpha)
    assert tiny(ops=DARTS_OPS_NO_NONE).genotype() == DartsGenotype.from_alpha(tiny(ops=DARTS_OPS_NO_NONE).alpha,
                                                                              DARTS_OPS_NO_NONE)
    assert net.probabilities().shape == (2, 14, 8) and not net.probabilities().requires_grad


def test_refusals_in_one_line():
    with pytest.raises(ValueError, match="K=3 must divide C=8") as info:
        DartsSearchNetwork(8, 5, mixing=build_mixing("softmax"), partial_channels=3)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="distinct DARTS ops"):
        DartsSearchNetwork(8, 5, mixing=build_mixing("softmax"), ops=("none", "conv_9x9"))
    net = tiny(ops=("none", "skip_connect", "sep_conv_3x3"))
    with pytest.raises(GenotypeError, match="lacks"):
        net(torch.randn(1, 3, 8, 8), path=DARTS_V2)
    with pytest.raises(GenotypeError, match="DartsGenotype"):
        net(torch.randn(1, 3, 8, 8), path=(0, 1))
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(1, 3, 8, 8), torch.zeros(14, 3))


def test_bf16_autocast_and_channels_last_run():
    net = tiny(autocast_dtype=torch.bfloat16, channels_last=True)
    out = net(torch.randn(2, 3, 8, 8))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    out.sum().backward()
    assert net.alpha.grad is not None and net.alpha.grad.dtype == torch.float32


@pytest.mark.slow
def test_compiled_mixed_forward_equals_eager():
    """torch.compile traces the fused cell (dynamo with the eager backend: the graph capture, not inductor's codegen)."""
    net = tiny()
    x = torch.randn(2, 3, 8, 8)
    mix = net.mixing_weights().detach()
    expected = net(x, mix)
    net.compile_mixed_forward(backend="eager")
    out = net(x, mix)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert net.cells[0].preprocess1[1].weight.grad is not None
