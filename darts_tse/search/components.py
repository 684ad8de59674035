"""Building a search from its config: the device, the data, the supernet, both optimizers and the method's architect."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..architects import Architect, TSEArchitect, ValidationArchitect, build_arch_optimizer
from ..config import ConfigError, SearchConfig
from ..data import CyclingBatches, SearchData, load_search_data
from ..mixing import build_mixing
from ..space import NB201SearchNetwork
from ..training import WeightTrainer


@dataclass
class SearchComponents:
    """Everything an epoch needs, built from a config."""

    data: SearchData
    model: NB201SearchNetwork
    weight_optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    architect: Architect
    device: torch.device


def resolve_device(name: str) -> torch.device:
    """'auto' → cuda when available, else cpu; anything else as given (with a clear error if unusable)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    return device


def build_components(config: SearchConfig, device: torch.device) -> SearchComponents:
    """Data, supernet, optimizers and the method's architect (seeded by config.seed)."""
    data = load_search_data(config.dataset, config.data_dir, synthetic_samples=config.synthetic_samples,
                            synthetic_image_size=config.synthetic_image_size, seed=config.seed,
                            max_train_samples=config.max_train_samples, image_size=config.image_size)
    method = config.method_spec
    kl_weight = config.kl_weight if config.drnas_reg == "kl" else 0.0
    model = NB201SearchNetwork(config.C, config.N, data.num_classes, mixing=build_mixing(method.mixing, kl_weight=kl_weight),
                               track_running_stats=config.track_running_stats,
                               channels_last=config.channels_last).to(device)
    weight_optimizer = torch.optim.SGD(model.weight_parameters(), lr=config.lr, momentum=config.momentum,
                                       nesterov=config.nesterov, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_optimizer, T_max=config.epochs, eta_min=config.lr_min)
    trainer = WeightTrainer(model, weight_optimizer, grad_clip=config.grad_clip)
    arch_optimizer = build_arch_optimizer(model, lr=config.arch_lr, betas=(config.arch_beta1, config.arch_beta2),
                                          weight_decay=config.effective_arch_weight_decay)
    if method.architect == "tse":
        architect: Architect = TSEArchitect(model, trainer, arch_optimizer, K=config.K, mode=config.tse_mode)
    else:
        valid_stream = CyclingBatches(data.stream("valid", config.batch_size, seed=config.seed, device=device))
        architect = ValidationArchitect(model, trainer, arch_optimizer, valid_stream, order=config.order)
    return SearchComponents(data, model, weight_optimizer, scheduler, architect, device)
