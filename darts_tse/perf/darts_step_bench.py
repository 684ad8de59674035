"""Per-minibatch cost of a search step in the DARTS space (``scripts/bench_step.py --space darts``).

Cases, all at one configuration (default C = 16, 8 layers, batch 64, 32×32, 10 classes), one seed, one pool of random
batches:

* ``weights_only``: our :class:`~darts_tse.darts_space.DartsSearchNetwork`, one ``WeightTrainer`` step (forward,
  backward, clip, SGD), no gradient to α;
* ``darts_tse_joint``: DARTS-TSE joint, one window of K minibatches (α step included) divided by K;
* ``pc_weights_only``: the weights-only step with partial channels K = ``partial_channels`` (PC-DARTS' memory lever);
* ``peer_darts_weights_only``: DARTS' own ``Network`` (quark0/darts ``cnn/model_search.py``, the user's copy given
  by ``--peer-darts``), trained as its search script trains the weights (SGD, clip 5), α frozen.

Timing and memory are :mod:`.step_bench`'s: round-robin rounds after warm-up, median per minibatch; CPU peak memory is
the RSS high-water mark of two units in a fresh subprocess per case, minus the RSS of the built model.
"""
from __future__ import annotations

import itertools
import os
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..architects import TSEArchitect, build_arch_optimizer
from ..darts_space import DartsSearchNetwork
from ..mixing import SoftmaxMixing
from ..search import AUTOCAST_DTYPES, run_environment
from ..training import WeightTrainer
from . import step_bench
from .darts_peer import load_peer_network
from .step_bench import _batches, _weight_optimizer, cpu_memory, time_cases

DARTS_CASES = ("weights_only", "darts_tse_joint", "pc_weights_only", "peer_darts_weights_only")
DARTS_LABELS = {
    "weights_only": "weights only (ours)",
    "darts_tse_joint": "DARTS-TSE joint",
    "pc_weights_only": "weights only, partial ch.",
    "peer_darts_weights_only": "weights only (DARTS)",
}


@dataclass
class DartsBenchConfig:
    C: int = 16
    layers: int = 8
    batch_size: int = 64
    image_size: int = 32
    num_classes: int = 10
    device: str = "auto"
    repeats: int = 3
    warmup: int = 1
    threads: int | None = None
    channels_last: bool = False
    K: int = 2
    seed: int = 0
    memory: bool = True
    partial_channels: int = 4  # the pc_weights_only case
    peer_darts: str | None = None  # the user's quark0/darts cnn/model_search.py
    cases: tuple[str, ...] = field(default=DARTS_CASES)
    precision: str = "fp32"  # our supernet's cases: bf16 autocast (DARTS' network stays float32)

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


BenchConfig = DartsBenchConfig  # the name step_bench.cpu_memory's subprocess imports


def _our_parts(config: DartsBenchConfig, device: torch.device, partial_channels: int = 1):
    torch.manual_seed(config.seed)
    model = DartsSearchNetwork(config.C, config.layers, config.num_classes, mixing=SoftmaxMixing(),
                               partial_channels=partial_channels, channels_last=config.channels_last,
                               autocast_dtype=AUTOCAST_DTYPES[config.precision]).to(device)
    model.train()
    trainer = WeightTrainer(model, _weight_optimizer(model.weight_parameters()), grad_clip=5.0)
    return model, trainer, build_arch_optimizer(model)


def build_darts_case(case: str, config: DartsBenchConfig, device: torch.device) -> Callable[[], int]:
    """A closure running one timing unit of ``case``; it returns the number of minibatches the unit trained on."""
    train = itertools.cycle(_batches(config, device, config.seed + 1))
    if case in ("weights_only", "pc_weights_only"):
        _, trainer, _ = _our_parts(config, device, config.partial_channels if case == "pc_weights_only" else 1)

        def unit() -> int:
            trainer.step(*next(train), accumulate_alpha=False)
            return 1
        return unit
    if case == "darts_tse_joint":
        model, trainer, arch_opt = _our_parts(config, device)
        architect = TSEArchitect(model, trainer, arch_opt, K=config.K, mode="joint")

        def unit() -> int:  # one epoch of exactly one window: K weight steps and one α step
            for _ in architect.train_epoch(itertools.islice(train, config.K)):
                pass
            return config.K
        return unit
    if case == "peer_darts_weights_only":
        if config.peer_darts is None:
            raise ValueError("the peer_darts_weights_only case needs --peer-darts PATH (quark0/darts cnn/model_search.py)")
        torch.manual_seed(config.seed)
        model = load_peer_network(config.peer_darts, config.C, config.num_classes, config.layers, device)
        weights = [p for p in model.parameters() if p.requires_grad]
        optimizer = _weight_optimizer(weights)

        def unit() -> int:
            x, y = next(train)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(weights, 5.0)
            optimizer.step()
            return 1
        return unit
    raise ValueError(f"unknown case {case!r}; choose from {', '.join(DARTS_CASES)}")


