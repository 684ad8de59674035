"""What whole search epochs cost: every method's epoch (its minibatches and the evaluation on search-valid after it),
run by the search's own loop on synthetic data of the requested shape.

Each method is built from a config exactly as ``train_search.py`` / ``scripts/train_oneshot.py`` build it
(:func:`darts_tse.search.build_components`) and runs ``warmup_epochs`` untimed epochs, then ``epochs`` timed ones
through :func:`darts_tse.search.train_and_evaluate` (the part of the loop's epoch before its record: no NB201 look-up,
no checkpoint, no files). Per method it reports the median over the timed epochs of the milliseconds per training
minibatch and of the evaluation's seconds, their search-valid batch count, and on CUDA the peak memory allocated
during the timed epochs (``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``: model, optimizer
state, data and activations; what one search needs on the device). Both timers end in a read of a device number
(the loss sums), so on CUDA they include the device's work. ``projected_search_minutes`` is ``search_epochs`` whole
epochs at the measured rates: (ms per minibatch × the data's minibatches + evaluation seconds per batch × its
search-valid batches) × ``search_epochs``, so a run capped by ``steps_per_epoch`` still projects whole epochs;
arithmetic on the measured epochs, labelled as such.
"""
from __future__ import annotations

import gc
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch

from ..config import BENCH_METHOD_CASES, OneShotConfig, RunConfig, SearchConfig
from ..search import build_components, configure_kernels, resolve_device, run_environment, train_and_evaluate

ONESHOT_PREFIX = "oneshot-"
METHOD_CASES = BENCH_METHOD_CASES


@dataclass
class SearchBenchConfig:
    """The size, device and fast paths every method is timed at (defaults: the NB201 search setting)."""

    methods: tuple[str, ...] = METHOD_CASES
    C: int = 16
    N: int = 5
    batch_size: int = 64
    image_size: int = 32
    train_images: int = 25_000  # per half: search-train and search-valid have this many images each
    epochs: int = 1  # timed epochs per method
    warmup_epochs: int = 1  # untimed epochs first (compilation, cuDNN autotuning, allocator warm-up)
    steps_per_epoch: int | None = None  # cap on minibatches (and evaluation batches) per epoch; None: all
    search_epochs: int = 50  # for the projection of a whole search
    device: str = "auto"
    threads: int | None = None
    channels_last: bool = True
    precision: str = "fp32"
    compile: str | None = None
    cudnn_benchmark: bool = False
    data_on_device: bool = False
    K: int = 100
    tse_mode: str = "joint"
    order: int = 1
    hvp: str = "finite-difference"
    probes: int = 8  # one-shot: subnetworks evaluated after every epoch
    seed: int = 0
    extra: dict = field(default_factory=dict)  # any other RunConfig setting, by name

    def run_config(self, method: str) -> RunConfig:
        """The validated config of one method at this size (synthetic data, no files, no W&B)."""
        shared = dict(dataset="synthetic", synthetic_samples=2 * self.train_images,
                      synthetic_image_size=self.image_size, C=self.C, N=self.N, batch_size=self.batch_size,
                      epochs=self.warmup_epochs + self.epochs, steps_per_epoch=self.steps_per_epoch,
                      device=self.device, threads=self.threads, channels_last=self.channels_last,
                      precision=self.precision, compile=self.compile, cudnn_benchmark=self.cudnn_benchmark,
                      data_on_device=self.data_on_device, seed=self.seed, wandb="disabled", progress=False,
                      **self.extra)
        if method.startswith(ONESHOT_PREFIX):
            return OneShotConfig(sampler=method[len(ONESHOT_PREFIX):], probes=self.probes, **shared).validate()
        return SearchConfig(method=method, K=self.K, tse_mode=self.tse_mode, order=self.order, hvp=self.hvp,
                            **shared).validate()


