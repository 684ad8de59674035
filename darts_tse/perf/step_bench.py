"""Per-minibatch cost of a search step: weights only, DARTS first order, DARTS-TSE (joint, rollout), a one-shot step on
one random path, xautodl's supernet.

Every case is built from the library's own pieces (``WeightTrainer``, ``ValidationArchitect``, ``TSEArchitect``), so the
numbers are what a search run pays. All cases share one model configuration, one seed and one pool of random batches.

Timing: after ``warmup`` units per case, the cases are timed round-robin (one unit of each case per round, ``repeats``
rounds) so that load drifting on a shared machine hits every case alike; the reported time is the median per minibatch.
A unit is one minibatch for the weights-only, DARTS, one-shot and xautodl cases, and one whole TSE window of K minibatches (its
α step included) for the TSE cases, divided by K. On CUDA the device is synchronised before each timer read.

Peak memory, per case:
  * CUDA: ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()`` minus the memory allocated at the
    start of the unit (the step's own transient memory: activations, gradients, optimizer state on the first step),
    maximum over the case's units.
  * CPU: a fresh subprocess per case builds the model, then reads its resident set size, resets the kernel's RSS
    high-water mark to it (``/proc/self/clear_refs``), runs two units and reports the high-water mark (``VmHWM``, the
    value ``getrusage().ru_maxrss`` reports) minus the RSS before the units. Where the reset is refused, the
    high-water mark of the whole process is used (``resource.getrusage``), which can include import-time peaks.
"""
from __future__ import annotations

import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..architects import TSEArchitect, ValidationArchitect, build_arch_optimizer
from ..mixing import SoftmaxMixing
from ..samplers import random_path
from ..search import AUTOCAST_DTYPES, run_environment
from ..space import NB201SearchNetwork
from ..training import WeightTrainer

CASES = ("weights_only", "darts", "darts_tse_joint", "darts_tse_rollout", "oneshot_random", "xautodl_weights_only")
LABELS = {
    "weights_only": "weights only (ours)",
    "darts": "DARTS 1st order",
    "darts_tse_joint": "DARTS-TSE joint",
    "darts_tse_rollout": "DARTS-TSE rollout",
    "oneshot_random": "one-shot, 1 random path",
    "xautodl_weights_only": "weights only (xautodl)",
}
REPO_ROOT = Path(__file__).resolve().parents[2]
POOL = 4  # distinct random batches per split, cycled


@dataclass
class BenchConfig:
    C: int = 16
    N: int = 5
    batch_size: int = 64
    image_size: int = 32
    num_classes: int = 10
    device: str = "auto"
    repeats: int = 5
    warmup: int = 1
    threads: int | None = None
    channels_last: bool = True
    K: int = 2
    seed: int = 0
    memory: bool = True
    cases: tuple[str, ...] = field(default=CASES)
    precision: str = "fp32"  # our supernet's cases: bf16 autocast (xautodl's stays float32)
    compile: str | None = None  # our supernet's cases: a torch.compile mode of the mixed forward
    cudnn_benchmark: bool = False  # CUDA: torch.backends.cudnn.benchmark for every case

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


def xautodl_available() -> bool:
    try:
        from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts  # noqa: F401
    except Exception:  # ImportError, or an import-time failure of the package on this torch
        return False
    return True


