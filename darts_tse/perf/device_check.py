"""The stages of the one-call device check (``scripts/gpu_check.sh``) that run in Python, one process each.

Each stage writes ``<stage>.json`` into the work folder after every item it finishes (a stage cut by its time limit
keeps what it finished) and returns the lines it adds to ``summary.txt``. Every item is caught on its own: one that
fails is recorded (``ok: false`` and its error) and the stage goes on. Nothing here needs W&B, submitit or optuna.

* ``searches``: one short search per method and variant (second order, rollout, DrNAS' KL, a one-shot supernet)
  through :func:`search.run_search`, as ``train_search.py`` runs them (run directories, checkpoints, NB201 look-ups).
* ``audit``: is the device path right? One compiled graph and compiled gradients equal to eager
  (:mod:`.compile_check`), host synchronisations per step of every variant (``torch.cuda.set_sync_debug_mode``), the
  dtypes of a bf16 step, exact resume (on the device, and a CUDA run resumed on the CPU), two ``--deterministic``
  runs bit for bit, and CUDA graphs (``reduce-overhead``) when the first forward is the compiled one.
* ``eager``: eager fp32 ms per minibatch, evaluation seconds and peak memory of every method (:mod:`.search_bench`).
* ``fast``: each fast path alone and all together, DARTS-TSE (:mod:`.search_bench`).
* ``compile``: DARTS-TSE with ``--compile``: its timings and TorchDynamo's counters (graphs, graph breaks,
  recompiles); run in its own process with its own time limit.
* ``paper``: the summary of the paper-size DARTS vs DARTS-TSE searches the script ran until its budget ended.

At ``size="tiny"`` everything is small enough to dry-run on a CPU in seconds; the checks that need CUDA say so.
"""
from __future__ import annotations

import json
import math
import time
import traceback
import warnings
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..config import OneShotConfig, SearchConfig
from ..mixing import SoftmaxMixing
from ..search import build_components, resumed_config, run_search
from ..space import NB201SearchNetwork
from .compile_check import check_compiled_gradients
from .search_bench import SearchBenchConfig, format_search_table, run_search_benchmark


@dataclass(frozen=True)
class Size:
    """The network, batch and steps a stage runs at."""

    C: int
    N: int
    batch_size: int
    image_size: int
    steps: int  # minibatches per epoch (and search-valid batches per evaluation)


CHECK_SIZES = {"paper": Size(16, 5, 64, 32, 50), "tiny": Size(4, 1, 8, 16, 2)}

# one short search per method and variant: (kind, settings)
VARIANTS: dict[str, tuple[str, dict]] = {
    "darts": ("search", {"method": "darts"}),
    "darts-order2": ("search", {"method": "darts", "order": 2}),
    "darts-tse": ("search", {"method": "darts-tse", "K": 2}),
    "darts-tse-rollout": ("search", {"method": "darts-tse", "K": 2, "tse_mode": "rollout"}),
    "drnas": ("search", {"method": "drnas"}),
    "drnas-kl": ("search", {"method": "drnas", "drnas_reg": "kl"}),
    "drnas-tse": ("search", {"method": "drnas-tse", "K": 2}),
    "oneshot-random": ("oneshot", {"sampler": "random", "probes": 2}),
}
METHODS = ("darts", "darts-tse", "drnas", "drnas-tse")
FAST_PATHS = {"data_on_device": {"data_on_device": True}, "cudnn_benchmark": {"cudnn_benchmark": True},
              "nchw": {"channels_last": False}, "bf16": {"precision": "bf16"},
              "together": {"data_on_device": True, "cudnn_benchmark": True, "precision": "bf16"}}


