import copy
import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet

from darts_tse.architects import TSEArchitect, ValidationArchitect, build_arch_optimizer, finite_difference_hvp
from darts_tse.mixing import SoftmaxMixing, build_mixing
from darts_tse.space import NB201SearchNetwork
from darts_tse.training import WeightTrainer


def make_setup(track_running_stats=False, dtype=torch.float32, seed=0, mixing=None, N=1):
    torch.manual_seed(seed)
    model = NB201SearchNetwork(C=4, N=N, num_classes=3, mixing=mixing or SoftmaxMixing(),
                               track_running_stats=track_running_stats).to(dtype)
    with torch.no_grad():
        model.alpha.normal_(std=0.5)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    trainer = WeightTrainer(model, optimizer, grad_clip=5.0)
    return model, trainer, build_arch_optimizer(model)


def make_batches(n, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


def call_before(obj, name: str, hook) -> None:
    """Make `obj.name(...)` call `hook()` first, then the original method."""
    original = getattr(obj, name)

    def wrapped(*args, **kwargs):
        hook()
        return original(*args, **kwargs)

    setattr(obj, name, wrapped)


def record_alpha_steps(architect):
    """Capture α.grad each time the α optimizer steps."""
    captured = []
    call_before(architect.optimizer, "step", lambda: captured.append(architect.model.alpha.grad.detach().clone()))
    return captured


def count_weight_steps(trainer):
    counter = {"n": 0}
    call_before(trainer.optimizer, "step", lambda: counter.update(n=counter["n"] + 1))
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
    call_before(arch_opt, "step", lambda: captured.append((model.alpha.grad.clone(), copy.deepcopy(model.state_dict()))))
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


# ---- α step direction, step order, DrNAS regulariser and sampling, clipping, ε, rollout replay -------------------

def make_dirichlet_setup(kl_weight=0.0, N=1):
    """make_setup with DrNAS mixing, in float64."""
    return make_setup(dtype=torch.float64, mixing=build_mixing("dirichlet", kl_weight=kl_weight), N=N)


def _record_alpha_updates(arch_optimizer, model):
    """(α before, α.grad seen by the optimizer, α after) for every α step."""
    records = []
    original_step = arch_optimizer.step

    def step(*args, **kwargs):
        before, grad = model.alpha.detach().clone(), model.alpha.grad.detach().clone()
        result = original_step(*args, **kwargs)
        records.append((before, grad, model.alpha.detach().clone()))
        return result

    arch_optimizer.step = step
    return records


def _tse_joint(model, trainer, arch_opt):
    return TSEArchitect(model, trainer, arch_opt, K=2, mode="joint")


def _first_order(model, trainer, arch_opt):
    return ValidationArchitect(model, trainer, arch_opt, iter(make_batches(4, seed=2)), order=1)


@pytest.mark.parametrize("build", [_tse_joint, _first_order], ids=["tse-joint", "validation-order1"])
def test_alpha_steps_descend_with_the_documented_adam(build):
    model, trainer, arch_opt = make_setup()
    architect = build(model, trainer, arch_opt)
    records = _record_alpha_updates(arch_opt, model)
    list(architect.train_epoch(make_batches(4)))
    assert len(records) == architect.alpha_steps >= 2

    # an independently built Adam with build_arch_optimizer's documented defaults, fed the same gradients
    alpha_copy = torch.nn.Parameter(records[0][0].clone())
    reference = torch.optim.Adam([alpha_copy], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    for before, grad, after in records:
        assert torch.equal(alpha_copy.detach(), before)
        alpha_copy.grad = grad.clone()
        reference.step()
        assert torch.allclose(alpha_copy.detach(), after, rtol=0, atol=1e-7)
        with torch.no_grad():
            alpha_copy.copy_(after)  # keep the replay exact from step to step
    before, grad, after = records[0]
    assert ((after - before) * grad).sum() < 0, "the α step goes down the α loss"


def test_first_order_alpha_gradient_uses_the_weights_before_the_same_iterations_weight_step():
    model, trainer, arch_opt = make_setup()
    architect = ValidationArchitect(model, trainer, arch_opt, iter(make_batches(3, seed=2)), order=1)
    events = []  # ("alpha" | "weight", weights at that moment)
    weights = model.weight_parameters()

    def snapshot():
        return [w.detach().clone() for w in weights]

    call_before(architect, "_first_order_gradient", lambda: events.append(("alpha", snapshot())))
    call_before(trainer, "step", lambda: events.append(("weight", snapshot())))
    list(architect.train_epoch(make_batches(3)))

    assert [kind for kind, _ in events] == ["alpha", "weight"] * 3, "DARTS: α step, then the weight step"
    for i in range(3):
        (_, at_alpha), (_, before_weight_step) = events[2 * i], events[2 * i + 1]
        for a, b in zip(at_alpha, before_weight_step):
            assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(events[0][1], events[2][1])), "the weights did move"


def _kl_to_uniform_gradient(alpha, kl_weight):
    """∇_θ kl_weight · Σ_edges KL(Dir(β) ‖ Dir(1)), β = ELU(θ) + 1, from the closed form of the Dirichlet KL."""
    theta = alpha.detach().clone().requires_grad_(True)
    beta = F.elu(theta) + 1.0
    total = beta.sum(-1)
    k = beta.shape[-1]
    kl = (torch.lgamma(total) - torch.lgamma(beta).sum(-1) - math.lgamma(k)
          + ((beta - 1.0) * (torch.digamma(beta) - torch.digamma(total).unsqueeze(-1))).sum(-1))
    return torch.autograd.grad(kl_weight * kl.sum(), theta)[0]


def _data_alpha_gradient(state, x, y):
    """∂ CE/∂α of a captured (model copy, RNG state): the same Dirichlet sample as the captured forward."""
    probe, rng = state
    torch.set_rng_state(rng)
    return torch.autograd.grad(F.cross_entropy(probe(x), y), probe.alpha)[0]


def _capture(model):
    return copy.deepcopy(model), torch.get_rng_state()


def test_drnas_kl_gradient_is_added_to_the_validation_alpha_gradient():
    kl_weight = 0.5
    model, trainer, arch_opt = make_dirichlet_setup(kl_weight)
    train, valid = make_batches(3, dtype=torch.float64), make_batches(3, dtype=torch.float64, seed=2)
    architect = ValidationArchitect(model, trainer, arch_opt, iter(valid), order=1)
    records = _record_alpha_updates(arch_opt, model)
    states = []
    call_before(architect, "_first_order_gradient", lambda: states.append(_capture(model)))
    list(architect.train_epoch(train))
    assert len(records) == len(states) == 3

    for (before, grad, _), state, (x_val, y_val) in zip(records, states, valid):
        data = _data_alpha_gradient(state, x_val, y_val)
        kl = _kl_to_uniform_gradient(before, kl_weight)
        assert kl.abs().max() > 1e-2
        assert torch.allclose(grad, data + kl, atol=1e-10)
        assert not torch.allclose(grad, data, atol=1e-4)


def test_drnas_kl_gradient_is_added_once_per_tse_alpha_step():
    kl_weight = 0.5
    K, steps = 3, 5
    model, trainer, arch_opt = make_dirichlet_setup(kl_weight)
    batches = make_batches(steps, dtype=torch.float64)
    architect = TSEArchitect(model, trainer, arch_opt, K=K, mode="joint")
    records = _record_alpha_updates(arch_opt, model)
    states = []
    call_before(trainer, "step", lambda: states.append(_capture(model)))
    list(architect.train_epoch(batches))
    assert len(records) == 2 and len(states) == steps

    for window, (before, grad, _) in enumerate(records):
        indices = range(window * K, min((window + 1) * K, steps))
        data = sum(_data_alpha_gradient(states[i], *batches[i]) for i in indices)
        kl = _kl_to_uniform_gradient(before, kl_weight)
        assert kl.abs().max() > 1e-2
        assert torch.allclose(grad, data + kl, atol=1e-10)


def _count_samples(model, monkeypatch):
    """Count the mixing's stochastic draws (its weights(sample=True)) and every Dirichlet reparameterised sample."""
    counts = {"weights": 0, "rsample": 0}
    original_weights = model.mixing.weights
    original_rsample = Dirichlet.rsample

    def weights(alpha, *, sample):
        counts["weights"] += bool(sample)
        return original_weights(alpha, sample=sample)

    def rsample(self, *args, **kwargs):
        counts["rsample"] += 1
        return original_rsample(self, *args, **kwargs)

    monkeypatch.setattr(model.mixing, "weights", weights)
    monkeypatch.setattr(Dirichlet, "rsample", rsample)
    return counts


def test_one_dirichlet_sample_per_forward_shared_by_every_cell(monkeypatch):
    model, trainer, arch_opt = make_dirichlet_setup(N=2)
    counts = _count_samples(model, monkeypatch)
    x, _ = make_batches(1, dtype=torch.float64)[0]
    model.train()
    model(x)
    assert counts == {"weights": 1, "rsample": 1}, "one sample for all 6 cells"
    model.eval()
    model(x)
    assert counts == {"weights": 1, "rsample": 1}, "no sampling in eval mode"

    architect = TSEArchitect(model, trainer, arch_opt, K=2, mode="joint")
    list(architect.train_epoch(make_batches(3, dtype=torch.float64)))
    assert counts == {"weights": 4, "rsample": 4}, "one sample per weight step"


def test_second_order_dirichlet_passes_of_one_alpha_step_share_one_sample(monkeypatch):
    model, trainer, arch_opt = make_dirichlet_setup()
    (x, y), (xv, yv) = make_batches(2, dtype=torch.float64)
    architect = ValidationArchitect(model, trainer, arch_opt, iter([]), order=2)
    counts = _count_samples(model, monkeypatch)
    mixes = []
    hook = model.register_forward_pre_hook(lambda module, args: mixes.append(args[1]))
    model.train()
    architect._second_order_gradient(x, y, xv, yv)
    hook.remove()
    assert counts == {"weights": 1, "rsample": 1}
    assert len(mixes) == 4, "passes at w, w', w + εv, w − εv"
    assert all(m is not None and torch.equal(m, mixes[0]) for m in mixes)
    assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0


def test_weight_step_clips_the_global_gradient_norm():
    lr, clip = 0.1, 1e-3
    model, _, _ = make_setup(dtype=torch.float64)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=lr)
    trainer = WeightTrainer(model, optimizer, grad_clip=clip)
    x, y = make_batches(1, dtype=torch.float64)[0]
    weights = model.weight_parameters()
    before = [w.detach().clone() for w in weights]
    probe = copy.deepcopy(model)
    grads = torch.autograd.grad(F.cross_entropy(probe(x), y), probe.weight_parameters())
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert grad_norm > 100 * clip, "the clip binds"

    trainer.step(x, y)

    updates = [w.detach() - b for w, b in zip(weights, before)]
    update_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(u) for u in updates]))
    assert torch.isclose(update_norm, torch.tensor(lr * clip, dtype=torch.float64), rtol=1e-5)
    for u, g in zip(updates, grads):
        assert torch.allclose(u, -lr * clip * g / grad_norm, rtol=1e-5, atol=1e-12)


