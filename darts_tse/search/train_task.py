"""Training a found cell from scratch as a run of the epoch loop (kind "train"): the stand-alone network of the
genotype trains on the whole training set, the test split is evaluated after every epoch and only reported.

:class:`TrainTask` is a :class:`~darts_tse.search.tasks.SearchTask` like the searches': the loop, the run directory,
checkpoints, exact resume and the sinks are theirs. Per epoch it sets the drop-path probability (ramped linearly,
``drop_path · epoch / epochs``, as DARTS' train.py), applies cutout and MixUp to the training batches only (their
draws seeded by (seed, epoch, position), so a resume sees the same ones), and records the TSE estimators of its own
training curve.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from ..config import ConfigError, TrainConfig
from ..darts_space import DartsGenotype
from ..darts_space import GenotypeError as DartsGenotypeError
from ..data import TrainTestData, cutout, mixup, mixup_draw, stable_seed
from ..estimators import DEFAULT_E, tse, tse_e
from ..networks import NB201Network, NetworkCIFAR, count_weights, multiply_adds
from ..nb201 import NB201Benchmark
from ..space import Genotype, GenotypeError
from ..training import NetworkTrainer, StepStats
from .tasks import Batch, SearchTask, evaluate

AUXILIARY_MIN_IMAGE_SIZE = 32  # DARTS' auxiliary head pools 5×5 then convolves 2×2 at 1/4 of the image size


def build_network(config: TrainConfig, num_classes: int, image_size: int) -> nn.Module:
    """The stand-alone network of the config's genotype (ConfigError, one line, for a genotype that does not parse
    or a network the images are too small for)."""
    try:
        if config.space == "nb201":
            return NB201Network(Genotype.parse(config.genotype), C=config.C, N=config.N, num_classes=num_classes)
        genotype = DartsGenotype.from_str(config.genotype)
    except (GenotypeError, DartsGenotypeError) as error:
        raise ConfigError(f"--genotype: {error}") from error
    auxiliary = config.auxiliary_weight > 0
    if auxiliary and image_size < AUXILIARY_MIN_IMAGE_SIZE:
        raise ConfigError(f"DARTS' auxiliary head needs images of at least {AUXILIARY_MIN_IMAGE_SIZE} px, these are "
                          f"{image_size}; pass --auxiliary-weight 0 (no head) or a larger --image-size")
    if config.C % 2:
        raise ConfigError(f"--C {config.C}: DARTS' reduction cells halve the resolution with two convolutions of C "
                          f"channels each, so C must be even")
    return NetworkCIFAR(genotype, C=config.C, layers=config.layers, num_classes=num_classes, auxiliary=auxiliary)


class TrainTask(SearchTask):
    """A stand-alone network trained from scratch; evaluated on the test split (``eval_split = "test"``)."""

    eval_split = "test"

    def __init__(self, model: nn.Module, trainer: NetworkTrainer, *, epochs: int, seed: int, drop_path: float = 0.0,
                 cutout: int = 0, mixup: float = 0.0, network_record: dict | None = None):
        super().__init__(model)
        self.trainer = trainer
        self.epochs, self.seed = epochs, seed
        self.drop_path, self.cutout, self.mixup = drop_path, cutout, mixup
        self.network_record = network_record or {}
        self.train_losses: list[float] = []  # the epochs' mean training losses, for TSE and TSE-E

    def run_record(self) -> dict:
        return {"network": self.network_record}

    def train_epoch(self, batches: Iterable[Batch], *, epoch: int) -> Iterator[StepStats]:
        self.model.drop_path_prob = self.drop_path * epoch / self.epochs
        for position, (x, y) in enumerate(batches):
            generator = torch.Generator().manual_seed(stable_seed("train-regularisers", self.seed, epoch, position))
            mixed = None
            if self.cutout:
                x = cutout(x, self.cutout, generator)
            if self.mixup:
                pairing, lam = mixup_draw(x.shape[0], self.mixup, generator)
                x = mixup(x, pairing, lam)
                mixed = (y[pairing.to(y.device)], lam)
            yield self.trainer.step(x, y, mixed=mixed)

    def counters(self) -> dict:
        return {"drop_path_prob": float(self.model.drop_path_prob)}

    def evaluate(self, batches: Callable[[], Iterable[Batch]]) -> dict:
        """The network in evaluation mode (no drop-path, no auxiliary head) on the test split."""
        result = evaluate(self.model, batches())
        return {"test_loss": result["valid_loss"], "test_acc": result["valid_acc"]}

    def observe_training(self, train: dict) -> None:
        self.train_losses.append(float(train["train_loss"]))

    def record(self, valid: dict, benchmark: NB201Benchmark | None) -> tuple[dict, None]:
        """TSE (sum of the epochs' mean training losses so far) and TSE-E (the last E = 1 epoch's); the loop adds
        TSE-EMA."""
        return {"tse": tse(self.train_losses), "tse_e": tse_e(self.train_losses, DEFAULT_E)}, None

    def state_dict(self) -> dict:
        return {"train_losses": list(self.train_losses)}

    def load_state_dict(self, state: dict) -> None:
        self.train_losses = [float(loss) for loss in state["train_losses"]]


def build_train_task(config: TrainConfig, data: TrainTestData, device: torch.device, *, autocast_dtype=None):
    """(network, weight optimizer, cosine schedule, :class:`TrainTask`) of a training run, on `device`."""
    model = build_network(config, data.num_classes, data.image_size)
    record = {"class": type(model).__name__, "weights": count_weights(model),
              "weights_with_auxiliary": count_weights(model, exclude=None),
              "multiply_adds": multiply_adds(model, data.image_size), "image_size": data.image_size,
              "counted": "weights without the auxiliary head; multiply-adds of one image's forward in evaluation mode "
                         "(convolutions and linear layers)"}
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.lr_min)
    forward = (torch.compile(model.forward_train, mode=config.compile, dynamic=False) if config.compile is not None
               else None)  # the --compile mode asked for (static shapes, as the supernet's)
    trainer = NetworkTrainer(model, optimizer, grad_clip=config.grad_clip, auxiliary_weight=config.auxiliary_weight,
                             autocast_dtype=autocast_dtype, forward=forward)
    task = TrainTask(model, trainer, epochs=config.epochs, seed=config.seed, drop_path=config.drop_path,
                     cutout=config.cutout, mixup=config.mixup, network_record=record)
    return model, optimizer, scheduler, task
