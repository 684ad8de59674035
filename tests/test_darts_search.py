"""Every method and the one-shot samplers in the DARTS space, through the same loop, architects and samplers as NB201
(only the space differs): tiny sizes (C = 4, 5 layers, 8 px synthetic images); the α updates equal an independent
computation; a run killed mid-epoch and resumed ends bit for bit like an uninterrupted one; the end-to-end command
on the real CIFAR-10 subset with the NB301 surrogate (where ../shared has them; DARTS_TSE_SHARED overrides where
../shared is)."""
import csv as csv_module
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, kl_divergence

from darts_tse.architects import (TSEArchitect, ValidationArchitect, build_arch_optimizer, exact_hvp,
                                  finite_difference_hvp, unrolled_validation_gradients)
from darts_tse.config import OneShotConfig, SearchConfig
from darts_tse.darts_space import DartsGenotype
from darts_tse.mixing import build_mixing
from darts_tse.search import run_search
from darts_tse.search.checkpoint import load_checkpoint
from darts_tse.spaces import get_space
from darts_tse.training import WeightTrainer

from conftest import REPO_ROOT, kill_in_second_epoch

pytest.importorskip("darts_tse.darts_space.supernet", reason="the DARTS supernet (issue 23, darts_space/) is needed")

SHARED = Path(os.environ.get("DARTS_TSE_SHARED", REPO_ROOT.parent / "shared"))
NB301 = SHARED / "nb301" / "model_v2.onnx"
CIFAR_SUBSET = SHARED / "cifar10-subset" / "cifar10_subset.npz"
EPOCHS = 2
TINY = dict(space="darts", layers=5, C=4, dataset="synthetic", synthetic_samples=64, synthetic_image_size=8,
            batch_size=8, K=2, epochs=EPOCHS, threads=1, wandb="disabled", progress=False, device="cpu")


def tiny(out: Path, method: str, **overrides) -> SearchConfig:
    return SearchConfig(**{**TINY, "method": method, "out": str(out), **overrides})


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method, settings", [
    ("darts", {}), ("darts", {"order": 2}), ("darts", {"order": 2, "hvp": "exact"}),
    ("darts-tse", {}), ("darts-tse", {"tse_mode": "rollout"}), ("drnas", {"ops": "no-none"}),
    ("drnas-tse", {"drnas_reg": "kl"}), ("darts-tse", {"partial_channels": 2}),
])
def test_every_method_searches_the_darts_space(tmp_path, method, settings):
    out = tmp_path / "run"
    run_search(tiny(out, method, epochs=1, steps_per_epoch=2, **settings), echo=lambda line: None)
    (row,) = rows(out)
    genotype = DartsGenotype.from_str(row["genotype"])
    assert row["skip_count_normal"] == genotype.skip_count["normal"] == row["skip_count"]
    assert row["skip_count_reduce"] == genotype.skip_count["reduce"]
    assert row["param_free_count_reduce"] == genotype.param_free_count["reduce"]
    n_ops = 7 if settings.get("ops") == "no-none" else 8
    for cell in ("normal", "reduce"):
        assert 0 < row[f"alpha_entropy_{cell}"] <= math.log(n_ops) + 1e-9
    assert row["alpha_steps"] > 0 and row["nb301"] is None  # no --benchmark: no number, never a guess
    config = json.loads((out / "config.json").read_text())
    assert config["space"] == "darts" and config["layers"] == 5 and config["ops"] == ("no-none" if n_ops == 7 else "all")
    model = get_space("darts").build_supernet(tiny(out, method, **settings), 10, build_mixing("softmax"))
    assert config["supernet_weights"] == sum(p.numel() for p in model.weight_parameters())
    final = json.loads((out / "genotype.json").read_text())
    assert torch.tensor(final["alpha"]).shape == (2, 14, n_ops) and final["names"]["ops"][0] == \
        ("max_pool_3x3" if n_ops == 7 else "none")


