import pytest
import torch
import torch.nn.functional as F

from darts_tse.mixing import DirichletMixing, SoftmaxMixing, alpha_entropy, build_mixing
from darts_tse.space import NB201SearchNetwork

from reference_cell import reference_forward


def tiny_model(mixing, **kwargs):
    return NB201SearchNetwork(C=4, N=1, num_classes=5, mixing=mixing, **kwargs).double()


def _loss_and_grads(model, forward, x, y, mix):
    loss = F.cross_entropy(forward(x, mix), y)
    return loss, torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)


def assert_matches_reference(model, x, y, mix, fast=None):
    """The fast supernet's loss and every parameter's gradient equal the per-edge reference's (same weights and mix);
    `fast` passes in an already computed (loss, grads) of the fast supernet."""
    fast_loss, fast_grads = fast or _loss_and_grads(model, model, x, y, mix)
    ref_loss, ref_grads = _loss_and_grads(model, lambda inputs, m: reference_forward(model, inputs, m), x, y, mix)
    assert torch.allclose(fast_loss, ref_loss, atol=1e-10)
    for (name, _), g_fast, g_ref in zip(model.named_parameters(), fast_grads, ref_grads):
        assert torch.allclose(g_fast, g_ref, atol=1e-9), name


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

    assert_matches_reference(model, x, y, mix)
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




@pytest.mark.parametrize("mixing", [SoftmaxMixing(), DirichletMixing()], ids=["softmax", "dirichlet"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_supernet_matches_reference_with_two_cells_per_stage_and_tracked_stats(mixing, channels_last):
    torch.manual_seed(2)
    model = NB201SearchNetwork(C=3, N=2, num_classes=4, mixing=mixing, track_running_stats=True,
                               channels_last=channels_last).double()
    with torch.no_grad():
        model.alpha.normal_()
    x = torch.randn(5, 3, 8, 8, dtype=torch.double)
    y = torch.randint(0, 4, (5,))
    mix = model.mixing_weights()
    buffers_before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    assert int(model.state_dict()["layers.0.bn3x3.0.num_batches_tracked"]) == 0
    fast = _loss_and_grads(model, model, x, y, mix)
    buffers_after = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    assert_matches_reference(model, x, y, mix, fast=fast)
    # the training forward updated the running statistics like one nn.BatchNorm2d(momentum=0.1) per edge would:
    # check the first cell's source node 0, whose input is the stem's output
    with torch.no_grad():
        relu = F.relu(model.stem(x))
    for conv_name, bn_name in (("conv1x1", "bn1x1"), ("conv3x3", "bn3x3")):
        with torch.no_grad():
            out = getattr(model.layers[0], conv_name)[0](relu)
        key = f"layers.0.{bn_name}.0."
        assert torch.equal(buffers_before[key + "running_mean"], torch.zeros_like(out[0, :, 0, 0]))
        assert torch.allclose(buffers_after[key + "running_mean"], 0.1 * out.mean(dim=(0, 2, 3)), atol=1e-12)
        assert torch.allclose(buffers_after[key + "running_var"], 0.9 + 0.1 * out.var(dim=(0, 2, 3), unbiased=True),
                              atol=1e-12)
    assert int(model.state_dict()["layers.0.bn3x3.0.num_batches_tracked"]) == 1

    # eval mode: each edge's BN uses its slice of the running statistics, and the mixing is deterministic
    model.eval()
    mix = model.mixing_weights()
    assert_matches_reference(model, x, y, mix)


def test_weight_gradients_do_not_depend_on_whether_alpha_needs_a_gradient():
    """The fast cell skips the α-gradient work when α is frozen; the weights' gradients stay the same."""
    torch.manual_seed(3)
    model = NB201SearchNetwork(C=4, N=2, num_classes=3, mixing=SoftmaxMixing(), channels_last=True).double()
    with torch.no_grad():
        model.alpha.normal_()
    x = torch.randn(4, 3, 8, 8, dtype=torch.double)
    y = torch.randint(0, 3, (4,))
    weights = model.weight_parameters()
    with_alpha = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
    model.alpha.requires_grad_(False)
    without_alpha = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
    ref = torch.autograd.grad(F.cross_entropy(reference_forward(model, x, model.mixing_weights()), y), weights)
    for a, b, c in zip(with_alpha, without_alpha, ref):
        assert torch.allclose(a, b, atol=1e-12) and torch.allclose(b, c, atol=1e-9)


def test_cell_accepts_a_plain_mixing_matrix():
    from darts_tse.space.cell import CellWeights, SearchCell

    torch.manual_seed(4)
    cell = SearchCell(3).double()
    x = torch.randn(2, 3, 5, 5, dtype=torch.double)
    mix = torch.softmax(torch.randn(6, 5, dtype=torch.double), dim=-1)
    assert torch.allclose(cell(x, mix), cell(x, CellWeights(mix)))
    with pytest.raises(ValueError, match="6×5"):
        CellWeights(mix[:5])


def test_alpha_gradient_survives_non_dense_upstream_gradients():
    """The dot-product α gradient falls back to a plain reduction when the incoming gradient is not dense."""
    from darts_tse.space.cell import SearchCell

    torch.manual_seed(5)
    cell = SearchCell(3).double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.double)
    alpha = torch.randn(6, 5, dtype=torch.double, requires_grad=True)
    out = cell(x, torch.softmax(alpha, -1))
    upstream = torch.randn(2, 3, 6, 12, dtype=torch.double)[..., ::2]  # strided
    fast = torch.autograd.grad(out, alpha, upstream)[0]
    from reference_cell import reference_cell_forward

    ref = torch.autograd.grad(reference_cell_forward(cell, x, torch.softmax(alpha, -1)), alpha, upstream)[0]
    assert torch.allclose(fast, ref, atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mixing", [SoftmaxMixing(), DirichletMixing()], ids=["softmax", "dirichlet"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_supernet_matches_per_edge_reference_on_cuda(mixing, channels_last):
    torch.manual_seed(6)
    model = NB201SearchNetwork(C=4, N=2, num_classes=5, mixing=mixing, track_running_stats=True,
                               channels_last=channels_last).double().cuda()
    with torch.no_grad():
        model.alpha.normal_()
    x = torch.randn(6, 3, 8, 8, dtype=torch.double, device="cuda")
    y = torch.randint(0, 5, (6,), device="cuda")
    mix = model.mixing_weights()
    assert_matches_reference(model, x, y, mix)


def test_weights_only_step_builds_no_graph_to_alpha():
    """WeightTrainer's weights-only step turns α's requires_grad off for its forward: no α work, no α gradient."""
    from darts_tse.training import WeightTrainer, alpha_gradients

    torch.manual_seed(7)
    model = NB201SearchNetwork(C=4, N=1, num_classes=3, mixing=SoftmaxMixing())
    with alpha_gradients(model, False):
        assert not model.mixing_weights().requires_grad
    with alpha_gradients(model, True):
        assert model.mixing_weights().requires_grad
    assert model.alpha.requires_grad, "the flag is restored"
    trainer = WeightTrainer(model, torch.optim.SGD(model.weight_parameters(), lr=0.1))
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 3, (4,))
    trainer.step(x, y)
    assert model.alpha.grad is None
    trainer.step(x, y, accumulate_alpha=True)
    assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0


def test_supernet_size_at_the_nb201_search_setting():
    """C=16, N=5, 10 classes: 1,686,106 weights (README: 1.69 M), the NB201 search supernet's convolutions, ResNet
    blocks, stem and head; xautodl's TinyNetworkDarts has 6,720 more, the biases of its cell convolutions, which the
    following batch-statistics BatchNorm cancels exactly."""
    model = NB201SearchNetwork(C=16, N=5, num_classes=10, mixing=SoftmaxMixing())
    assert sum(p.numel() for p in model.weight_parameters()) == 1_686_106
    assert model.alpha.shape == (6, 5)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.bias is None for m in convs)


