"""Second-order DARTS with the exact Hessian-vector product (double backward through the fused cell), beside DARTS'
central finite difference; and scripts/compare_hvp.py, which measures how far apart the two are."""
import json

import pytest
import torch
import torch.nn.functional as F

from darts_tse.architects import (ValidationArchitect, build_arch_optimizer, exact_hvp, finite_difference_hvp,
                                  unrolled_validation_gradients)
from darts_tse.config import SearchConfig
from darts_tse.mixing import build_mixing
from darts_tse.space import NB201SearchNetwork
from darts_tse.training import WeightTrainer

from conftest import load_script


def make_net(mixing="softmax", seed=0):
    torch.manual_seed(seed)
    model = NB201SearchNetwork(C=4, N=1, num_classes=3, mixing=build_mixing(mixing)).to(torch.float64)
    with torch.no_grad():
        model.alpha.normal_(std=0.5)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return model, WeightTrainer(model, optimizer, grad_clip=5.0)


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 3, 16, 16, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g)


@pytest.mark.parametrize("mixing", ["softmax", "dirichlet"])
def test_exact_hvp_equals_a_float64_central_difference_at_a_tiny_radius(mixing):
    """In float64 at radius 1e-6 the central difference has converged (no ReLU kink crossed); the exact product
    agrees with it to 1e-6, and leaves the weights as they were."""
    model, _ = make_net(mixing)
    weights = model.weight_parameters()
    (x, y), (x_val, y_val) = batch(1), batch(2)
    mix = model.mixing_weights()
    _, vector = unrolled_validation_gradients(model, weights, x, y, x_val, y_val, mix, xi=0.05)
    before = [w.detach().clone() for w in weights]
    exact = exact_hvp(model, weights, x, y, vector, mix)
    approx = finite_difference_hvp(model, weights, x, y, vector, mix, radius=1e-6)
    assert exact.shape == (6, 5) and exact.abs().max() > 1e-3
    assert torch.linalg.vector_norm(approx - exact) <= 1e-6 * torch.linalg.vector_norm(exact)
    assert all(torch.equal(w, b) for w, b in zip(weights, before))


def test_exact_second_order_step_equals_autograd_through_the_unrolled_step():
    """--hvp exact: α.grad = d/dα L_val(w − ξ∇_w L_train(w, α), α), here by autograd through the unrolled step with
    torch.func.functional_call, to float64 round-off (the finite difference only reaches 1e-4 at a tiny radius)."""
    model, trainer = make_net()
    architect = ValidationArchitect(model, trainer, build_arch_optimizer(model), iter([]), order=2, hvp="exact")
    (x, y), (xv, yv) = batch(1), batch(2)
    weights = model.weight_parameters()
    before = [w.detach().clone() for w in weights]
    architect._second_order_gradient(x, y, xv, yv)
    got = model.alpha.grad.clone()
    assert all(torch.equal(w, b) for w, b in zip(weights, before))

    xi = trainer.lr
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True)
    names = [n for n, p in model.named_parameters() if p is not model.alpha]
    params = dict(zip(names, [w - xi * g for w, g in zip(weights, grads)])) | {"alpha": model.alpha}
    want = torch.autograd.grad(F.cross_entropy(torch.func.functional_call(model, params, (xv,)), yv), model.alpha)[0]
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-12 * want.abs().max().item())


def test_the_finite_difference_stays_the_default():
    model, trainer = make_net()
    assert ValidationArchitect(model, trainer, build_arch_optimizer(model), iter([]), order=2).hvp == "finite-difference"
    assert SearchConfig().hvp == "finite-difference"
    with pytest.raises(ValueError, match="unknown Hessian-vector product 'autograd'"):
        ValidationArchitect(model, trainer, build_arch_optimizer(model), iter([]), order=2, hvp="autograd")
    assert "hvp" in SearchConfig(method="darts", order=1).unused_settings()
    assert "hvp" in SearchConfig(method="darts-tse").unused_settings()
    assert "hvp" not in SearchConfig(method="drnas", order=2).unused_settings()
    assert SearchConfig(method="darts", hvp="exact").ignored_settings() == [
        "--hvp exact is ignored by --method darts: only the second order (--order 2) of darts and drnas has a "
        "Hessian-vector product"]


def test_train_search_passes_hvp_to_the_architect(tmp_path):
    from darts_tse.search import build_components

    config = SearchConfig(method="drnas", order=2, hvp="exact", dataset="synthetic", synthetic_samples=32,
                          synthetic_image_size=8, C=2, N=1, batch_size=4, out=str(tmp_path / "r"), device="cpu")
    parts = build_components(config.validate(), torch.device("cpu"))
    assert (parts.architect.order, parts.architect.hvp) == (2, "exact")
    list(parts.architect.train_epoch([(torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))]))
    assert parts.architect.alpha_steps == 1


def test_compare_hvp_reports_both_products_per_batch_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "hvp.json"
    script = load_script("compare_hvp")
    argv = ["--C", "2", "--N", "1", "--batch-size", "4", "--image-size", "8", "--batches", "2", "--radius", "0.01",
            "0.001", "--train-steps", "1", "--out", str(out)]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "median, radius 0.01: HVP off by" in printed and "C=2 N=1 batch=4 8x8 data=synthetic" in printed
    result = json.loads(out.read_text())
    assert len(result["rows"]) == 2 and set(result["rows"][0]["radii"]) == {"0.01", "0.001"}
    for row in result["rows"]:
        assert row["second_order_share"] > 0
        for item in row["radii"].values():
            assert item["hvp_rel"] >= 0 and -1 <= item["hvp_cos"] <= 1 and item["grad_rel"] >= 0
    assert result["config"]["train_steps"] == 1 and result["config"]["torch"] == torch.__version__
    assert script.main(argv) == 2
    assert "exists already; choose a new name, or pass --overwrite" in capsys.readouterr().err
    assert script.main([*argv, "--overwrite", "--batches", "1"]) == 0
    assert len(json.loads(out.read_text())["rows"]) == 1


def test_compare_hvp_in_float64_converges_at_a_tiny_radius_on_a_tiny_net(capsys):
    """--dtype float64 runs the whole comparison in double precision: at the tests' size, where few ReLU inputs sit
    near a kink, the central difference at radius 1e-6 then matches the exact product (in float32 it cannot)."""
    script = load_script("compare_hvp")
    argv = ["--C", "2", "--N", "1", "--batch-size", "4", "--image-size", "8", "--batches", "1", "--radius", "1e-6",
            "--dtype", "float64", "--threads", "1"]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "data=synthetic float64" in printed
    assert "median, radius 1e-06: HVP off by 0.0%" in printed