@dataclass
class CheckSetup:
    """Where a stage runs and on what: the device, the size, the work folder, the data (an .npz such as the CIFAR-10
    subset, else synthetic images), the NB201 table (else valid-only look-ups) and CPU threads."""

    device: str
    size: str
    work: Path
    data: str | None = None
    table: str | None = None
    threads: int | None = None

    @property
    def cuda(self) -> bool:
        return torch.device(self.device).type == "cuda"

    def run_settings(self, **overrides) -> dict:
        """The settings every run of the check shares, with `overrides` on top."""
        size = CHECK_SIZES[self.size]
        values = dict(C=size.C, N=size.N, batch_size=size.batch_size, epochs=1, steps_per_epoch=size.steps,
                      device=self.device, threads=self.threads, benchmark=self.table, wandb="disabled",
                      progress=False, seed=0)
        if self.data:
            values |= dict(dataset="npz", data_dir=self.data, image_size=size.image_size)
        else:
            values |= dict(dataset="synthetic", synthetic_samples=8 * size.batch_size,
                           synthetic_image_size=size.image_size)
        return values | overrides


class Stage:
    """The results of one stage, written to ``<name>.json`` after every item."""

    def __init__(self, name: str, setup: CheckSetup):
        self.name, self.setup = name, setup
        self.results: dict = {"stage": name, "device": setup.device, "size": setup.size, "torch": torch.__version__,
                              "items": {}}
        self.lines: list[str] = []

    def item(self, key: str, work: Callable[[], dict], describe: Callable[[dict], str]) -> dict | None:
        """Run one item; record its result (or its error) and a summary line; None when it failed."""
        started = time.perf_counter()
        try:
            result = work()
        except Exception as error:  # recorded, and the stage goes on with its next item
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
            self.results["items"][key] = {"ok": False, "error": message, "traceback": traceback.format_exc()[-4000:],
                                          "seconds": round(time.perf_counter() - started, 2)}
            self.lines.append(f"  {key}: FAILED {message}")
            self.save()
            return None
        result.setdefault("ok", True)
        result["seconds"] = round(time.perf_counter() - started, 2)
        self.results["items"][key] = result
        self.lines.append(f"  {key}: {'ok' if result['ok'] else 'NOT OK'} {describe(result)}")
        self.save()
        return result

    def skip(self, key: str, reason: str) -> None:
        """An item this device cannot run."""
        self.results["items"][key] = {"ok": None, "skipped": reason}
        self.lines.append(f"  {key}: skipped ({reason})")
        self.save()

    def save(self) -> None:
        """``<name>.json`` (everything) and ``<name>.summary.txt`` (the lines so far), rewritten after each item."""
        (self.setup.work / f"{self.name}.json").write_text(json.dumps(self.results, indent=1, default=str))
        (self.setup.work / f"{self.name}.summary.txt").write_text("".join(f"{line}\n" for line in self.lines))


# ---- (b) one short search per method and variant -----------------------------------------------------------------
def searches(setup: CheckSetup) -> list[str]:
    """Every variant of :data:`VARIANTS`, one epoch at the setup's size, as a real run directory."""
    stage = Stage("searches", setup)
    for name, (kind, settings) in VARIANTS.items():
        def run(kind=kind, settings=settings, name=name) -> dict:
            values = setup.run_settings(out=str(setup.work / "searches" / name), **settings)
            config = OneShotConfig(**values) if kind == "oneshot" else SearchConfig(**values)
            row = run_search(config, echo=lambda *_: None)[-1]
            return {"train_loss": row["train_loss"], "valid_acc": row["valid_acc"], "genotype": row.get("genotype"),
                    "ok": math.isfinite(row["train_loss"])}
        stage.item(name, run, lambda r: f"{r['seconds']} s, train loss {r['train_loss']:.4f}, "
                                        f"search-valid acc {r['valid_acc']:.1f}%")
    return stage.lines


