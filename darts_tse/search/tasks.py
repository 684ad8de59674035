"""What one kind of run does in each epoch of the loop: train, evaluate, record. The loop drives a ``SearchTask`` and
never knows which one it is (the shape of ``torch.optim.Optimizer``: a small protocol, many algorithms).

* :class:`DifferentiableTask`: an architect (DARTS / DARTS-TSE / DrNAS / DrNAS-TSE) steps α and trains the weights;
  the epoch's record holds the genotype derived from α and its benchmark numbers (NB201 look-up, NB301 surrogate).
* :class:`OneShotTask`: a path sampler (RandNAS / FairNAS / MultiPaths) trains the supernet's weights on sampled
  subnetworks; the record holds a fixed probe set of subnetworks evaluated with the inherited weights.

Both go through the run's search space (``spaces.SearchSpace``): its genotypes, record fields and benchmark.
"""
from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from ..architects import Architect
from ..estimators import spearman
from ..mixing import alpha_entropy
from ..samplers import PathSampler
from ..spaces import SearchSpace, Supernet, get_space
from ..spaces.nb201 import nb201_lookup
from ..spaces.nb201_info import nb201_dataset_for
from ..training import StepStats

__all__ = ["DifferentiableTask", "OneShotTask", "SearchTask", "arch_snapshot", "draw_probes", "evaluate",
           "nb201_dataset_for", "nb201_lookup", "probe_rank"]  # the NB201 helpers stay importable from here
log = logging.getLogger(__name__)
Batch = tuple[torch.Tensor, torch.Tensor]


class SearchTask(ABC):
    """One kind of run. The loop calls, once per epoch and in this order: :meth:`train_epoch` (iterating the steps),
    :meth:`counters`, :meth:`evaluate` (on search-valid), :meth:`record` (the fields of the epoch's row and the
    snapshot for genotypes.jsonl, or None); and :meth:`state_dict` for each checkpoint."""

    eval_split = "valid"  # what evaluate() measures: the metrics keys are <split>_loss and <split>_acc

    def __init__(self, model: Supernet, *, space: SearchSpace | None = None):
        self.model = model
        self.space = space if space is not None else get_space(None)

    def run_record(self) -> dict:
        """What config.json records about the task besides the settings (before the first epoch); default: the
        supernet's weight count (α not counted)."""
        return {"supernet_weights": sum(p.numel() for p in self.model.weight_parameters())}

    def observe_training(self, train: dict) -> None:
        """The epoch's training numbers (``train_loss``, ``train_acc``, ...), given before :meth:`record`; default:
        unused."""
        return None

    @abstractmethod
    def train_epoch(self, batches: Iterable[Batch], *, epoch: int) -> Iterator[StepStats]:
        """One epoch of weight steps (and whatever else the method does), yielding each step's stats."""

    def counters(self) -> dict:
        """The epoch's counts beyond its steps (e.g. α steps), for the record."""
        return {}

    @abstractmethod
    def evaluate(self, batches: Callable[[], Iterable[Batch]]) -> dict:
        """``valid_loss``/``valid_acc`` (and more) on search-valid after the epoch; ``batches()`` gives a fresh pass
        over the same search-valid batches each time it is called."""

    @abstractmethod
    def record(self, valid: dict, benchmark) -> tuple[dict, dict | None]:
        """The task's fields of the epoch's metrics row, and its genotypes.jsonl snapshot (None: nothing to keep)."""

    @abstractmethod
    def state_dict(self) -> dict:
        """What a checkpoint needs besides the model and the weight optimizer (plain data and tensors only)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s state."""


# ---- differentiable search ----------------------------------------------------------------------------------------
class DifferentiableTask(SearchTask):
    """An architect's search: α frozen for the first `warmup_epochs`, then stepped as the method says."""

    def __init__(self, model: Supernet, architect: Architect, *, warmup_epochs: int = 0,
                 space: SearchSpace | None = None):
        super().__init__(model, space=space)
        self.architect = architect
        self.warmup_epochs = warmup_epochs

    def train_epoch(self, batches: Iterable[Batch], *, epoch: int) -> Iterator[StepStats]:
        return self.architect.train_epoch(batches, update_alpha=epoch >= self.warmup_epochs)

    def counters(self) -> dict:
        return {"alpha_steps": self.architect.alpha_steps}

    def evaluate(self, batches: Callable[[], Iterable[Batch]]) -> dict:
        """The supernet with deterministic mixing (softmax / Dirichlet mean) on search-valid."""
        return evaluate(self.model, batches())

    def record(self, valid: dict, benchmark) -> tuple[dict, dict]:
        """α's entropy, the derived genotype and its counts (per cell type where the space has several), and the
        genotype's benchmark numbers (the space's benchmark: None where there is none)."""
        genotype = self.model.genotype()
        fields = {**self.space.entropy_fields(alpha_entropy, self.model.probabilities()),
                  **self.space.genotype_fields(genotype), **self.space.benchmark_fields(benchmark, [genotype])[0]}
        return fields, arch_snapshot(self.model)

    def state_dict(self) -> dict:
        return self.architect.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.architect.load_state_dict(state)


