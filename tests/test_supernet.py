import pytest
import torch
import torch.nn.functional as F

from darts_tse.mixing import DirichletMixing, SoftmaxMixing, alpha_entropy, build_mixing
from darts_tse.space import NB201SearchNetwork
from reference_cell import reference_forward


def tiny_model(mixing, **kwargs):
    return NB201SearchNetwork(C=4, N=1, num_classes=5, mixing=mixing, **kwargs).double()


@pytest.mark.parametrize("mixing", [SoftmaxMixing(), DirichletMixing()], ids=["softmax", "dirichlet"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_supernet_matches_per_edge_reference(mixing, channels_last):
    torch.manual_seed(1)
    model = tiny_model(mixing, channels_last=channels_last)
    with torch.no_grad():
        model.alpha.normal_()
    x = torch.randn(6, 3, 8, 8, dtype=torch.double)
    y = torch.randint(0, 5, (6,))
    mix = model.mixing_weights()  # one sample shared by both forwards

    fast_loss = F.cross_entropy(model(x, mix), y)
    fast_grads = torch.autograd.grad(fast_loss, list(model.parameters()), retain_graph=True)
    ref_loss = F.cross_entropy(reference_forward(model, x, mix), y)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()))

    assert torch.allclose(fast_loss, ref_loss, atol=1e-10)
    for (name, _), g_fast, g_ref in zip(model.named_parameters(), fast_grads, ref_grads):
        assert torch.allclose(g_fast, g_ref, atol=1e-9), name
    assert model.alpha.shape == (6, 5)


def test_parameter_groups_split_alpha_by_identity():
    model = tiny_model(SoftmaxMixing())
    arch = model.arch_parameters()
    weights = model.weight_parameters()
    assert len(arch) == 1 and arch[0] is model.alpha
    assert all(p is not model.alpha for p in weights)
    assert len(weights) + 1 == len(list(model.parameters()))


def test_one_alpha_is_shared_by_every_cell():
    model = NB201SearchNetwork(C=4, N=2, num_classes=3, mixing=SoftmaxMixing())
    assert sum(p.shape == (6, 5) for p in model.parameters()) == 1
    x = torch.randn(2, 3, 8, 8)
    F.cross_entropy(model(x), torch.tensor([0, 1])).backward()
    assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0


def test_cell_batchnorm_is_not_affine_and_tracking_is_a_flag():
    from darts_tse.space.cell import SearchCell

    for track in (False, True):
        model = NB201SearchNetwork(C=4, N=1, mixing=SoftmaxMixing(), track_running_stats=track)
        cell_bns = [m for layer in model.layers if isinstance(layer, SearchCell) for m in layer.modules()
                    if isinstance(m, torch.nn.BatchNorm2d)]
        assert cell_bns and all(not bn.affine and bn.track_running_stats == track for bn in cell_bns)


def test_dirichlet_samples_lie_on_the_simplex_and_gradients_reach_theta():
    mixing = DirichletMixing()
    theta = torch.randn(6, 5, requires_grad=True)
    sample = mixing.weights(theta, sample=True)
    assert (sample > 0).all()
    assert torch.allclose(sample.sum(dim=-1), torch.ones(6))
    other = mixing.weights(theta, sample=True)
    assert not torch.allclose(sample, other), "each forward draws a new sample"
    (sample * torch.arange(5.0)).sum().backward()
    assert theta.grad is not None and theta.grad.abs().sum() > 0
    # the deterministic view is the Dirichlet mean β/Σβ with β = ELU(θ) + 1
    beta = F.elu(theta.detach()) + 1
    assert torch.allclose(mixing.probabilities(theta.detach()), beta / beta.sum(-1, keepdim=True))


def test_dirichlet_genotype_is_argmax_of_theta():
    model = NB201SearchNetwork(C=4, N=1, mixing=DirichletMixing())
    with torch.no_grad():
        model.alpha.copy_(torch.randn(6, 5))
    assert model.genotype().op_indices == tuple(model.alpha.argmax(dim=-1).tolist())
    assert model.genotype().op_indices == tuple(model.probabilities().argmax(dim=-1).tolist())


def test_kl_regulariser_is_zero_at_the_uniform_prior_and_positive_elsewhere():
    mixing = build_mixing("dirichlet", kl_weight=1e-3)
    assert mixing.regularizer(torch.zeros(6, 5)).abs() < 1e-9  # β = ELU(0)+1 = 1: the prior itself
    theta = torch.randn(6, 5, requires_grad=True)
    reg = mixing.regularizer(theta)
    assert reg > 0
    reg.backward()
    assert theta.grad.abs().sum() > 0
    assert build_mixing("dirichlet").regularizer(theta) is None
    assert SoftmaxMixing().regularizer(theta) is None


def test_alpha_entropy_uniform_and_one_hot():
    assert abs(alpha_entropy(torch.full((6, 5), 0.2)) - torch.log(torch.tensor(5.0)).item()) < 1e-6
    assert alpha_entropy(torch.eye(5)[:1].repeat(6, 1)) < 1e-6
    with pytest.raises(ValueError, match="unknown mixing"):
        build_mixing("gumbel")