def test_the_head_averages_over_h_and_w_as_the_adaptive_pool_did_and_keeps_the_checkpoint_keys():
    """A mean over H, W (its CUDA backward is deterministic; AdaptiveAvgPool2d's has none), in both layouts."""
    from darts_tse.mixing import SoftmaxMixing
    from darts_tse.space import NB201SearchNetwork

    model = NB201SearchNetwork(4, 1, 10, mixing=SoftmaxMixing())
    assert not any(isinstance(m, torch.nn.AdaptiveAvgPool2d) for m in model.modules())
    x = torch.randn(2, 16, 5, 3)
    expected = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())(x)
    assert torch.allclose(model.head[2](x), expected, atol=1e-6)
    assert torch.allclose(model.head[2](x.contiguous(memory_format=torch.channels_last)), expected, atol=1e-6)
    assert {k for k in model.state_dict() if k.startswith("head.")} == {  # the BN's, as before: checkpoints load
        "head.0.weight", "head.0.bias", "head.0.running_mean", "head.0.running_var", "head.0.num_batches_tracked"}


def test_dirichlet_mixing_skips_argument_validation_which_would_sync_the_device():
    """β = ELU(θ) + 1 > 0 by construction; validating it reads it back to the host on every forward. With validation
    on (torch's default outside -O), a concentration it would reject still goes through: no check ran."""
    from torch.distributions import Distribution

    previous = Distribution._validate_args
    Distribution.set_default_validate_args(True)
    try:
        mixing = DirichletMixing(kl_weight=1e-3)
        broken = torch.full((6, 5), float("nan"))
        assert mixing.weights(broken, sample=True).shape == (6, 5)  # no ValueError: nothing was validated
        assert torch.isnan(mixing.regularizer(broken))
        with pytest.raises(ValueError):  # what the validation would have done
            torch.distributions.Dirichlet(DirichletMixing.concentration(broken))
    finally:
        Distribution.set_default_validate_args(previous)
