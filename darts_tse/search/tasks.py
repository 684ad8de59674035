"""What one kind of run does in each epoch of the loop: train, evaluate, record. The loop drives a ``SearchTask`` and
never knows which one it is (the shape of ``torch.optim.Optimizer``: a small protocol, many algorithms).

* :class:`DifferentiableTask`: an architect (DARTS / DARTS-TSE / DrNAS / DrNAS-TSE) steps α and trains the weights;
  the epoch's record holds the genotype derived from α and its NB201 numbers.
* :class:`OneShotTask`: a path sampler (RandNAS / FairNAS / MultiPaths) trains the supernet's weights on sampled
  subnetworks; the record holds a fixed probe set of subnetworks evaluated with the inherited weights.
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
from ..nb201 import NB201_DATASETS, ArchitectureNotInBenchmark, NB201Benchmark, RecordUnreadable, nb201_label
from ..samplers import PathSampler, random_cells
from ..space import Genotype, NB201SearchNetwork
from ..training import StepStats

log = logging.getLogger(__name__)
Batch = tuple[torch.Tensor, torch.Tensor]


class SearchTask(ABC):
    """One kind of run. The loop calls, once per epoch and in this order: :meth:`train_epoch` (iterating the steps),
    :meth:`counters`, :meth:`evaluate` (on search-valid), :meth:`record` (the fields of the epoch's row and the
    snapshot for genotypes.jsonl, or None); and :meth:`state_dict` for each checkpoint."""

    eval_split = "valid"  # what evaluate() measures: the metrics keys are <split>_loss and <split>_acc

    def __init__(self, model: NB201SearchNetwork):
        self.model = model

    def run_record(self) -> dict:
        """What config.json records about the task besides the settings (before the first epoch); default none."""
        return {}

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
    def record(self, valid: dict, benchmark: NB201Benchmark) -> tuple[dict, dict | None]:
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

    def __init__(self, model: NB201SearchNetwork, architect: Architect, *, warmup_epochs: int = 0):
        super().__init__(model)
        self.architect = architect
        self.warmup_epochs = warmup_epochs

    def train_epoch(self, batches: Iterable[Batch], *, epoch: int) -> Iterator[StepStats]:
        return self.architect.train_epoch(batches, update_alpha=epoch >= self.warmup_epochs)

    def counters(self) -> dict:
        return {"alpha_steps": self.architect.alpha_steps}

    def evaluate(self, batches: Callable[[], Iterable[Batch]]) -> dict:
        """The supernet with deterministic mixing (softmax / Dirichlet mean) on search-valid."""
        return evaluate(self.model, batches())

    def record(self, valid: dict, benchmark: NB201Benchmark) -> tuple[dict, dict]:
        genotype = self.model.genotype()
        index, nb201 = nb201_lookup(benchmark, genotype)
        fields = {"alpha_entropy": alpha_entropy(self.model.probabilities()), "genotype": genotype.to_str(),
                  "nb201_index": index, "skip_count": genotype.skip_count,
                  "param_free_count": genotype.param_free_count, "nb201": nb201}
        return fields, arch_snapshot(self.model)

    def state_dict(self) -> dict:
        return self.architect.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.architect.load_state_dict(state)


def arch_snapshot(model: NB201SearchNetwork) -> dict:
    """α and the mixing probabilities as nested lists (rounded for readable files)."""
    return {"alpha": _rounded(model.alpha.detach().cpu()), "probabilities": _rounded(model.probabilities().cpu())}


def _rounded(tensor: torch.Tensor) -> list:
    return [[round(float(v), 6) for v in row] for row in tensor]


# ---- one-shot supernet --------------------------------------------------------------------------------------------
class OneShotTask(SearchTask):
    """A supernet trained by path sampling. After every epoch each probe subnetwork (a fixed set drawn once from the
    seed) is evaluated on search-valid with the inherited weights, and the probes' ranking is compared with NB201's
    (Spearman ρ of their search-valid accuracy with the NB201 accuracy of `nb201_dataset`)."""

    def __init__(self, model: NB201SearchNetwork, sampler: PathSampler, probes: list[Genotype], *,
                 nb201_dataset: str = "cifar10"):
        super().__init__(model)
        self.sampler = sampler
        self.probes = probes
        self.nb201_dataset = nb201_dataset

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

    def record(self, valid: dict, benchmark: NB201Benchmark) -> tuple[dict, None]:
        probes = []
        for probe, result in zip(self.probes, valid["probes"]):
            index, nb201 = nb201_lookup(benchmark, probe)
            probes.append({**result, "nb201_index": index, "nb201": nb201})
        return {"probes": probes, "probe_rank": probe_rank(probes, self.nb201_dataset)}, None

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def draw_probes(count: int, seed: int) -> list[Genotype]:
    """`count` distinct random subnetworks, the same for a given seed in every process (their own generator)."""
    return [Genotype.from_op_indices(path) for path in random_cells(count, int(seed) + 0x5EED)]


def probe_rank(probes: list[dict], dataset: str) -> dict:
    """Spearman ρ of the probes' search-valid accuracy with their NB201 accuracy on `dataset` (test where the
    benchmark has it, else valid), labelled; ρ is None with fewer than 2 probes that have both numbers."""
    split = "test" if any(((p["nb201"] or {}).get(dataset) or {}).get("test") is not None for p in probes) else "valid"
    pairs = [(p["valid_acc"], p["nb201"][dataset][split]) for p in probes
             if (p["nb201"] or {}).get(dataset) and p["nb201"][dataset].get(split) is not None]
    rho = spearman(*zip(*pairs)) if len(pairs) >= 2 else None
    return {"nb201": nb201_label(dataset, split), "spearman": None if rho is None or math.isnan(rho) else rho,
            "probes": len(pairs)}


def nb201_dataset_for(dataset: str) -> str:
    """The NB201 dataset whose numbers judge a run on `dataset`: itself if NB201 has it, else CIFAR-10."""
    return dataset if dataset in NB201_DATASETS else "cifar10"


# ---- shared -------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: NB201SearchNetwork, batches: Iterable[Batch], *, path: Genotype | None = None) -> dict:
    """Loss and accuracy of the supernet (deterministic mixing: softmax / Dirichlet mean), or of its subnetwork
    `path`, over the given batches; the model is left in training mode."""
    model.eval()
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    count = 0
    for x, y in batches:
        logits = model(x) if path is None else model(x, path=path)
        loss_sum = loss_sum.to(logits.device) + F.cross_entropy(logits, y, reduction="sum")
        correct = correct.to(logits.device) + (logits.argmax(1) == y).sum()
        count += y.shape[0]
    model.train()
    return {"valid_loss": loss_sum.item() / count, "valid_acc": 100.0 * correct.item() / count}


def nb201_lookup(benchmark: NB201Benchmark, genotype: Genotype) -> tuple[int, dict | None]:
    """(NB201 index, {dataset: {valid, test}}) of `genotype`; the numbers are None, with a warning, where a partial
    benchmark lacks the architecture or its record is corrupt (an unreadable benchmark or a missing package still
    raises)."""
    try:
        result = benchmark.query(genotype)
    except (ArchitectureNotInBenchmark, RecordUnreadable) as error:
        log.warning("no NB201 numbers for %s: %s", genotype.to_str(), error)
        return genotype.index, None
    return result.index, {k: v for k, v in result.to_dict().items() if k not in ("index", "genotype")}