def _global_norm(tensors):
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


def _record_forward_weights(model):
    weights = model.weight_parameters()
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append([w.detach().clone() for w in weights]))
    return seen, hook


def test_second_order_perturbation_radius_defaults_to_dartss_0_01():
    assert inspect.signature(finite_difference_hvp).parameters["radius"].default == 0.01
    model, trainer, arch_opt = make_setup(dtype=torch.float64)
    architect = ValidationArchitect(model, trainer, arch_opt, iter([]), order=2)
    assert architect.hvp_radius == 0.01
    (x, y), (xv, yv) = make_batches(2, dtype=torch.float64)
    weights = model.weight_parameters()
    original = [w.detach().clone() for w in weights]
    seen, hook = _record_forward_weights(model)
    architect._second_order_gradient(x, y, xv, yv)
    hook.remove()
    assert len(seen) == 4, "passes at w, w', w + εv, w − εv"

    # v = ∇_{w'} L_val at the w' pass, independently
    probe = copy.deepcopy(model)
    with torch.no_grad():
        torch._foreach_copy_(probe.weight_parameters(), seen[1])
    v = torch.autograd.grad(F.cross_entropy(probe(xv), yv), probe.weight_parameters())
    v_norm = _global_norm(v)
    assert abs(v_norm - 1) > 0.1, "‖v‖ far from 1 tells ε = radius/‖v‖ from ε = radius"
    plus = [p - w for p, w in zip(seen[2], original)]
    minus = [m - w for m, w in zip(seen[3], original)]
    assert torch.isclose(_global_norm(plus), torch.tensor(0.01, dtype=torch.float64), rtol=1e-6)
    assert torch.isclose(_global_norm(minus), torch.tensor(0.01, dtype=torch.float64), rtol=1e-6)
    for p, m, vi in zip(plus, minus, v):
        assert torch.allclose(p, 0.01 * vi / v_norm, rtol=1e-6, atol=1e-12)
        assert torch.allclose(m, -p, rtol=1e-6, atol=1e-12)
    for w, o in zip(weights, original):
        assert torch.equal(w, o)

    # an explicit radius is honoured, and the function's own default is 0.01 too
    for radius, call in ((0.05, dict(radius=0.05)), (0.01, {})):
        seen, hook = _record_forward_weights(model)
        finite_difference_hvp(model, weights, x, y, list(v), model.mixing_weights(), **call)
        hook.remove()
        assert len(seen) == 2
        for trial, sign in zip(seen, (1.0, -1.0)):
            step = [t - w for t, w in zip(trial, original)]
            assert torch.isclose(_global_norm(step), torch.tensor(radius, dtype=torch.float64), rtol=1e-6)
            assert torch.allclose(step[-1], sign * radius * v[-1] / v_norm, rtol=1e-6, atol=1e-12)


