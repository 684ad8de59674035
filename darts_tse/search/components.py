"""Building a run from its config: the device, the data, the supernet, the weight optimizer and schedule, and the
task that drives them (an architect's search, or a path sampler's one-shot training)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from ..architects import TSEArchitect, ValidationArchitect, build_arch_optimizer
from ..config import ConfigError, OneShotConfig, RunConfig, SearchConfig, TrainConfig
from ..data import CyclingBatches, SearchData, load_search_data, load_train_test_data
from ..mixing import SoftmaxMixing, build_mixing
from ..samplers import build_sampler
from ..space import COMPILE_CHECKED_TORCH, compile_checked
from ..spaces import SearchSpace, Supernet, get_space
from ..training import WeightTrainer
from .tasks import DifferentiableTask, OneShotTask, SearchTask, draw_probes
from .train_task import build_train_task

log = logging.getLogger(__name__)


@dataclass
class SearchComponents:
    """Everything an epoch needs, built from a config."""

    data: SearchData
    model: Supernet
    weight_optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    task: SearchTask
    device: torch.device
    space: SearchSpace

    @property
    def architect(self):
        """The architect of a differentiable search (AttributeError for a one-shot run)."""
        return self.task.architect


def resolve_device(name: str) -> torch.device:
    """'auto' → cuda when available, else cpu; cpu, cuda or cuda:N as given, if this machine has it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from error
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                              f"cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return device


AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def check_compile_supported(compile_mode: str | None) -> None:
    """ConfigError when `compile_mode` is set and this torch is not one on which the compiled supernet's gradients
    were seen to equal eager ones (``space.COMPILE_CHECKED_TORCH``)."""
    if compile_mode is not None and not compile_checked():
        raise ConfigError(f"--compile: torch {torch.__version__} is not one on which the compiled supernet's gradients "
                          f"were checked against eager (torch {', '.join(COMPILE_CHECKED_TORCH)}); drop --compile, "
                          "or use one of those")


# cuBLAS' deterministic workspace (CUDA's documentation); read when cuBLAS starts, so set before the first CUDA work
CUBLAS_WORKSPACE = ":4096:8"


def configure_kernels(config: RunConfig, device: torch.device) -> None:
    """The process-wide kernel choices a run asks for, before its first CUDA work: deterministic algorithms
    (``--deterministic``: ``torch.use_deterministic_algorithms``, cuDNN deterministic, ``CUBLAS_WORKSPACE_CONFIG``
    unless the environment sets it); on CUDA ``cudnn.benchmark`` (``--cudnn-benchmark``), `device` made the current
    device (``cuda:N``: no context on GPU 0, synchronisations on N), and one warning line for bf16 on a GPU without
    native bf16 (compute capability below 8.0: emulated, slower than fp32). On the CPU the cuDNN settings are left
    alone."""
    deterministic = bool(config.deterministic)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(deterministic)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(config.cudnn_benchmark)
        torch.backends.cudnn.deterministic = deterministic
        if device.index is not None:
            torch.cuda.set_device(device)
        capability = torch.cuda.get_device_capability(device)
        if config.precision == "bf16" and capability < (8, 0):
            log.warning("--precision bf16 on %s (compute capability %d.%d < 8.0) runs emulated, slower than fp32; "
                        "drop --precision bf16 on this GPU", torch.cuda.get_device_name(device), *capability)


def build_components(config: RunConfig, device: torch.device) -> SearchComponents:
    """Data, supernet, weight optimizer, LR schedule and the run's task (seeded by config.seed), with the fast
    paths the config asks for (bf16 autocast, a compiled mixed forward, the data kept on the device)."""
    if isinstance(config, TrainConfig):
        return _train_components(config, device)
    data = load_search_data(config.dataset, config.data_dir, synthetic_samples=config.synthetic_samples,
                            synthetic_image_size=config.synthetic_image_size, seed=config.seed,
                            max_train_samples=config.max_train_samples, image_size=config.image_size)
    if config.data_on_device:
        data.keep_on(device)
    if isinstance(config, SearchConfig):
        kl_weight = config.kl_weight if config.drnas_reg == "kl" else 0.0
        mixing = build_mixing(config.method_spec.mixing, kl_weight=kl_weight)
    else:
        mixing = SoftmaxMixing()  # unused: a one-shot supernet runs discrete paths only
    space = get_space(config.space)
    model = space.build_supernet(config, data.num_classes, mixing,
                                 autocast_dtype=AUTOCAST_DTYPES[config.precision]).to(device)
    if config.compile is not None:
        check_compile_supported(config.compile)
        model.compile_mixed_forward(config.compile)
    weight_optimizer = torch.optim.SGD(model.weight_parameters(), lr=config.lr, momentum=config.momentum,
                                       nesterov=config.nesterov, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_optimizer, T_max=config.epochs, eta_min=config.lr_min)
    trainer = WeightTrainer(model, weight_optimizer, grad_clip=config.grad_clip)
    if isinstance(config, SearchConfig):
        task = _differentiable_task(config, data, model, trainer, device, space)
    elif isinstance(config, OneShotConfig):
        sampler = build_sampler(config.sampler, trainer, seed=config.seed, space=space, paths=config.paths)
        task = OneShotTask(model, sampler, draw_probes(space, config.probes, config.seed), space=space,
                           dataset=config.dataset)
    else:
        raise TypeError(f"no task for a {type(config).__name__}")
    return SearchComponents(data, model, weight_optimizer, scheduler, task, device, space)


def _train_components(config: TrainConfig, device: torch.device) -> SearchComponents:
    """A training run's parts: the whole training set and the test split, the stand-alone network and its task."""
    data = load_train_test_data(config.dataset, config.data_dir, synthetic_samples=config.synthetic_samples,
                                synthetic_image_size=config.synthetic_image_size, seed=config.seed,
                                max_train_samples=config.max_train_samples, image_size=config.image_size)
    if config.data_on_device:
        data.keep_on(device)
    model, optimizer, scheduler, task = build_train_task(config, data, device,
                                                         autocast_dtype=AUTOCAST_DTYPES[config.precision])
    return SearchComponents(data, model, optimizer, scheduler, task, device, get_space(config.space))


def _differentiable_task(config: SearchConfig, data: SearchData, model: Supernet, trainer: WeightTrainer,
                         device: torch.device, space: SearchSpace) -> DifferentiableTask:
    arch_optimizer = build_arch_optimizer(model, lr=config.arch_lr, betas=(config.arch_beta1, config.arch_beta2),
                                          weight_decay=config.effective_arch_weight_decay)
    if config.method_spec.architect == "tse":
        architect = TSEArchitect(model, trainer, arch_optimizer, K=config.K, mode=config.tse_mode)
    else:
        valid_stream = CyclingBatches(data.stream("valid", config.batch_size, seed=config.seed, device=device))
        architect = ValidationArchitect(model, trainer, arch_optimizer, valid_stream, order=config.order,
                                        hvp=config.hvp)
    return DifferentiableTask(model, architect, warmup_epochs=config.arch_warmup_epochs, space=space)
