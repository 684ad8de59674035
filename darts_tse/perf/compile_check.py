"""Is the compiled supernet right? One graph, and compiled gradients equal to eager ones.

:func:`check_compiled_gradients` builds two copies of a small supernet with the same weights, compiles one's mixed
forward with ``fullgraph=True`` (a graph break raises) through a backend that counts the graphs it is handed, runs
``steps`` forward/backward passes on each, and compares the loss and the gradients of α and of the stem convolution
(the first weight: its gradient has passed back through every cell). It resets TorchDynamo first (process-wide), so
the count is this check's own. ``tests/test_fast_paths.py`` runs it with the ``eager`` and ``aot_eager`` backends in
both memory layouts, and ``scripts/gpu_check.sh`` with inductor on CUDA; ``space.COMPILE_CHECKED_TORCH`` lists the
torch versions on which it has been seen to pass.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..mixing import build_mixing
from ..space import NB201SearchNetwork


@dataclass
class CompileCheck:
    """What one check saw: graphs compiled, and the largest gaps between compiled and eager (relative to the largest
    eager magnitude of each tensor)."""

    torch_version: str
    backend: str
    mode: str | None
    channels_last: bool
    mixing: str
    graphs: int
    loss_gap: float
    alpha_grad_gap: float
    stem_grad_gap: float
    alpha_grad_norm: float  # the compiled one: 0 is the failure this check exists for
    tolerance: float

    @property
    def passed(self) -> bool:
        """One graph, and every gap within the tolerance."""
        return self.graphs == 1 and max(self.loss_gap, self.alpha_grad_gap, self.stem_grad_gap) <= self.tolerance

    def to_dict(self) -> dict:
        """The fields and ``passed``, as plain data."""
        return {**asdict(self), "passed": self.passed}


def _relative_gap(value: torch.Tensor, reference: torch.Tensor) -> float:
    scale = float(reference.abs().max())
    return float((value - reference).abs().max()) / (scale if scale > 0 else 1.0)


def _counting(backend: str, graphs: list):
    inner = torch._dynamo.lookup_backend(backend)

    def count(graph_module, example_inputs):
        graphs.append(graph_module)
        return inner(graph_module, example_inputs)

    return count


def check_compiled_gradients(device: torch.device | str = "cpu", *, backend: str = "aot_eager", mode: str | None = None,
                             channels_last: bool = True, mixing: str = "softmax", C: int = 4, N: int = 1,
                             image_size: int = 8, batch_size: int = 4, steps: int = 2,
                             tolerance: float = 1e-4) -> CompileCheck:
    """Compiled (``fullgraph=True``) against eager on `steps` batches at the given size; see the module docstring.
    Dirichlet mixing draws the same sample in both copies. `mode` needs the inductor backend."""
    device = torch.device(device)
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager = NB201SearchNetwork(C, N, 10, mixing=build_mixing(mixing), channels_last=channels_last).to(device)
    compiled = NB201SearchNetwork(C, N, 10, mixing=build_mixing(mixing), channels_last=channels_last).to(device)
    compiled.load_state_dict(eager.state_dict())
    graphs: list = []
    if backend == "inductor":  # counted from Dynamo's own counters: inductor is not wrapped (its mode applies)
        torch._dynamo.utils.counters.clear()
        compiled.compile_mixed_forward(mode, fullgraph=True)
    else:
        compiled.compile_mixed_forward(backend=_counting(backend, graphs), fullgraph=True)
    generator = torch.Generator().manual_seed(1)
    gaps = {"loss": 0.0, "alpha": 0.0, "stem": 0.0}
    alpha_norm = 0.0
    for _ in range(steps):
        x = torch.randn(batch_size, 3, image_size, image_size, generator=generator).to(device)
        y = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
        seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        results = []
        for model in (compiled, eager):  # the compiled one first, as in a run that compiles from its first step
            torch.manual_seed(seed)  # the same Dirichlet sample in both copies (drawn eagerly, before the graph)
            model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            results.append((loss.detach(), model.alpha.grad, model.stem[0].weight.grad))
        (loss_c, alpha_c, stem_c), (loss_e, alpha_e, stem_e) = results
        gaps["loss"] = max(gaps["loss"], _relative_gap(loss_c, loss_e))
        gaps["alpha"] = max(gaps["alpha"], _relative_gap(alpha_c, alpha_e))
        gaps["stem"] = max(gaps["stem"], _relative_gap(stem_c, stem_e))
        alpha_norm = float(alpha_c.norm())
    count = len(graphs) if backend != "inductor" else int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    return CompileCheck(torch.__version__, backend, mode, channels_last, mixing, count, gaps["loss"], gaps["alpha"],
                        gaps["stem"], alpha_norm, tolerance)