def test_nb201_runs_record_their_supernet_weights_too(tmp_path):
    from darts_tse.config import supernet_weights

    config = tiny(tmp_path / "run", "darts-tse", space="nb201", N=1, epochs=1, steps_per_epoch=1)
    run_search(config, echo=lambda line: None)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["space"] == "nb201" and recorded["supernet_weights"] == supernet_weights(4, 1)


# ---- the α updates, against an independent computation ---------------------------------------------------------
def make_setup(mixing="softmax", seed=0, kl_weight=0.0):
    torch.manual_seed(seed)
    config = SearchConfig(**{**TINY, "method": "darts"})
    model = get_space("darts").build_supernet(config, 3, build_mixing(mixing, kl_weight=kl_weight))
    with torch.no_grad():
        model.alpha.normal_(std=0.5)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return model, WeightTrainer(model, optimizer, grad_clip=5.0), build_arch_optimizer(model)


def make_batches(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


def captured_alpha_grads(architect) -> list[torch.Tensor]:
    captured, step = [], architect.optimizer.step

    def wrapped(*args, **kwargs):
        captured.append(architect.model.alpha.grad.detach().clone())
        return step(*args, **kwargs)

    architect.optimizer.step = wrapped
    return captured


def test_tse_joint_alpha_gradient_is_the_window_sum_along_the_weight_trajectory():
    model, trainer, arch_opt = make_setup()
    replica, replica_trainer, _ = make_setup()
    replica.load_state_dict(model.state_dict())
    architect = TSEArchitect(model, trainer, arch_opt, K=2, mode="joint")
    captured = captured_alpha_grads(architect)
    batches = make_batches(4)
    list(architect.train_epoch(batches))
    assert len(captured) == 2 and captured[0].shape == (2, 14, 8)
    # independently: the same weight trajectory, ∂loss_k/∂α of each step summed per window; α after window 1 is
    # α − Adam step, so the replica takes α from the architect's own log only through the first window's result
    window = torch.zeros(2, 14, 8)
    for x, y in batches[:2]:
        window += torch.autograd.grad(F.cross_entropy(replica(x), y), replica.alpha)[0]
        replica_trainer.step(x, y)
    torch.testing.assert_close(captured[0], window, rtol=1e-4, atol=1e-6)


def test_first_order_darts_alpha_gradient_is_the_validation_gradient_at_the_current_weights():
    model, trainer, arch_opt = make_setup()
    replica, _, _ = make_setup()
    replica.load_state_dict(model.state_dict())
    valid = make_batches(1, seed=7)
    architect = ValidationArchitect(model, trainer, arch_opt, iter(valid * 2), order=1)
    captured = captured_alpha_grads(architect)
    next(iter(architect.train_epoch(make_batches(1))))
    x_val, y_val = valid[0]
    expected = torch.autograd.grad(F.cross_entropy(replica(x_val), y_val), replica.alpha)[0]
    torch.testing.assert_close(captured[0], expected, rtol=1e-4, atol=1e-6)


def test_exact_hvp_equals_a_float64_central_difference_at_a_tiny_radius():
    """In float64 at radius 1e-6 the central difference has converged; the exact product (double backward through
    the DARTS cell) agrees with it, and both leave the weights as they were."""
    model, _, _ = make_setup()
    model.double()
    weights = model.weight_parameters()
    (x, y), (x_val, y_val) = [(a.double(), b) for a, b in make_batches(2, seed=3)]
    mix = model.mixing_weights()
    _, vector = unrolled_validation_gradients(model, weights, x, y, x_val, y_val, mix, xi=0.05)
    before = [w.detach().clone() for w in weights]
    exact = exact_hvp(model, weights, x, y, vector, mix)
    approx = finite_difference_hvp(model, weights, x, y, vector, mix, radius=1e-6)
    assert exact.shape == (2, 14, 8) and exact.abs().max() > 1e-4
    assert torch.linalg.vector_norm(approx - exact) <= 1e-5 * torch.linalg.vector_norm(exact)
    assert all(torch.equal(w, b) for w, b in zip(weights, before))


def test_exact_second_order_step_equals_autograd_through_the_unrolled_step():
    """--hvp exact in the DARTS space: α.grad = d/dα L_val(w − ξ∇_w L_train(w, α), α), computed independently by
    autograd through the unrolled step (torch.func.functional_call), to float64 round-off."""
    model, trainer, arch_opt = make_setup()
    model.double()
    architect = ValidationArchitect(model, trainer, arch_opt, iter([]), order=2, hvp="exact")
    (x, y), (xv, yv) = [(a.double(), b) for a, b in make_batches(2, seed=3)]
    weights = model.weight_parameters()
    architect._second_order_gradient(x, y, xv, yv)
    got = model.alpha.grad.clone()
    xi = trainer.lr
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True)
    names = [n for n, p in model.named_parameters() if p is not model.alpha]
    params = dict(zip(names, [w - xi * g for w, g in zip(weights, grads)])) | {"alpha": model.alpha}
    want = torch.autograd.grad(F.cross_entropy(torch.func.functional_call(model, params, (xv,)), yv), model.alpha)[0]
    assert got.shape == (2, 14, 8)
    assert torch.allclose(got, want, rtol=1e-8, atol=1e-11 * want.abs().max().item())