# ---- (c) the correctness audit ------------------------------------------------------------------------------------
def audit(setup: CheckSetup) -> list[str]:
    """The checks of the module docstring, cheapest and most telling first."""
    stage = Stage("audit", setup)
    device = torch.device(setup.device)
    for layout in ("channels_last", "nchw"):
        stage.item(f"compile_aot_eager_{layout}",
                   lambda layout=layout: check_compiled_gradients(device, backend="aot_eager",
                                                                  channels_last=layout == "channels_last").to_dict(),
                   _describe_compile)
    for name in VARIANTS:
        if setup.cuda:
            stage.item(f"host_syncs_{name}", lambda name=name: _host_syncs(setup, name),
                       lambda r: f"{r['syncs']} synchronisation(s) in {r['steps']} steps {r['first'][:1]}")
        else:
            stage.skip(f"host_syncs_{name}", "needs CUDA: torch.cuda.set_sync_debug_mode")
    stage.item("bf16_dtypes", lambda: _bf16_dtypes(setup), lambda r: json.dumps(r["dtypes"]))
    stage.item("exact_resume", lambda: _resume(setup, "resume", setup.device),
               lambda r: f"resumed equals uninterrupted: {r['equal']} (max |Δα| {r['alpha_gap']:.1e})")
    if setup.cuda:
        stage.item("resume_cuda_on_cpu", lambda: _resume(setup, "resume-cpu", "cpu", exact=False),
                   lambda r: f"finished on the CPU; max |Δα| to the CUDA run {r['alpha_gap']:.1e}")
    else:
        stage.skip("resume_cuda_on_cpu", "needs CUDA")
    stage.item("deterministic_rerun", lambda: _deterministic_rerun(setup),
               lambda r: f"two --deterministic runs equal: {r['equal']} (max |Δα| {r['alpha_gap']:.1e})")
    if setup.cuda:
        stage.item("compile_inductor", lambda: check_compiled_gradients(device, backend="inductor").to_dict(),
                   _describe_compile)
        stage.item("cuda_graphs_reduce_overhead",
                   lambda: check_compiled_gradients(device, backend="inductor", mode="reduce-overhead",
                                                    steps=3).to_dict(), _describe_compile)
    else:
        stage.skip("compile_inductor", "CUDA only here: inductor compiles for minutes on a CPU")
        stage.skip("cuda_graphs_reduce_overhead", "needs CUDA")
    return stage.lines


def _describe_compile(result: dict) -> str:
    return (f"{result['graphs']} graph(s), relative gaps loss {result['loss_gap']:.1e} α {result['alpha_grad_gap']:.1e}"
            f" stem {result['stem_grad_gap']:.1e} (tolerance {result['tolerance']:.0e})")


def _host_syncs(setup: CheckSetup, name: str, steps: int = 6) -> dict:
    """Host synchronisations in `steps` − 1 steps of the variant's task after a warm-up step, the batches on the device."""
    kind, settings = VARIANTS[name]
    values = setup.run_settings(data_on_device=True, **settings)
    config = (OneShotConfig(**values) if kind == "oneshot" else SearchConfig(**values)).validate()
    device = torch.device(setup.device)
    parts = build_components(config, device)
    stream = parts.data.stream("train", config.batch_size, seed=config.seed, device=device)
    trained = parts.task.train_epoch(islice(stream.epoch(0), steps), epoch=0)
    next(trained)  # the epoch's order crosses to the device once, and the first step warms up
    torch.cuda.synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            done = sum(1 for _ in trained)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message).lower()]
    return {"steps": done, "syncs": len(syncs), "first": syncs[:3], "ok": not syncs}


def _bf16_dtypes(setup: CheckSetup) -> dict:
    """One bf16 training step: the convolutions compute in bf16, the logits, loss and every gradient are float32."""
    device = torch.device(setup.device)
    size = CHECK_SIZES[setup.size]
    torch.manual_seed(0)
    model = NB201SearchNetwork(size.C, size.N, 10, mixing=SoftmaxMixing(), channels_last=True,
                               autocast_dtype=torch.bfloat16).to(device)
    seen = {}

    def record(module, inputs, output) -> None:
        seen.setdefault("conv", output.dtype)

    model.stem[0].register_forward_hook(record)
    x = torch.randn(size.batch_size, 3, size.image_size, size.image_size, device=device)
    y = torch.randint(0, 10, (size.batch_size,), device=device)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    dtypes = {"conv_output": str(seen["conv"]), "logits": str(logits.dtype), "loss": str(loss.dtype),
              "alpha_grad": str(model.alpha.grad.dtype),
              "weight_grads": sorted({str(p.grad.dtype) for p in model.weight_parameters() if p.grad is not None})}
    ok = (seen["conv"] == torch.bfloat16 and logits.dtype == loss.dtype == model.alpha.grad.dtype == torch.float32
          and dtypes["weight_grads"] == ["torch.float32"])
    return {"dtypes": dtypes, "ok": ok}


