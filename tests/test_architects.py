import copy
import math

import pytest
import torch
import torch.nn.functional as F

from darts_tse.architects import TSEArchitect, ValidationArchitect, build_arch_optimizer, finite_difference_hvp
from darts_tse.mixing import SoftmaxMixing
from darts_tse.space import NB201SearchNetwork
from darts_tse.training import WeightTrainer


def make_setup(track_running_stats=False, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    model = NB201SearchNetwork(C=4, N=1, num_classes=3, mixing=SoftmaxMixing(), track_running_stats=track_running_stats).to(dtype)
    with torch.no_grad():
        model.alpha.normal_(std=0.5)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    trainer = WeightTrainer(model, optimizer, grad_clip=5.0)
    return model, trainer, build_arch_optimizer(model)


def make_batches(n, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


def record_alpha_steps(architect):
    """Capture α.grad each time the α optimizer steps."""
    captured = []
    original_step = architect.optimizer.step

    def step(*args, **kwargs):
        captured.append(architect.model.alpha.grad.detach().clone())
        return original_step(*args, **kwargs)

    architect.optimizer.step = step
    return captured


def count_weight_steps(trainer):
    counter = {"n": 0}
    original_step = trainer.optimizer.step

    def step(*args, **kwargs):
        counter["n"] += 1
        return original_step(*args, **kwargs)

    trainer.optimizer.step = step
    return counter


@pytest.mark.parametrize("steps, K", [(7, 3), (6, 3), (5, 1), (4, 10)])
def test_tse_joint_alpha_gradient_is_the_sum_along_the_weight_trajectory(steps, K):
    model, trainer, arch_opt = make_setup()
    replica_model, replica_trainer, _ = make_setup()
    replica_model.load_state_dict(model.state_dict())
    architect = TSEArchitect(model, trainer, arch_opt, K=K, mode="joint")
    captured = record_alpha_steps(architect)
    weight_steps = count_weight_steps(trainer)
    batches = make_batches(steps)

    stats = list(architect.train_epoch(batches))

    assert len(stats) == steps
    assert weight_steps["n"] == steps, "exactly one weight update per minibatch"
    assert architect.alpha_steps == math.ceil(steps / K) == len(captured)

    # Independently: follow the same weight trajectory, taking ∂loss_k/∂α of each step, summed per window.
    # α is updated after each window, so the replica copies α from a log of α after each step.
    expected, window_sum = [], torch.zeros(6, 5)
    alpha_history = iter(_alphas_after_each_window(batches, K))
    for k, (x, y) in enumerate(batches, start=1):
        loss = F.cross_entropy(replica_model(x), y)
        window_sum += torch.autograd.grad(loss, replica_model.alpha)[0]
        replica_trainer.step(x, y)
        if k % K == 0 or k == steps:
            expected.append(window_sum)
            window_sum = torch.zeros(6, 5)
            with torch.no_grad():
                replica_model.alpha.copy_(next(alpha_history))
    for got, want in zip(captured, expected):
        assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(replica_model.alpha, model.alpha)
    for p, q in zip(model.weight_parameters(), replica_model.weight_parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def _alphas_after_each_window(batches, K):
    model, trainer, arch_opt = make_setup()
    architect = TSEArchitect(model, trainer, arch_opt, K=K, mode="joint")
    alphas = []
    original = architect.apply_alpha_step

    def apply():
        original()
        alphas.append(model.alpha.detach().clone())

    architect.apply_alpha_step = apply
    list(architect.train_epoch(batches))
    return alphas


def test_tse_gradient_is_a_sum_not_a_mean():
    batches = make_batches(2)
    model, trainer, arch_opt = make_setup()
    architect = TSEArchitect(model, trainer, arch_opt, K=2)
    captured = record_alpha_steps(architect)
    list(architect.train_epoch(batches))
    assert len(captured) == 1
    replica, replica_trainer, _ = make_setup()
    g1 = torch.autograd.grad(F.cross_entropy(replica(batches[0][0]), batches[0][1]), replica.alpha)[0]
    replica_trainer.step(*batches[0])
    g2 = torch.autograd.grad(F.cross_entropy(replica(batches[1][0]), batches[1][1]), replica.alpha)[0]
    assert torch.allclose(captured[0], g1 + g2, atol=1e-6)
    assert not torch.allclose(captured[0], (g1 + g2) / 2, atol=1e-6)


def _training_state(model, optimizer):
    state = {name: t.detach().clone() for name, t in model.state_dict().items() if name != "alpha"}
    momentum = {i: optimizer.state[p]["momentum_buffer"].clone() for i, p in enumerate(model.weight_parameters())
                if p in optimizer.state}
    return state, momentum


def test_tse_rollout_restores_weights_optimizer_state_and_bn_buffers_exactly():
    model, trainer, arch_opt = make_setup(track_running_stats=True)
    batches = make_batches(6)
    list(TSEArchitect(model, trainer, arch_opt, K=100).train_epoch(make_batches(2, seed=5), update_alpha=False))
    architect = TSEArchitect(model, trainer, arch_opt, K=3, mode="rollout")
    before_window, at_alpha_step = [], []
    original_apply = architect.apply_alpha_step
    original_window = architect._rollout_window

    def window(w):
        before_window.append(_training_state(model, trainer.optimizer))
        yield from original_window(w)

    def apply():
        at_alpha_step.append(_training_state(model, trainer.optimizer))
        assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0, "rollout accumulated ∂L/∂α"
        original_apply()

    architect._rollout_window = window
    architect.apply_alpha_step = apply
    weight_steps = count_weight_steps(trainer)
    stats = list(architect.train_epoch(batches))

    assert len(stats) == 6 and architect.alpha_steps == 2
    assert weight_steps["n"] == 12, "rollout: K rollout steps + K real steps per window"
    assert len(before_window) == len(at_alpha_step) == 2
    for (state_before, momentum_before), (state_restored, momentum_restored) in zip(before_window, at_alpha_step):
        assert state_before.keys() == state_restored.keys()
        assert any("running_mean" in k for k in state_before)
        for key in state_before:
            assert torch.equal(state_before[key], state_restored[key]), key
        assert momentum_before.keys() == momentum_restored.keys()
        for key in momentum_before:
            assert torch.equal(momentum_before[key], momentum_restored[key])
    # and the real training afterwards did move the weights
    assert not torch.equal(before_window[1][0]["classifier.weight"], model.classifier.weight)


def test_validation_architect_first_order_uses_only_valid_batches():
    model, trainer, arch_opt = make_setup()
    train = make_batches(4, seed=1)
    valid = make_batches(4, seed=2)
    architect = ValidationArchitect(model, trainer, arch_opt, iter(valid), order=1)
    captured = []
    original_step = arch_opt.step

    def step(*args, **kwargs):
        captured.append((model.alpha.grad.clone(), copy.deepcopy(model.state_dict())))
        return original_step(*args, **kwargs)

    arch_opt.step = step
    weight_steps = count_weight_steps(trainer)
    list(architect.train_epoch(train))
    assert weight_steps["n"] == 4 and architect.alpha_steps == 4
    probe, _, _ = make_setup()
    for (grad, state), (x_val, y_val), (x_train, y_train) in zip(captured, valid, train):
        probe.load_state_dict(state)
        want = torch.autograd.grad(F.cross_entropy(probe(x_val), y_val), probe.alpha)[0]
        other = torch.autograd.grad(F.cross_entropy(probe(x_train), y_train), probe.alpha)[0]
        assert torch.allclose(grad, want, atol=1e-6)
        assert not torch.allclose(grad, other, atol=1e-6)


def _dense_batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 3, 16, 16, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g)


# DARTS' ε = 0.01/‖v‖ is a coarse step for a random tiny net (its ReLU kinks are closer than that), so the maths is
# checked at a small radius where the central difference has converged; the default radius stays DARTS' 0.01.
def test_second_order_finite_difference_matches_double_backward():
    model, _, _ = make_setup(dtype=torch.float64)
    weights = model.weight_parameters()
    x, y = _dense_batch(1)
    x_val, y_val = _dense_batch(2)
    vector = [g.detach() for g in torch.autograd.grad(F.cross_entropy(model(x_val), y_val), weights)]
    mix = model.mixing_weights()
    before = [w.detach().clone() for w in weights]

    approx = finite_difference_hvp(model, weights, x, y, vector, mix, radius=1e-6)

    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, weights, create_graph=True)
    exact = torch.autograd.grad(sum((gw * v).sum() for gw, v in zip(grads, vector)), model.alpha)[0]
    assert exact.abs().max() > 1e-3
    assert torch.allclose(approx, exact, rtol=1e-4, atol=1e-5 * exact.abs().max().item())
    for w, b in zip(weights, before):
        assert torch.equal(w, b), "weights restored exactly"


def test_second_order_step_equals_autograd_through_the_unrolled_step():
    model, trainer, arch_opt = make_setup(dtype=torch.float64)
    x, y = _dense_batch(1)
    xv, yv = _dense_batch(2)
    architect = ValidationArchitect(model, trainer, arch_opt, iter([]), order=2, hvp_radius=1e-6)
    weights = model.weight_parameters()
    before = [w.detach().clone() for w in weights]
    architect._second_order_gradient(x, y, xv, yv)
    got = model.alpha.grad.clone()
    for w, b in zip(weights, before):
        assert torch.equal(w, b)

    # exact: d/dα L_val(w − ξ ∇_w L_train(w, α), α), autograd through the unrolled step
    xi = trainer.lr
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True)
    names = [n for n, p in model.named_parameters() if p is not model.alpha]
    params = dict(zip(names, [w - xi * gw for w, gw in zip(weights, grads)])) | {"alpha": model.alpha}
    val_loss = F.cross_entropy(torch.func.functional_call(model, params, (xv,)), yv)
    exact = torch.autograd.grad(val_loss, model.alpha)[0]
    assert torch.allclose(got, exact, rtol=1e-4, atol=1e-5 * exact.abs().max().item())
    first_order = torch.autograd.grad(F.cross_entropy(model(xv), yv), model.alpha)[0]
    assert not torch.allclose(got, first_order, atol=1e-6), "the unrolled gradient differs from the first-order one"