def test_drnas_kl_regulariser_gradient_is_added_to_the_darts_alpha():
    model, trainer, arch_opt = make_setup("dirichlet", kl_weight=0.5)
    architect = TSEArchitect(model, trainer, arch_opt, K=1, mode="joint")
    before = model.alpha.detach().clone()
    # the regulariser alone (α's loss gradient zeroed): α.grad = ∂ 0.5·KL(Dir(β) ‖ Dir(1)) / ∂α, β = ELU(α) + 1
    architect.zero_alpha_grad()
    captured = captured_alpha_grads(architect)
    architect.apply_alpha_step()
    alpha = before.clone().requires_grad_(True)
    beta = F.elu(alpha) + 1
    kl = 0.5 * kl_divergence(Dirichlet(beta), Dirichlet(torch.ones_like(beta))).sum()
    torch.testing.assert_close(captured[0], torch.autograd.grad(kl, alpha)[0])


# ---- exact resume -----------------------------------------------------------------------------------------------
def cli_args(config: SearchConfig) -> list[str]:
    return ["--space", "darts", "--layers", str(config.layers), "--method", config.method, "--K", str(config.K),
            "--dataset", "synthetic", "--synthetic-samples", str(config.synthetic_samples),
            "--synthetic-image-size", str(config.synthetic_image_size), "--batch-size", str(config.batch_size),
            "--C", str(config.C), "--epochs", str(config.epochs), "--threads", "1", "--wandb", "disabled",
            "--device", "cpu", "--no-progress", "--out", str(config.out)]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["darts-tse", "drnas"])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_darts_space_run(tmp_path, method):
    reference = tiny(tmp_path / "reference", method, epochs=3)
    run_search(reference, echo=lambda line: None)
    config = tiny(tmp_path / "run", method, epochs=3)
    kill_in_second_epoch([sys.executable, "train_search.py", *cli_args(config)], config.out)
    assert 1 <= load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] + 1 < 3
    result = subprocess.run([sys.executable, "train_search.py", "--resume", "--out", config.out], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert torch.equal(load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]["alpha"],
                       load_checkpoint(tmp_path / "reference" / "checkpoint.pt")["model"]["alpha"])
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in rows(tmp_path / "run")]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in rows(tmp_path / "reference")]