def time_method(bench: SearchBenchConfig, method: str, device: torch.device) -> dict:
    """Build `method`'s run and time its epochs (see the module docstring)."""
    config = bench.run_config(method)
    if config.compile is not None:  # each method's graphs from scratch, not at the recompile limit of the one before
        torch._dynamo.reset()
    torch.manual_seed(config.seed)
    parts = build_components(config, device)
    cuda = device.type == "cuda"
    train_s, eval_s, steps = [], [], None
    try:
        for epoch in range(config.epochs):
            timed = epoch >= bench.warmup_epochs
            if timed and cuda and not train_s:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
            result = train_and_evaluate(config, parts, epoch)
            if timed:
                train_s.append(result.train_seconds)
                eval_s.append(result.eval_seconds)
                steps = result.train["steps"]
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
        full_train = math.ceil(len(parts.data.train) / config.batch_size)
        full_eval = math.ceil(len(parts.data.valid) / config.batch_size)
    finally:
        del parts
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    ms, eval_median = 1000 * statistics.median(train_s) / steps, statistics.median(eval_s)
    eval_batches = min(full_eval, config.valid_batch_limit() or full_eval)  # per probe for a one-shot run
    whole_epoch_s = ms * full_train / 1000 + eval_median * full_eval / eval_batches
    return {"ms_per_minibatch": ms, "steps": steps, "train_seconds": train_s, "eval_seconds": eval_s,
            "eval_median_seconds": eval_median, "eval_batches": eval_batches, "peak_mem_mb": peak,
            "epoch_minibatches": full_train, "epoch_eval_batches": full_eval,
            "projected_search_minutes": bench.search_epochs * whole_epoch_s / 60}


def run_search_benchmark(bench: SearchBenchConfig) -> dict:
    """Time every method of `bench`; the result (plain data) with the configuration and the machine."""
    unknown = [method for method in bench.methods if method not in METHOD_CASES]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHOD_CASES)}")
    if bench.threads:
        torch.set_num_threads(bench.threads)
    device = resolve_device(bench.device)
    configure_kernels(bench.run_config(bench.methods[0]), device)
    started = time.time()
    methods = {method: time_method(bench, method, device) for method in bench.methods}
    environment = run_environment(device, channels_last=bench.channels_last, compile=bench.compile)
    return {"methods": methods,
            "config": {**asdict(bench), "methods": list(bench.methods), "device": str(device),
                       **environment, "cpu_count": os.cpu_count(), "wall_seconds": round(time.time() - started, 1),
                       "unit": "ms_per_minibatch: median over the timed epochs of the training seconds / minibatches; "
                               "eval: seconds of the evaluation on search-valid after each epoch"}}


def format_search_table(result: dict) -> str:
    """The result as a fixed-width table, with a header line naming the size, device, versions and fast paths."""
    cfg = result["config"]
    versions = f"torch {cfg['torch']}" + (f", CUDA {cfg['cuda']}, cuDNN {cfg['cudnn']}" if cfg.get("cuda") else "")
    steps = cfg["steps_per_epoch"] or "all"
    lines = [f"C={cfg['C']} N={cfg['N']} batch={cfg['batch_size']} {cfg['image_size']}x{cfg['image_size']} "
             f"train/valid images={cfg['train_images']} steps/epoch={steps} device={cfg['device']} "
             f"({cfg['device_name']}) {versions} threads={cfg['threads']} precision={cfg['precision']} "
             f"compile={cfg['compile']} cudnn_benchmark={cfg['cudnn_benchmark']} "
             f"data_on_device={cfg['data_on_device']} K={cfg['K']} timed epochs={cfg['epochs']} "
             f"(+{cfg['warmup_epochs']} warm-up)",
             f"{'method':<20}{'ms / minibatch':>15}{'minibatches':>12}{'eval s':>9}{'eval batches':>13}"
             f"{'peak MiB':>10}{'projected ' + str(cfg['search_epochs']) + '-epoch search (min)':>34}"]
    for method, row in result["methods"].items():
        peak = "-" if row["peak_mem_mb"] is None else f"{row['peak_mem_mb']:.0f}"
        lines.append(f"{method:<20}{row['ms_per_minibatch']:>15.1f}{row['steps']:>12}{row['eval_median_seconds']:>9.2f}"
                     f"{row['eval_batches']:>13}{peak:>10}{row['projected_search_minutes']:>34.1f}")
    lines.append("projected = search epochs of whole epochs (all minibatches, all eval batches) at the measured rates; "
                 "one-shot evaluations read the eval batches once per probe")
    return "\n".join(lines)