def memory_probe(config: DartsBenchConfig, case: str) -> dict:
    """:func:`.step_bench.memory_probe` with this space's cases (run in a fresh process)."""
    return step_bench.memory_probe(config, case, build=build_darts_case)


def _ratio(a, b):
    return None if a is None or b is None else a / b


def run_darts_benchmark(config: DartsBenchConfig) -> dict:
    """Time every case (and measure its peak memory); the result is JSON-ready."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = config.resolved_device()
    cases = [c for c in config.cases if c != "peer_darts_weights_only" or config.peer_darts is not None]
    samples, cuda_peaks = time_cases(config, cases, build=build_darts_case)
    if device.type == "cuda":
        peak_mem = {case: cuda_peaks.get(case) for case in cases}
        memory_method = "torch.cuda.max_memory_allocated after reset_peak_memory_stats, minus memory allocated at unit start"
    elif config.memory:
        probes = cpu_memory(config, cases, module=__name__)
        peak_mem = {case: probes[case]["peak_mem_mb"] for case in cases}
        memory_method = ("fresh subprocess per case: " + probes[cases[0]]["method"]
                         + ", peak RSS of two units minus RSS of the built model") if cases else None
    else:
        peak_mem, memory_method = {case: None for case in cases}, None
    median = {case: statistics.median(samples[case]) for case in cases}
    environment = run_environment(device, channels_last=config.channels_last)
    return {
        "space": "darts",
        **{f"{case}_s": median.get(case) for case in DARTS_CASES},
        "peak_mem_mb": peak_mem,
        "samples_s": samples,
        "ratios": {
            "ours_over_peer_time": _ratio(median.get("weights_only"), median.get("peer_darts_weights_only")),
            "ours_over_peer_memory": _ratio(peak_mem.get("weights_only"), peak_mem.get("peer_darts_weights_only")),
            "joint_over_weights_only": _ratio(median.get("darts_tse_joint"), median.get("weights_only")),
            "pc_over_full_memory": _ratio(peak_mem.get("pc_weights_only"), peak_mem.get("weights_only")),
        },
        "config": {
            **{k: v for k, v in asdict(config).items() if k != "cases"},
            "device": str(device),
            **{key: environment[key] for key in ("device_name", "torch", "python", "cuda", "cudnn")},
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "memory_method": memory_method,
            "unit": "seconds per minibatch (median over repeats); TSE joint: one window of K minibatches / K",
        },
    }


def format_darts_table(result: dict) -> str:
    cfg = result["config"]
    lines = [f"DARTS space: C={cfg['C']} layers={cfg['layers']} batch={cfg['batch_size']} "
             f"{cfg['image_size']}x{cfg['image_size']} device={cfg['device']} ({cfg['device_name']}) torch {cfg['torch']} "
             f"threads={cfg['threads']} channels_last={cfg['channels_last']} precision={cfg['precision']} K={cfg['K']} "
             f"partial_channels={cfg['partial_channels']} repeats={cfg['repeats']}",
             f"{'case':<28}{'s / minibatch':>14}{'vs weights-only':>17}{'peak MiB':>10}"]
    base = result["weights_only_s"]
    for case in DARTS_CASES:
        seconds = result.get(f"{case}_s")
        if seconds is None:
            why = " (pass --peer-darts PATH)" if case == "peer_darts_weights_only" and not cfg["peer_darts"] else ""
            lines.append(f"{DARTS_LABELS[case]:<28}{'n/a':>14}{why}")
            continue
        mem = (result["peak_mem_mb"] or {}).get(case)
        rel = f"{seconds / base:.2f}x" if base else "-"
        lines.append(f"{DARTS_LABELS[case]:<28}{seconds:>14.4f}{rel:>17}{'-' if mem is None else f'{mem:.0f}':>10}")
    r = result["ratios"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"
    lines.append(f"ours / DARTS: time {fmt(r['ours_over_peer_time'])} (target <= 0.8), memory "
                 f"{fmt(r['ours_over_peer_memory'])} (target <= 0.7);  joint / weights-only = "
                 f"{fmt(r['joint_over_weights_only'])} (target <= 1.05);  partial channels / full memory = "
                 f"{fmt(r['pc_over_full_memory'])} (target <= 0.5)")
    return "\n".join(lines)
