"""DARTS' architect: α follows the gradient of the loss on held-out (search-valid) batches.

First order: ∇_α L_val(w, α). Second order (unrolled, DARTS eq. 7): the gradient at w' = w − ξ∇_w L_train(w, α)
(ξ = the weights' current learning rate), ∇_α L_val(w', α) − ξ ∇²_{α,w} L_train(w, α) ∇_{w'} L_val(w', α), where the
Hessian-vector product is the central finite difference with ε = 0.01 / ‖∇_{w'} L_val‖ (DARTS eq. 8), or, with
``hvp="exact"``, the exact product by double backward (∂/∂α ⟨∇_w L_train(w, α), v⟩; the fused cell's autograd
function supports it). Its forwards at trial weights (w', w ± εv) do not change the BN running statistics.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch

from ..training import StepStats, WeightTrainer, buffers_kept, classification_loss, weights_frozen
from .base import Architect, Batch

HVP_METHODS = ("finite-difference", "exact")


class ValidationArchitect(Architect):
    """One α step on a search-valid batch before every weight step (order 1 or 2)."""

    def __init__(self, model, trainer: WeightTrainer, arch_optimizer, valid_batches: Iterator[Batch], *, order: int = 1,
                 hvp: str = "finite-difference", hvp_radius: float = 0.01):
        super().__init__(model, trainer, arch_optimizer)
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (first order) or 2 (unrolled second order), got {order}")
        if hvp not in HVP_METHODS:
            raise ValueError(f"unknown Hessian-vector product {hvp!r}; choose one of {', '.join(HVP_METHODS)}")
        self.valid_batches = valid_batches
        self.order = order
        self.hvp = hvp
        self.hvp_radius = hvp_radius  # finite difference: ε = hvp_radius / ‖∇_{w'} L_val‖ (DARTS: 0.01)
        self.weights = model.weight_parameters()

    def state_dict(self) -> dict:
        state = super().state_dict()
        if hasattr(self.valid_batches, "state_dict"):
            state["valid_batches"] = self.valid_batches.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "valid_batches" in state:
            self.valid_batches.load_state_dict(state["valid_batches"])

    def _search_epoch(self, batches: Iterable[Batch]) -> Iterator[StepStats]:
        for x, y in batches:
            x_val, y_val = next(self.valid_batches)
            if self.order == 1:
                self._first_order_gradient(x_val, y_val)
            else:
                self._second_order_gradient(x, y, x_val, y_val)
            self.apply_alpha_step()
            yield self.trainer.step(x, y)

    def _first_order_gradient(self, x_val: torch.Tensor, y_val: torch.Tensor) -> None:
        self.zero_alpha_grad()
        with weights_frozen(self.model):  # α's gradient alone, also in a compiled backward
            loss, _ = classification_loss(self.model, x_val, y_val)
            loss.backward(inputs=self.alpha)

    def _second_order_gradient(self, x, y, x_val, y_val) -> None:
        # the passes at w' and w ± εv run at trial weights: they leave the BN running statistics as they were (DARTS
        # runs its w' passes on a model copy, whose statistics are dropped, but lets its w ± εv passes update them)
        with buffers_kept(self.model):
            self._unrolled_gradient(x, y, x_val, y_val)

    def _unrolled_gradient(self, x, y, x_val, y_val) -> None:
        xi = self.trainer.lr
        mix = self.model.mixing_weights()  # one sample for every pass of this α step (matters for Dirichlet mixing)
        alpha_grad, vector = unrolled_validation_gradients(self.model, self.weights, x, y, x_val, y_val, mix, xi)
        if self.hvp == "exact":
            hvp = exact_hvp(self.model, self.weights, x, y, vector, mix)
        else:
            hvp = finite_difference_hvp(self.model, self.weights, x, y, vector, mix, radius=self.hvp_radius)
        self.zero_alpha_grad()
        self.alpha[0].grad = alpha_grad - xi * hvp  # the space's one α parameter (spaces.Supernet)


def unrolled_validation_gradients(model, weights: list[torch.Tensor], x, y, x_val, y_val, mix: torch.Tensor,
                                  xi: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(∇_α L_val(w', α), v = ∇_{w'} L_val(w', α)) at the unrolled weights w' = w − ξ ∇_w L_train(w, α): the two
    first terms of DARTS' second-order gradient. The weights are restored exactly afterwards. `mix` must be a
    function of α (its graph is reused)."""
    original = [w.detach().clone() for w in weights]
    train_loss, _ = classification_loss(model, x, y, mix.detach())
    grads = torch.autograd.grad(train_loss, weights)
    with torch.no_grad():
        torch._foreach_add_(weights, grads, alpha=-xi)
    val_loss, _ = classification_loss(model, x_val, y_val, mix)
    val_grads = torch.autograd.grad(val_loss, model.arch_parameters() + weights, retain_graph=True)
    with torch.no_grad():
        torch._foreach_copy_(weights, original)
    return val_grads[0], list(val_grads[1:])


def exact_hvp(model, weights: list[torch.Tensor], x, y, vector: list[torch.Tensor], mix: torch.Tensor) -> torch.Tensor:
    """∇²_{α,w} L_train(w, α) · v exactly, by double backward: ∂/∂α ⟨∇_w L_train(w, α), v⟩ (one forward, a backward
    that keeps its graph, and a backward through it). `mix` must be a function of α (its graph is reused)."""
    loss, _ = classification_loss(model, x, y, mix)
    grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    inner = sum((g * v).sum() for g, v in zip(grads, vector) if g is not None)
    return torch.autograd.grad(inner, model.arch_parameters(), retain_graph=True)[0]


def finite_difference_hvp(
    model, weights: list[torch.Tensor], x, y, vector: list[torch.Tensor], mix: torch.Tensor, *, radius: float = 0.01
) -> torch.Tensor:
    """∇²_{α,w} L_train(w, α) · v by central differences: (∇_α L(w + εv) − ∇_α L(w − εv)) / 2ε, ε = radius/‖v‖.

    The weights are restored exactly afterwards. `mix` must be a function of α (its graph is reused).
    """
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for v in vector]))
    eps = radius / norm
    original = [w.detach().clone() for w in weights]
    gradients = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            torch._foreach_copy_(weights, original)
            torch._foreach_add_(weights, torch._foreach_mul(vector, sign * eps))
        with weights_frozen(model):  # α's gradient alone, also in a compiled backward
            loss, _ = classification_loss(model, x, y, mix)
            gradients.append(torch.autograd.grad(loss, model.arch_parameters(), retain_graph=True)[0])
    with torch.no_grad():
        torch._foreach_copy_(weights, original)
    return (gradients[0] - gradients[1]) / (2 * eps)