def _final_alpha(out: Path) -> torch.Tensor:
    return torch.tensor(json.loads((out / "genotype.json").read_text())["alpha"])


def _two_epoch_settings(setup: CheckSetup, out: Path, **overrides) -> dict:
    return setup.run_settings(method="darts-tse", K=2, epochs=2, out=str(out), **overrides)


def _resume(setup: CheckSetup, name: str, resume_device: str, *, exact: bool = True) -> dict:
    """A 2-epoch DARTS-TSE run uninterrupted, and one interrupted after epoch 0 and resumed on `resume_device`: equal
    rows and α bit for bit where `exact`."""
    folder = setup.work / "audit" / name
    straight = run_search(SearchConfig(**_two_epoch_settings(setup, folder / "straight")), echo=lambda *_: None)

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith("epoch "):
            raise KeyboardInterrupt

    try:
        run_search(SearchConfig(**_two_epoch_settings(setup, folder / "resumed")), echo=stop_after_first_epoch)
    except KeyboardInterrupt:
        pass
    resumed = run_search(resumed_config(folder / "resumed", {"device": resume_device, "threads": setup.threads}),
                         resume=True, echo=lambda *_: None)
    gap = float((_final_alpha(folder / "straight") - _final_alpha(folder / "resumed")).abs().max())
    keys = ("train_loss", "valid_loss", "genotype")
    equal = [{k: row[k] for k in keys} for row in straight] == [{k: row[k] for k in keys} for row in resumed]
    equal = equal and gap == 0.0
    return {"equal": equal, "alpha_gap": gap, "epochs": len(resumed), "ok": equal if exact else len(resumed) == 2}


def _deterministic_rerun(setup: CheckSetup) -> dict:
    """Two 2-epoch DARTS-TSE runs with --deterministic from the same seed: equal bit for bit."""
    folder = setup.work / "audit" / "deterministic"
    rows = [run_search(SearchConfig(**_two_epoch_settings(setup, folder / name, deterministic=True)),
                       echo=lambda *_: None) for name in ("a", "b")]
    torch.use_deterministic_algorithms(False)
    gap = float((_final_alpha(folder / "a") - _final_alpha(folder / "b")).abs().max())
    equal = [r["train_loss"] for r in rows[0]] == [r["train_loss"] for r in rows[1]] and gap == 0.0
    return {"equal": equal, "alpha_gap": gap, "ok": equal}


# ---- (d), (e) timings ---------------------------------------------------------------------------------------------
def _bench(setup: CheckSetup, methods: tuple[str, ...], **fast) -> dict:
    size = CHECK_SIZES[setup.size]
    bench = SearchBenchConfig(methods=methods, C=size.C, N=size.N, batch_size=size.batch_size,
                              image_size=size.image_size, train_images=size.steps * size.batch_size,
                              steps_per_epoch=size.steps, epochs=1, warmup_epochs=0 if setup.size == "tiny" else 1,
                              device=setup.device,
                              threads=setup.threads, K=2 if setup.size == "tiny" else 100, **fast)
    return run_search_benchmark(bench)


def eager(setup: CheckSetup) -> list[str]:
    """Eager fp32 ms per minibatch, evaluation seconds and peak memory of every method."""
    stage = Stage("eager", setup)
    for method in METHODS:
        result = stage.item(method, lambda method=method: _bench(setup, (method,)), _describe_bench)
        if result and method == METHODS[0]:
            stage.lines.insert(0, "  " + format_search_table(result).splitlines()[0])
    stage.save()
    return stage.lines