def test_tse_rollout_trains_the_windows_batches_in_order_with_the_new_alpha():
    K = 3
    model, trainer, arch_opt = make_setup(track_running_stats=True, dtype=torch.float64)
    batches = make_batches(6, dtype=torch.float64)
    list(TSEArchitect(model, trainer, arch_opt, K=100).train_epoch(make_batches(2, dtype=torch.float64, seed=5),
                                                                  update_alpha=False))  # momentum buffers exist
    architect = TSEArchitect(model, trainer, arch_opt, K=K, mode="rollout")
    windows_seen = []  # (model copy and SGD state before the window, α after its α step, model copy after)
    original_window = architect._rollout_window
    original_apply = architect.apply_alpha_step

    def window(w):
        entry = {"before": (copy.deepcopy(model), copy.deepcopy(trainer.optimizer.state_dict()))}
        windows_seen.append(entry)
        yield from original_window(w)
        entry["after"] = copy.deepcopy(model)

    def apply():
        original_apply()
        windows_seen[-1]["alpha"] = model.alpha.detach().clone()

    architect._rollout_window = window
    architect.apply_alpha_step = apply
    list(architect.train_epoch(batches))
    assert len(windows_seen) == 2

    for index, entry in enumerate(windows_seen):
        replica, optimizer_state = entry["before"]
        assert not torch.equal(entry["alpha"], replica.alpha), "α stepped"
        with torch.no_grad():
            replica.alpha.copy_(entry["alpha"])
        optimizer = torch.optim.SGD(replica.weight_parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
        optimizer.load_state_dict(optimizer_state)
        replica_trainer = WeightTrainer(replica, optimizer, grad_clip=5.0)
        for x, y in batches[index * K:(index + 1) * K]:
            replica_trainer.step(x, y)
        got = entry["after"].state_dict()
        for name, want in replica.state_dict().items():
            assert torch.allclose(got[name], want, rtol=1e-9, atol=1e-12), name
