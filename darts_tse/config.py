"""SearchConfig: every setting of a search, validated in one place (the CLI only fills it in)."""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


class ConfigError(ValueError):
    """An invalid setting; the message names the setting and the fix."""


@dataclass(frozen=True)
class Method:
    """A search method = a way of mixing (softmax | dirichlet) + an architect (validation | tse)."""

    mixing: str
    architect: str
    paper: str


METHODS: dict[str, Method] = {
    "darts": Method("softmax", "validation", "Liu et al., DARTS, ICLR 2019"),
    "darts-tse": Method("softmax", "tse", "Ru et al., Speedy Performance Estimation for NAS, NeurIPS 2021 (Algorithm 3)"),
    "drnas": Method("dirichlet", "validation", "Chen et al., DrNAS, ICLR 2021"),
    "drnas-tse": Method("dirichlet", "tse", "DrNAS mixing with the TSE architect (Ru et al., NeurIPS 2021)"),
}
DATASETS = ("cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "synthetic", "folder", "npz")
CUSTOM_DATASETS = ("folder", "npz")  # your own data: --data-dir names the folder or the .npz file
TSE_MODES = ("joint", "rollout")
DRNAS_REGULARIZERS = ("l2", "kl")
WANDB_MODES = ("online", "offline", "disabled")
L2_ARCH_WEIGHT_DECAY = 1e-3  # Adam's weight decay on α unless DrNAS' KL term is the regulariser

# Settings that do not change what a search computes: they may differ when a run is resumed.
NOT_SEARCH_RELEVANT = frozenset({"out", "device", "data_dir", "benchmark", "progress", "threads",
                                 "wandb", "wandb_project", "wandb_group", "wandb_tags"})


@dataclass
class SearchConfig:
    """All settings of one search. Defaults follow AutoDL/TSE for NB201 (see README)."""

    method: str = "darts-tse"
    K: int = 100
    tse_mode: str = "joint"
    order: int = 1
    dataset: str = "cifar10"
    data_dir: str | None = None
    epochs: int = 50
    batch_size: int = 64
    C: int = 16
    N: int = 5
    seed: int = 0
    out: str | None = None
    steps_per_epoch: int | None = None
    device: str = "auto"
    threads: int | None = None
    # weights: SGD, cosine schedule
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float | None = 5.0
    # α: Adam
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float | None = None  # None: see effective_arch_weight_decay
    arch_warmup_epochs: int = 0
    drnas_reg: str = "l2"
    kl_weight: float = 1e-3
    # supernet
    track_running_stats: bool = False
    channels_last: bool = True
    # data
    max_train_samples: int | None = None
    synthetic_samples: int = 512
    synthetic_image_size: int = 32
    image_size: int | None = None  # folder: default 32; npz: default the arrays' own size
    # NB201 lookups and tracking
    benchmark: str | None = None
    wandb: str = "offline"
    wandb_project: str = "darts-tse"
    wandb_group: str | None = None
    wandb_tags: list[str] = field(default_factory=list)
    progress: bool = True

    @property
    def method_spec(self) -> Method:
        return METHODS[self.method]

    @property
    def effective_arch_weight_decay(self) -> float:
        """Adam's weight decay on α: the given value, else 1e-3 (the L2 regulariser), or 0 for DrNAS with
        ``drnas_reg="kl"``, where the KL term replaces the L2 (as in DrNAS' code)."""
        if self.arch_weight_decay is not None:
            return self.arch_weight_decay
        kl_only = self.method in METHODS and self.method_spec.mixing == "dirichlet" and self.drnas_reg == "kl"
        return 0.0 if kl_only else L2_ARCH_WEIGHT_DECAY

    def validate(self) -> SearchConfig:
        """Raise ConfigError naming the first invalid setting; returns self."""
        _choice("method", self.method, METHODS)
        _choice("tse_mode", self.tse_mode, TSE_MODES)
        _choice("dataset", self.dataset, DATASETS)
        _choice("drnas_reg", self.drnas_reg, DRNAS_REGULARIZERS)
        _choice("wandb", self.wandb, WANDB_MODES)
        if self.order not in (1, 2):
            raise ConfigError(f"--order must be 1 (first order) or 2 (unrolled second order), got {self.order}")
        for name in ("K", "epochs", "batch_size", "C", "N", "synthetic_samples", "synthetic_image_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value}")
        for name in ("steps_per_epoch", "max_train_samples", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1 when given, got {value}")
        if self.image_size is not None and (not isinstance(self.image_size, int) or self.image_size < 1):
            raise ConfigError(f"--image-size must be an integer >= 1 when given, got {self.image_size}")
        if self.dataset in CUSTOM_DATASETS and not self.data_dir:
            what = "a folder with one sub-folder of images per class" if self.dataset == "folder" else \
                "a .npz file with the arrays x_train and y_train"
            raise ConfigError(f"--dataset {self.dataset} needs --data-dir: {what}")
        if self.arch_warmup_epochs < 0:
            raise ConfigError(f"--arch-warmup-epochs must be >= 0, got {self.arch_warmup_epochs}")
        for name in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "arch_lr", "arch_beta1", "arch_beta2",
                     "arch_weight_decay", "kl_weight"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
        for name in ("lr", "arch_lr"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.lr_min <= self.lr:
            raise ConfigError(f"--lr-min must lie in [0, --lr], got {self.lr_min}")
        for name in ("momentum", "weight_decay", "arch_weight_decay", "kl_weight"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("Nesterov momentum needs --momentum > 0; pass --no-nesterov for plain SGD")
        for name in ("arch_beta1", "arch_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must lie in [0, 1), got {getattr(self, name)}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"--grad-clip must be > 0 (or omitted), got {self.grad_clip}")
        if self.out is not None and Path(self.out).exists() and not Path(self.out).is_dir():
            raise ConfigError(f"--out {self.out} is a file; give a directory for the run's files")
        return self

    def unused_settings(self) -> dict[str, str]:
        """The method-specific settings the chosen method does not use, each with the methods that do."""
        method, unused = self.method_spec, {}
        if method.architect != "tse":
            unused |= {"K": "only darts-tse and drnas-tse use it", "tse_mode": "only darts-tse and drnas-tse use it"}
        if method.architect != "validation":
            unused["order"] = "only darts and drnas have a second order"
        if method.mixing != "dirichlet":
            unused["drnas_reg"] = "only drnas and drnas-tse use it"
        if method.mixing != "dirichlet" or self.drnas_reg != "kl":
            unused["kl_weight"] = "it scales the KL term of drnas and drnas-tse with --drnas-reg kl"
        if self.dataset not in CUSTOM_DATASETS:
            unused["image_size"] = "only --dataset folder and npz resize images"
        if self.dataset != "synthetic":
            unused |= {"synthetic_samples": "only --dataset synthetic uses it",
                       "synthetic_image_size": "only --dataset synthetic uses it"}
        return unused

    def ignored_settings(self) -> list[str]:
        """A sentence for each setting given a non-default value that the chosen method does not use."""
        default = SearchConfig()
        return [f"--{name.replace('_', '-')} {getattr(self, name)} is ignored by --method {self.method}: {users}"
                for name, users in self.unused_settings().items() if getattr(self, name) != getattr(default, name)]

    def default_out(self) -> str:
        """runs/<method>[-K<K>]-<dataset>-seed<seed>-<time>-<6 hex digits> (the suffix keeps runs launched in the
        same second, e.g. by a sweep, apart)."""
        k = f"-K{self.K}" if self.method_spec.architect == "tse" else ""
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        return str(Path("runs") / f"{self.method}{k}-{self.dataset}-seed{self.seed}-{stamp}")

    def to_dict(self) -> dict:
        """Every setting, with the α weight decay actually used (not None), as saved in checkpoints and records."""
        return asdict(self) | {"arch_weight_decay": self.effective_arch_weight_decay}

    @classmethod
    def from_dict(cls, values: dict) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def search_differences(self, other: SearchConfig) -> list[str]:
        """'name: ours != theirs' for each search-relevant setting that differs."""
        ours, theirs = self.to_dict(), other.to_dict()
        return [f"{name}: {theirs[name]!r} -> {ours[name]!r}" for name in ours
                if name not in NOT_SEARCH_RELEVANT and ours[name] != theirs.get(name)]


def _choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown --{name.replace('_', '-')} {value!r}; choose one of: {', '.join(allowed)}")