def _describe_bench(result: dict) -> str:
    row = next(iter(result["methods"].values()))
    peak = "-" if row["peak_mem_mb"] is None else f"{row['peak_mem_mb']:.0f} MiB"
    return (f"{row['ms_per_minibatch']:.1f} ms/minibatch, eval {row['eval_median_seconds']:.2f} s "
            f"({row['eval_batches']} batches), peak {peak}")


def fast(setup: CheckSetup) -> list[str]:
    """DARTS-TSE with each fast path alone and all together (eager fp32 first, as the baseline in this process)."""
    stage = Stage("fast", setup)
    for name, settings in {"eager_fp32": {}, **FAST_PATHS}.items():
        if setup.size == "tiny" and name not in ("eager_fp32", "together"):
            stage.skip(name, "a tiny check times the baseline and all fast paths together only")
            continue
        stage.item(name, lambda settings=settings: _bench(setup, ("darts-tse",), **settings), _describe_bench)
    return stage.lines


def compiled(setup: CheckSetup, mode: str = "default") -> list[str]:
    """DARTS-TSE with --compile `mode`: timings, and TorchDynamo's counters after it."""
    stage = Stage("compile", setup)

    def run() -> dict:
        torch._dynamo.utils.counters.clear()
        result = _bench(setup, ("darts-tse",), compile=mode)
        counters = {group: dict(values) for group, values in torch._dynamo.utils.counters.items()}
        stats = counters.get("stats", {})
        result["dynamo"] = {"unique_graphs": stats.get("unique_graphs", 0),
                            "graph_breaks": sum(counters.get("graph_break", {}).values()),
                            "recompiles": sum(counters.get("recompiles", {}).values()), "counters": counters}
        result["ok"] = result["dynamo"]["graph_breaks"] == 0
        return result

    stage.item(f"darts-tse_compile_{mode}", run,
               lambda r: f"{_describe_bench(r)}; {r['dynamo']['unique_graphs']} graphs, "
                         f"{r['dynamo']['graph_breaks']} graph breaks, {r['dynamo']['recompiles']} recompiles")
    return stage.lines


# ---- (f) the paper-size searches ----------------------------------------------------------------------------------
def paper(setup: CheckSetup) -> list[str]:
    """What the time-boxed searches in ``<work>/paper/<method>`` finished: epochs, the last genotype and its NB201
    numbers (from their metrics.jsonl)."""
    stage = Stage("paper", setup)
    for run in sorted(p for p in (setup.work / "paper").glob("*") if p.is_dir()):
        def read(run=run) -> dict:
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
            if not rows:
                return {"epochs": 0, "ok": False}
            last = rows[-1]
            return {"epochs": len(rows), "seconds_per_epoch": [r["seconds"] for r in rows],
                    "last": {k: last.get(k) for k in ("epoch", "train_loss", "valid_acc", "genotype", "skip_count",
                                                      "nb201")}}
        stage.item(run.name, read, lambda r: f"{r['epochs']} epoch(s) finished" + (
            f", last: {r['last']['genotype']} skip {r['last']['skip_count']}, "
            f"NB201 CIFAR-10 test {((r['last']['nb201'] or {}).get('cifar10') or {}).get('test')}"
            if r["epochs"] else ""))
    if not stage.results["items"]:
        stage.lines.append("  no run folder found")
    stage.save()
    return stage.lines


CHECK_STAGES: dict[str, Callable[[CheckSetup], list[str]]] = {"searches": searches, "audit": audit, "eager": eager,
                                                   "fast": fast, "compile": compiled, "paper": paper}


def run_check_stage(name: str, setup: CheckSetup) -> list[str]:
    """Run stage `name` (one of :data:`CHECK_STAGES`); its summary lines, headed by its name."""
    setup.work.mkdir(parents=True, exist_ok=True)
    return [f"{name}: {json.dumps(asdict(setup), default=str)}", *CHECK_STAGES[name](setup)]
