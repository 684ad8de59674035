"""The zero-cost proxies by their defining properties on toy networks (zero_cost/proxies.py)."""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from darts_tse.zero_cost import jacob_cov, snip, synflow
from darts_tse.zero_cost.proxies import JACOB_COV_K


def test_synflow_is_the_layer_count_times_the_flow_of_a_bias_free_relu_net():
    """Tanaka et al.'s conservation law: in a bias-free positively homogeneous net, every layer's Σ θ ∂R/∂θ equals R,
    so the score is (number of layers) × R, with R = 1ᵀ|W3||W2||W1|1 (BN removed, weights made positive)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7, bias=False), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 4, bias=False),
                        nn.ReLU(), nn.Linear(4, 3, bias=False))
    w1, w2, w3 = (m.weight.detach().double().abs() for m in net if isinstance(m, nn.Linear))
    flow = float((w3 @ w2 @ w1 @ torch.ones(5, dtype=torch.float64)).sum())
    assert synflow(net, (5,)) == pytest.approx(3 * flow, rel=1e-12)
    assert net[0].weight.dtype == torch.float32 and (net[0].weight < 0).any()  # the net given is untouched


def test_synflow_of_a_conv_net_is_two_layers_times_its_flow():
    """A bias-free conv → ReLU → average → linear net has two weight layers: the score is 2 R."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 2, bias=False))
    positive = copy.deepcopy(net).double()
    with torch.no_grad():
        for p in positive.parameters():
            p.abs_()
        flow = float(positive(torch.ones(1, 3, 6, 6, dtype=torch.float64)).sum())
    assert synflow(net, (3, 6, 6)) == pytest.approx(2 * flow, rel=1e-12)


def test_snip_is_the_sum_of_gradient_times_weight_of_a_softmax_regression():
    """For logits = W x + b and the mean cross-entropy, ∂L/∂W = (p − onehot)ᵀ x / n, ∂L/∂b = mean(p − onehot)."""
    torch.manual_seed(2)
    net = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    with torch.no_grad():
        error = torch.softmax(net(x), 1) - nn.functional.one_hot(y, 3).float()
        expected = float((error.T @ x / 8 * net.weight).abs().sum() + (error.mean(0) * net.bias).abs().sum())
    assert snip(net, x, y) == pytest.approx(expected, rel=1e-5)
    assert net.weight.grad is None  # no gradient left behind


def test_jacob_cov_is_largest_for_uncorrelated_jacobians():
    """f(x) = Σ x²: J_i = 2 x_i. Rows of a Hadamard matrix (all but the constant one) are zero-mean and orthogonal, so
    the correlation matrix is I and the score is −n (log(1 + k) + 1/(1 + k)); a linear f has one Jacobian for every
    image (correlations all 1, n − 1 zero eigenvalues) and scores about −(n − 1)/k."""
    hadamard = np.array([[1.0]])
    for _ in range(3):
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    x = torch.tensor(hadamard[1:5], dtype=torch.float32)  # 4 images of 8 "pixels"

    class Square(nn.Module):
        def forward(self, inputs):
            return (inputs**2).sum(1, keepdim=True)

    n = len(x)
    best = -n * (math.log(1 + JACOB_COV_K) + 1 / (1 + JACOB_COV_K))
    assert jacob_cov(Square(), x) == pytest.approx(best, rel=1e-6)
    torch.manual_seed(3)
    linear = nn.Linear(8, 1)
    worst = jacob_cov(linear, torch.randn(4, 8))
    assert worst < -(n - 1) / JACOB_COV_K * 0.9
    assert worst < jacob_cov(Square(), torch.randn(4, 8)) < best + 1e-9


def test_a_network_whose_output_ignores_its_input_has_no_jacob_cov_and_the_others_are_defined():
    """An NB201 cell with no path from its input to its output: the logits are the classifier's bias alone."""
    from darts_tse.networks import NB201Network
    from darts_tse.space import Genotype

    cell = Genotype.parse("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|none~2|")
    torch.manual_seed(0)
    net = NB201Network(cell, 4, 1, 10)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    assert math.isnan(jacob_cov(NB201Network(cell, 4, 1, 1), x))
    assert math.isfinite(snip(net, x, y)) and math.isfinite(synflow(net, (3, 8, 8)))
