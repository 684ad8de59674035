"""How far second-order DARTS' finite-difference Hessian-vector product is from the exact one, batch by batch.

For each (search-train, search-valid) batch pair, at the supernet's current weights w: the architect's own pieces
(:func:`darts_tse.architects.unrolled_validation_gradients`) give a = ∇_α L_val(w', α) and v = ∇_{w'} L_val(w', α) at
w' = w − ξ ∇_w L_train(w, α); then H·v = ∇²_{α,w} L_train(w, α) v both ways, by DARTS' central difference
(:func:`~darts_tse.architects.finite_difference_hvp`, ε = radius/‖v‖, DARTS: radius 0.01) and exactly by double
backward (:func:`~darts_tse.architects.exact_hvp`). Per batch it reports, for each radius:

* ``hvp_rel`` = ‖H·v_fd − H·v_exact‖ / ‖H·v_exact‖ and ``hvp_cos``, their cosine;
* ``grad_rel`` = the relative difference of the two whole unrolled α gradients, ‖g_fd − g_exact‖ / ‖g_exact‖ with
  g = a − ξ H·v (what the α step actually uses);

and ``second_order_share`` = ξ‖H·v_exact‖ / ‖a‖ (how much the second-order term weighs at all), the seconds of each
product, and the weights' state (``train_steps`` weight steps taken before the first batch). BN running statistics
are left as they were (as in the architect).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from ..architects import exact_hvp, finite_difference_hvp, unrolled_validation_gradients
from ..data import CyclingBatches, load_search_data
from ..mixing import build_mixing
from ..search import resolve_device, run_environment
from ..space import NB201SearchNetwork
from ..training import WeightTrainer, buffers_kept


@dataclass
class HVPCompareConfig:
    C: int = 16
    N: int = 5
    batch_size: int = 64
    image_size: int = 32
    batches: int = 3  # batch pairs compared
    train_steps: int = 0  # weight steps (SGD, as the search) before the first comparison
    dataset: str = "synthetic"
    data_dir: str | None = None
    mixing: str = "softmax"
    xi: float = 0.025  # ξ: the weights' learning rate (the search's initial one)
    radii: tuple[float, ...] = (0.01,)  # finite-difference radii (ε = radius / ‖v‖)
    device: str = "cpu"
    threads: int | None = None
    seed: int = 0
    dtype: str = "float32"  # float64: the whole comparison in double precision (the network, the batches)


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _seconds_since(started: float, device: torch.device) -> float:
    """Seconds since `started`, after the device finished its queued work (CUDA launches return at once)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t))


def compare_hvp(config: HVPCompareConfig) -> dict:
    """Compare the two products on `config.batches` batch pairs; the rows, their medians and the configuration."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    images = 2 * config.batch_size * (config.batches + config.train_steps)
    data = load_search_data(config.dataset, config.data_dir, synthetic_samples=images,
                            synthetic_image_size=config.image_size, seed=config.seed,
                            image_size=config.image_size if config.dataset in ("folder", "npz") else None)
    model = NB201SearchNetwork(config.C, config.N, data.num_classes, mixing=build_mixing(config.mixing),
                               channels_last=True).to(device=device, dtype=DTYPES[config.dtype])
    model.train()
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=config.xi, momentum=0.9, nesterov=True, weight_decay=5e-4)
    trainer = WeightTrainer(model, optimizer, grad_clip=5.0)
    train = CyclingBatches(data.stream("train", config.batch_size, seed=config.seed, device=device))
    valid = CyclingBatches(data.stream("valid", config.batch_size, seed=config.seed, device=device))
    dtype = DTYPES[config.dtype]
    for _ in range(config.train_steps):
        x, y = next(train)
        trainer.step(x.to(dtype), y)
    weights = model.weight_parameters()
    rows = []
    for index in range(config.batches):
        (x, y), (x_val, y_val) = next(train), next(valid)
        x, x_val = x.to(dtype), x_val.to(dtype)
        with buffers_kept(model):
            mix = model.mixing_weights()
            alpha_grad, vector = unrolled_validation_gradients(model, weights, x, y, x_val, y_val, mix, config.xi)
            _seconds_since(0.0, device)  # the unrolled gradients' kernels out of the timing
            started = time.perf_counter()
            exact = exact_hvp(model, weights, x, y, vector, mix)
            exact_s = _seconds_since(started, device)
            exact_grad = alpha_grad - config.xi * exact
            row = {"batch": index, "second_order_share": config.xi * _norm(exact) / _norm(alpha_grad),
                   "exact_seconds": exact_s, "radii": {}}
            for radius in config.radii:
                started = time.perf_counter()
                approx = finite_difference_hvp(model, weights, x, y, vector, mix, radius=radius)
                seconds = _seconds_since(started, device)
                approx_grad = alpha_grad - config.xi * approx
                row["radii"][str(radius)] = {
                    "hvp_rel": _norm(approx - exact) / _norm(exact),
                    "hvp_cos": float(torch.nn.functional.cosine_similarity(approx.flatten(), exact.flatten(), dim=0)),
                    "grad_rel": _norm(approx_grad - exact_grad) / _norm(exact_grad), "seconds": seconds}
        rows.append(row)
    medians = {str(radius): {key: statistics.median(row["radii"][str(radius)][key] for row in rows)
                             for key in ("hvp_rel", "hvp_cos", "grad_rel")} for radius in config.radii}
    medians["second_order_share"] = statistics.median(row["second_order_share"] for row in rows)
    environment = run_environment(device, channels_last=True)
    return {"rows": rows, "medians": medians,
            "config": {**asdict(config), "radii": list(config.radii), "device": str(device), "data": data.name,
                       **{key: environment[key] for key in ("device_name", "torch", "threads", "cuda")}}}


def format_hvp_table(result: dict) -> str:
    """One line per batch and radius, then the medians, under a header naming the size, data and machine."""
    cfg = result["config"]
    lines = [f"C={cfg['C']} N={cfg['N']} batch={cfg['batch_size']} {cfg['image_size']}x{cfg['image_size']} "
             f"data={cfg['data']} {cfg.get('dtype', 'float32')} mixing={cfg['mixing']} ξ={cfg['xi']} after {cfg['train_steps']} weight steps; "
             f"device={cfg['device']} ({cfg['device_name']}) torch {cfg['torch']} threads={cfg['threads']}",
             f"{'batch':>5}{'radius':>9}{'‖Hv_fd − Hv‖/‖Hv‖':>20}{'cos':>8}{'‖g_fd − g‖/‖g‖':>17}"
             f"{'ξ‖Hv‖/‖a‖':>11}{'fd s':>7}{'exact s':>9}"]
    for row in result["rows"]:
        for radius, item in row["radii"].items():
            lines.append(f"{row['batch']:>5}{radius:>9}{item['hvp_rel']:>20.3f}{item['hvp_cos']:>8.3f}"
                         f"{item['grad_rel']:>17.4f}{row['second_order_share']:>11.4f}{item['seconds']:>7.1f}"
                         f"{row['exact_seconds']:>9.1f}")
    for radius in cfg["radii"]:
        m = result["medians"][str(radius)]
        lines.append(f"median, radius {radius}: HVP off by {100 * m['hvp_rel']:.1f}% (cos {m['hvp_cos']:.3f}); "
                     f"unrolled α gradient off by {100 * m['grad_rel']:.2f}%; second-order term "
                     f"{100 * result['medians']['second_order_share']:.2f}% of ‖a‖")
    return "\n".join(lines)