def test_second_order_passes_at_trial_weights_leave_bn_statistics_alone():
    model, trainer, arch_opt = make_setup(track_running_stats=True)
    (x, y), (xv, yv) = make_batches(2)
    architect = ValidationArchitect(model, trainer, arch_opt, iter([]), order=2)
    before = {name: b.clone() for name, b in model.named_buffers()}
    assert any("running_mean" in name for name in before)
    architect._second_order_gradient(x, y, xv, yv)
    assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), name
    trainer.step(x, y)  # the weight step itself does update them
    assert any(not torch.equal(b, before[name]) for name, b in model.named_buffers() if "running_mean" in name)


def test_invalid_architect_arguments():
    model, trainer, arch_opt = make_setup()
    with pytest.raises(ValueError, match="K must be"):
        TSEArchitect(model, trainer, arch_opt, K=0)
    with pytest.raises(ValueError, match="unknown TSE mode"):
        TSEArchitect(model, trainer, arch_opt, K=2, mode="ema")
    with pytest.raises(ValueError, match="order must be"):
        ValidationArchitect(model, trainer, arch_opt, iter([]), order=3)


def test_warmup_epoch_leaves_alpha_untouched():
    model, trainer, arch_opt = make_setup()
    alpha = model.alpha.detach().clone()
    architect = TSEArchitect(model, trainer, arch_opt, K=1)
    stats = list(architect.train_epoch(make_batches(3), update_alpha=False))
    assert len(stats) == 3 and architect.alpha_steps == 0
    assert torch.equal(model.alpha, alpha) and model.alpha.grad is None