def arch_snapshot(model: Supernet) -> dict:
    """α and the mixing probabilities as nested lists (rounded for readable files), shaped as α (NB201: edges × ops;
    DARTS: cell types × edges × ops)."""
    return {"alpha": _rounded(model.alpha.detach().cpu()), "probabilities": _rounded(model.probabilities().cpu())}


def _rounded(tensor: torch.Tensor) -> list:
    if tensor.dim() == 1:
        return [round(float(v), 6) for v in tensor]
    return [_rounded(row) for row in tensor]


# ---- one-shot supernet --------------------------------------------------------------------------------------------
class OneShotTask(SearchTask):
    """A supernet trained by path sampling. After every epoch each probe subnetwork (a fixed set drawn once from the
    seed) is evaluated on search-valid with the inherited weights, and the probes' ranking is compared with the
    space's benchmark (Spearman ρ of their search-valid accuracy with the benchmark accuracy for `dataset`: NB201's
    on that dataset, or CIFAR-10's where NB201 lacks it; the NB301 surrogate's CIFAR-10 valid accuracy)."""

    def __init__(self, model: Supernet, sampler: PathSampler, probes: list, *, dataset: str = "cifar10",
                 space: SearchSpace | None = None):
        super().__init__(model, space=space)
        self.sampler = sampler
        self.probes = probes
        self.dataset = dataset

    def train_epoch(self, batches: Iterable[Batch], *, epoch: int) -> Iterator[StepStats]:
        return self.sampler.train_epoch(batches)

    def counters(self) -> dict:
        return {"paths": self.sampler.paths_trained}

    def evaluate(self, batches: Callable[[], Iterable[Batch]]) -> dict:
        """Each probe on the same search-valid batches; ``valid_loss``/``valid_acc`` are the probes' means."""
        probes = [{"genotype": probe.to_str(), **evaluate(self.model, batches(), path=probe)} for probe in self.probes]
        mean = {key: (sum(p[key] for p in probes) / len(probes) if probes else math.nan)
                for key in ("valid_loss", "valid_acc")}
        return {**mean, "probes": probes}

    def record(self, valid: dict, benchmark) -> tuple[dict, None]:
        fields = self.space.benchmark_fields(benchmark, self.probes)  # one batched call where the benchmark can
        probes = [{**result, **numbers} for result, numbers in zip(valid["probes"], fields)]
        return {"probes": probes, "probe_rank": probe_rank(probes, self.dataset, self.space)}, None

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def draw_probes(space: SearchSpace, count: int, seed: int) -> list:
    """`count` distinct random subnetworks of `space`, the same for a given seed in every process."""
    return space.distinct_paths(count, int(seed) + 0x5EED)


def probe_rank(probes: list[dict], dataset: str, space: SearchSpace | None = None) -> dict:
    """Spearman ρ of the probes' search-valid accuracy with their benchmark accuracy (the space's truth for the
    run's `dataset`; NB201: test where the benchmark has it, else valid), labelled under the space's benchmark key
    (e.g. ``"nb201": "cifar10 test"``); ρ is None with fewer than 2 probes that have both numbers."""
    space = space if space is not None else get_space(None)
    label, truth = space.benchmark_truth(probes, dataset)
    pairs = [(p["valid_acc"], value) for p, value in zip(probes, truth) if value is not None]
    rho = spearman(*zip(*pairs)) if len(pairs) >= 2 else None
    return {space.benchmark_key: label, "spearman": None if rho is None or math.isnan(rho) else rho,
            "probes": len(pairs)}


# ---- shared -------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: Supernet, batches: Iterable[Batch], *, path=None) -> dict:
    """Loss and accuracy of the supernet (deterministic mixing: softmax / Dirichlet mean), or of its subnetwork
    `path`, over the given batches; the model is left in training mode."""
    model.eval()
    device = next(model.parameters()).device  # a supernet or a stand-alone network
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    count = 0
    for x, y in batches:
        logits = model(x) if path is None else model(x, path=path)
        loss_sum = loss_sum + F.cross_entropy(logits, y, reduction="sum")
        correct = correct + (logits.argmax(1) == y).sum()
        count += y.shape[0]
    model.train()
    return {"valid_loss": loss_sum.item() / count, "valid_acc": 100.0 * correct.item() / count}