# ---- one-shot ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler, paths_per_step", [("random", 1), ("fair", 7), ("multipath", 2)])
def test_oneshot_samplers_train_darts_space_paths(tmp_path, sampler, paths_per_step):
    config = OneShotConfig(**{**{k: v for k, v in TINY.items() if k != "K"}, "epochs": 1}, sampler=sampler, paths=2,
                           probes=3, steps_per_epoch=2, out=str(tmp_path / "run"))
    run_search(config, echo=lambda line: None)
    (row,) = rows(tmp_path / "run")
    assert row["paths"] == 2 * paths_per_step
    assert len(row["probes"]) == 3 and all(p["nb301"] is None for p in row["probes"])
    assert all(isinstance(DartsGenotype.from_str(p["genotype"]), DartsGenotype) for p in row["probes"])
    assert row["probe_rank"]["nb301"].startswith("NB301 surrogate") and row["probe_rank"]["spearman"] is None


# ---- end to end on the real data with the NB301 surrogate -------------------------------------------------------
@pytest.mark.slow
def test_darts_tse_end_to_end_on_the_cifar10_subset_with_the_nb301_surrogate(tmp_path):
    if not NB301.is_file() or not CIFAR_SUBSET.is_file():
        pytest.skip(f"{NB301} or {CIFAR_SUBSET} is absent (../shared is provided beside the checkout in CI)")
    pytest.importorskip("darts_tse.nb301")
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train_search.py", "--space", "darts", "--method", "darts-tse", "--K", "100", "--benchmark",
         str(NB301), "--dataset", "npz", "--data-dir", str(CIFAR_SUBSET), "--image-size", "16",
         "--max-train-samples", "64", "--C", "4", "--layers", "5", "--batch-size", "16", "--epochs", "2",
         "--steps-per-epoch", "2", "--threads", "1", "--wandb", "disabled", "--no-progress", "--device", "cpu",
         "--out", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    records = rows(out)
    for row in records:
        assert 0 < row["nb301"]["valid_acc"] < 100
        assert row["nb301"]["label"] == "NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98"
    assert "NB301 surrogate valid" in result.stdout
    exported = subprocess.run([sys.executable, "scripts/export_genotype.py", str(out), "--format", "darts"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert DartsGenotype.from_str(exported.stdout.strip()) == DartsGenotype.from_str(records[-1]["genotype"])


@pytest.mark.slow
def test_rank_subnets_ranks_darts_space_subnetworks_against_the_nb301_surrogate(tmp_path, capsys):
    if not NB301.is_file():
        pytest.skip(f"{NB301} is absent (../shared is provided beside the checkout in CI)")
    from darts_tse.cli import rank_subnets

    config = OneShotConfig(**{**{k: v for k, v in TINY.items() if k != "K"}, "epochs": 1}, sampler="random", probes=2,
                           steps_per_epoch=2, benchmark=str(NB301), out=str(tmp_path / "run"))
    run_search(config, echo=lambda line: None)
    (row,) = rows(tmp_path / "run")
    assert all(0 < probe["nb301"]["valid_acc"] < 100 for probe in row["probes"])
    csv = tmp_path / "subnets.csv"
    assert rank_subnets.main([str(tmp_path / "run"), "--subnets", "4", "--B", "1", "2", "--valid-batches", "1",
                              "--csv", str(csv), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "truth: NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98" in out
    lines = csv.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["run", "genotype", "nb301_valid_acc"] and len(lines) == 5
    from darts_tse.nb301 import load_benchmark

    table = list(csv_module.reader(lines[1:]))  # the truth is the surrogate's own number for each subnetwork
    expected = load_benchmark(NB301).query_many([cells[1] for cells in table])
    assert [float(cells[2]) for cells in table] == pytest.approx([r.valid_accuracy for r in expected])
    for text, fragment in (("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "error: "),
                           ("Genotype(normal=[('sep_conv_3x3', 0)], reduce=[])", "error: ")):
        (tmp_path / "cells.txt").write_text(text + "\n")  # an NB201 string, a malformed DARTS literal
        assert rank_subnets.main([str(tmp_path / "run"), "--subnets", str(tmp_path / "cells.txt"), "--B", "1",
                                  "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(fragment)