# ---- the cases -------------------------------------------------------------------------------------------------------
def _batches(config: BenchConfig, device: torch.device, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    shape = (config.batch_size, 3, config.image_size, config.image_size)
    return [(torch.randn(shape, generator=g).to(device), torch.randint(0, config.num_classes, (config.batch_size,), generator=g).to(device))
            for _ in range(POOL)]


def _weight_optimizer(params) -> torch.optim.Optimizer:
    """The search's weight optimizer (NB201/TSE settings), identical for our supernet and xautodl's."""
    return torch.optim.SGD(params, lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)


def _our_parts(config: BenchConfig, device: torch.device):
    torch.manual_seed(config.seed)
    model = NB201SearchNetwork(config.C, config.N, config.num_classes, mixing=SoftmaxMixing(),
                               channels_last=config.channels_last,
                               autocast_dtype=AUTOCAST_DTYPES[config.precision]).to(device)
    if config.compile is not None:
        model.compile_mixed_forward(config.compile)
    model.train()
    trainer = WeightTrainer(model, _weight_optimizer(model.weight_parameters()), grad_clip=5.0)
    return model, trainer, build_arch_optimizer(model)


def build_case(case: str, config: BenchConfig, device: torch.device) -> Callable[[], int]:
    """A closure running one timing unit of `case`; it returns the number of minibatches the unit trained on."""
    train = itertools.cycle(_batches(config, device, config.seed + 1))
    if case == "weights_only":
        _, trainer, _ = _our_parts(config, device)

        def unit() -> int:
            trainer.step(*next(train), accumulate_alpha=False)
            return 1
        return unit
    if case == "darts":
        model, trainer, arch_opt = _our_parts(config, device)
        valid = itertools.cycle(_batches(config, device, config.seed + 2))
        epoch = ValidationArchitect(model, trainer, arch_opt, valid, order=1).train_epoch(train)

        def unit() -> int:
            next(epoch)  # α step on a valid batch, then the weight step
            return 1
        return unit
    if case in ("darts_tse_joint", "darts_tse_rollout"):
        model, trainer, arch_opt = _our_parts(config, device)
        architect = TSEArchitect(model, trainer, arch_opt, K=config.K, mode=case.rsplit("_", 1)[1])

        def unit() -> int:  # one epoch of exactly one window: K weight steps and one α step
            for _ in architect.train_epoch(itertools.islice(train, config.K)):
                pass
            assert architect.alpha_steps == 1
            return config.K
        return unit
    if case == "oneshot_random":  # RandNAS: one uniformly random path per minibatch (WeightTrainer.step_paths)
        _, trainer, _ = _our_parts(config, device)
        generator = torch.Generator().manual_seed(config.seed)

        def unit() -> int:
            trainer.step_paths(*next(train), [random_path(generator)])
            return 1
        return unit
    if case == "xautodl_weights_only":
        return _xautodl_unit(config, device, train)
    raise ValueError(f"unknown case {case!r}; choose from {', '.join(CASES)}")


def _xautodl_unit(config: BenchConfig, device: torch.device, train) -> Callable[[], int]:
    """xautodl's NB201 DARTS supernet trained like its search script trains the weights (α frozen for this step)."""
    from xautodl.models.cell_operations import SearchSpaceNames
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts

    torch.manual_seed(config.seed)
    model = TinyNetworkDarts(config.C, config.N, 4, config.num_classes, SearchSpaceNames["nas-bench-201"], False, False).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    model.train()
    model.arch_parameters.requires_grad_(False)  # a weights-only step: no gradient to α
    weights = model.get_weights()
    optimizer = _weight_optimizer(weights)

    def unit() -> int:
        x, y = next(train)
        optimizer.zero_grad(set_to_none=True)
        _, logits = model(x.contiguous(memory_format=memory_format))
        F.cross_entropy(logits, y).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        optimizer.step()
        return 1
    return unit


# ---- timing and memory -------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(unit: Callable[[], int], device: torch.device, track_memory: bool) -> tuple[float, float | None]:
    """Seconds per minibatch of one unit, and (CUDA) its peak transient memory in MiB."""
    _sync(device)
    if track_memory:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    n = unit()
    _sync(device)
    elapsed = (time.perf_counter() - start) / n
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if track_memory else None
    return elapsed, peak


def warmed_units(config: BenchConfig, cases: list[str], device: torch.device, *,
                 build: Callable = build_case) -> dict[str, Callable[[], int]]:
    """One unit per case (``build``: :func:`build_case`, or another space's), each already run ``config.warmup``
    times untimed."""
    units = {case: build(case, config, device) for case in cases}
    for unit in units.values():
        for _ in range(config.warmup):
            unit()
    return units


def time_cases(config: BenchConfig, cases: list[str], *,
               build: Callable = build_case) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per-minibatch seconds of every timed unit per case, and the CUDA peak memory (empty on CPU)."""
    device = config.resolved_device()
    units = warmed_units(config, cases, device, build=build)
    track = device.type == "cuda"
    samples: dict[str, list[float]] = {case: [] for case in cases}
    peaks: dict[str, float] = {}
    for _ in range(config.repeats):
        for case, unit in units.items():
            seconds, peak = _timed(unit, device, track)
            samples[case].append(seconds)
            if peak is not None:
                peaks[case] = max(peaks.get(case, 0.0), peak)
    return samples, peaks


def _proc_status_kib(field: str) -> int | None:
    """A memory field of /proc/self/status (e.g. VmRSS, VmHWM) in KiB, or None where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kib() -> int | None:
    return _proc_status_kib("VmRSS")


def _hwm_kib() -> int:
    peak = _proc_status_kib("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def memory_probe(config: BenchConfig, case: str, *, build: Callable = build_case) -> dict:
    """Run in a fresh process: RSS high-water mark of two units of `case` above the RSS of the built model."""
    device = torch.device("cpu")
    unit = build(case, config, device)
    gc.collect()
    before = _rss_kib()
    reset = False
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (= ru_maxrss) to the current RSS
        reset = True
    except OSError:
        pass
    for _ in range(2):
        unit()
    peak = _hwm_kib()
    return {"peak_mem_mb": max(peak - (before or 0), 0) / 1024, "peak_rss_mb": peak / 1024,
            "method": "VmHWM reset via /proc/self/clear_refs" if reset and before is not None else "ru_maxrss (no reset)"}


def cpu_memory(config: BenchConfig, cases: list[str], *, module: str = __name__) -> dict[str, dict]:
    """Run ``module``'s ``memory_probe`` (this one's, or another space's) for each case in its own subprocess."""
    results = {}
    for case in cases:
        payload = json.dumps(asdict(config) | {"cases": [case]})
        code = (f"import json, sys, torch; from {module} import BenchConfig, memory_probe;"
                "c = json.loads(sys.argv[1]); c['cases'] = tuple(c['cases']); cfg = BenchConfig(**c);"
                "torch.set_num_threads(cfg.threads) if cfg.threads else None;"
                "print(json.dumps(memory_probe(cfg, sys.argv[2])))")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        out = subprocess.run([sys.executable, "-c", code, payload, case], capture_output=True, text=True, env=env,
                             cwd=REPO_ROOT, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"memory probe of {case} failed:\n{out.stderr[-2000:]}")
        results[case] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


# ---- the whole benchmark --------------------------------------------------------------------------------------------
def _ratio(a, b):
    return None if a is None or b is None else a / b


def run_benchmark(config: BenchConfig) -> dict:
    if config.threads:
        torch.set_num_threads(config.threads)
    device = config.resolved_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = config.cudnn_benchmark
    cases = [c for c in config.cases if c != "xautodl_weights_only" or xautodl_available()]
    samples, cuda_peaks = time_cases(config, cases)
    if device.type == "cuda":
        peak_mem = {case: cuda_peaks.get(case) for case in cases}
        peak_rss = None
        memory_method = "torch.cuda.max_memory_allocated after reset_peak_memory_stats, minus memory allocated at unit start"
    elif config.memory:
        probes = cpu_memory(config, cases)
        peak_mem = {case: probes[case]["peak_mem_mb"] for case in cases}
        peak_rss = {case: probes[case]["peak_rss_mb"] for case in cases}
        memory_method = ("fresh subprocess per case: " + probes[cases[0]]["method"]
                         + ", peak RSS of two units minus RSS of the built model") if cases else None
    else:
        peak_mem, peak_rss, memory_method = {case: None for case in cases}, None, None
    median = {case: statistics.median(samples[case]) for case in cases}
    environment = run_environment(device, channels_last=config.channels_last, compile=config.compile)
    result = {
        "weights_only_s": median.get("weights_only"),
        "darts_s": median.get("darts"),
        "darts_tse_joint_s": median.get("darts_tse_joint"),
        "darts_tse_rollout_s": median.get("darts_tse_rollout"),
        "oneshot_random_s": median.get("oneshot_random"),
        "xautodl_weights_only_s": median.get("xautodl_weights_only"),
        "peak_mem_mb": peak_mem,
        "peak_rss_mb": peak_rss,
        "samples_s": samples,
        "ratios": {
            "joint_over_weights_only": _ratio(median.get("darts_tse_joint"), median.get("weights_only")),
            "joint_over_darts": _ratio(median.get("darts_tse_joint"), median.get("darts")),
            # what joint / darts would be if the joint step cost exactly a weights-only step (a free α gradient)
            "weights_only_over_darts": _ratio(median.get("weights_only"), median.get("darts")),
            "rollout_over_weights_only": _ratio(median.get("darts_tse_rollout"), median.get("weights_only")),
            "oneshot_random_over_weights_only": _ratio(median.get("oneshot_random"), median.get("weights_only")),
            "ours_over_xautodl": _ratio(median.get("weights_only"), median.get("xautodl_weights_only")),
        },
        "config": {
            **{k: v for k, v in asdict(config).items() if k not in ("cases",)},
            "device": str(device),
            **{key: environment[key] for key in ("device_name", "torch", "python", "cuda", "cudnn", "cudnn_benchmark")},
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "xautodl": xautodl_available(),
            "memory_method": memory_method,
            "unit": "seconds per minibatch (median over repeats); TSE cases: one window of K minibatches / K",
        },
    }
    return result


def versions_text(cfg: dict) -> str:
    """'torch 2.11.0, CUDA 12.8, cuDNN 91002' (CUDA and cuDNN where the run was on CUDA)."""
    parts = [f"torch {cfg['torch']}"]
    if cfg.get("cuda"):
        parts.append(f"CUDA {cfg['cuda']}, cuDNN {cfg.get('cudnn')} (benchmark={cfg.get('cudnn_benchmark')})")
    return ", ".join(parts)


def format_table(result: dict) -> str:
    cfg = result["config"]
    lines = [f"C={cfg['C']} N={cfg['N']} batch={cfg['batch_size']} {cfg['image_size']}x{cfg['image_size']} "
             f"device={cfg['device']} ({cfg['device_name']}) {versions_text(cfg)} threads={cfg['threads']} "
             f"channels_last={cfg['channels_last']} precision={cfg.get('precision', 'fp32')} "
             f"compile={cfg.get('compile')} K={cfg['K']} repeats={cfg['repeats']}",
             f"{'case':<26}{'s / minibatch':>14}{'vs weights-only':>17}{'peak MiB':>10}"]
    base = result["weights_only_s"]
    for case in CASES:
        seconds = result.get(f"{case}_s")
        if seconds is None:
            lines.append(f"{LABELS[case]:<26}{'n/a':>14}")
            continue
        mem = (result["peak_mem_mb"] or {}).get(case)
        rel = f"{seconds / base:.2f}x" if base else "-"
        mem_text = "-" if mem is None else f"{mem:.0f}"
        lines.append(f"{LABELS[case]:<26}{seconds:>14.4f}{rel:>17}{mem_text:>10}")
    r = result["ratios"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"
    lines.append(f"joint / weights-only = {fmt(r['joint_over_weights_only'])} (target <= 1.05);  "
                 f"joint / darts = {fmt(r['joint_over_darts'])} (target <= 0.55);  "
                 f"ours / xautodl = {fmt(r['ours_over_xautodl'])} (target <= 0.80)")
    lines.append(f"weights-only / darts = {fmt(r['weights_only_over_darts'])} "
                 "(joint / darts if the joint step's α gradient cost nothing)")
    return "\n".join(lines)
