"""The settings of a run, validated in one place (the CLIs only fill them in); torch-free.

:class:`RunConfig` holds what every run of the epoch loop shares (data, supernet, weight optimizer, run, tracking);
:class:`SearchConfig` adds a differentiable search's method and α settings, :class:`OneShotConfig` a one-shot
supernet's path sampler and probe set. ``config.json`` records ``kind`` ("search" or "oneshot"), and
:func:`config_from_dict` reads either back.
"""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import asdict, dataclass, field, fields, replace
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
SAMPLERS: dict[str, str] = {  # one-shot path samplers (darts_tse.samplers) and their papers
    "random": "RandNAS: a uniform op on every edge, one path per minibatch (Li & Talwalkar, UAI 2019)",
    "fair": "FairNAS: 5 paths per minibatch that train every op of every edge exactly once (Chu et al., ICCV 2021)",
    "multipath": "MultiPaths: --paths uniform paths per minibatch, gradients averaged",
}
DATASETS = ("cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "synthetic", "folder", "npz")
CUSTOM_DATASETS = ("folder", "npz")  # your own data: --data-dir names the folder or the .npz file
TSE_MODES = ("joint", "rollout")
DRNAS_REGULARIZERS = ("l2", "kl")
WANDB_MODES = ("online", "offline", "disabled")
PRECISIONS = ("fp32", "bf16")  # bf16: torch.autocast around every forward of the supernet (docs/benchmarks.md)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile modes of the supernet's mixed forward
HVP_METHODS = ("finite-difference", "exact")  # the Hessian-vector product of second-order DARTS
# the cases of the benchmark commands (darts_tse.perf), named here so that their --help imports no torch
BENCH_STEP_CASES = ("weights_only", "darts", "darts_tse_joint", "darts_tse_rollout", "oneshot_random",
                    "xautodl_weights_only")
BENCH_DARTS_CASES = ("weights_only", "darts_tse_joint", "pc_weights_only", "peer_darts_weights_only")  # --space darts
BENCH_METHOD_CASES = (*METHODS, *("oneshot-" + sampler for sampler in SAMPLERS))
PRESETS = ("uniform", "paper")
ONESHOT_PRESETS = ("uniform", "tse-code")  # train_oneshot: our shared settings | the TSE code's supernet schedule
LR_SCHEDULES = ("epoch", "step")  # the cosine's argument: the epoch (stepped after it) | epoch + step/steps (per step)
SPACES = ("nb201", "darts")  # the search spaces (darts_tse.spaces); nb201 is the default
OP_LISTS = ("all", "no-none")  # DARTS space: its 8 ops, or DrNAS' 7 (no none)
L2_ARCH_WEIGHT_DECAY = 1e-3  # Adam's weight decay on α unless DrNAS' KL term is the regulariser
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit
MIN_IMAGE_SIZE = 4  # the supernet halves the resolution twice: sizes are multiples of 4
MAX_IMAGE_SIZE = 1024  # NB201 searches 32 px (ImageNet16: 16); more is a typo that would exhaust memory
MAX_SYNTHETIC_SAMPLES = 1_000_000  # 3 GB of 32 px uint8 images; more is a typo that would exhaust memory
MAX_PATHS = 100  # MultiPaths draws a few paths per minibatch; each costs a forward and backward
MAX_CELLS_PER_STAGE = 100  # NB201 uses 5; more is a typo (and takes minutes to build)
MAX_SUPERNET_WEIGHTS = 500_000_000  # ~6 GB with gradients and momentum in float32: a typo, not a search
DEVICE_TYPES = ("auto", "cpu", "cuda")
NB201_CELLS = 5**6

# Settings that do not change what a run computes: they may differ when a run is resumed. (The kernel choices
# -- threads, compile, cudnn_benchmark -- change float round-off only; a resume with others says so.)
NOT_SEARCH_RELEVANT = frozenset({"out", "device", "data_dir", "benchmark", "progress", "threads",
                                 "wandb", "wandb_project", "wandb_group", "wandb_tags",
                                 "compile", "cudnn_benchmark", "data_on_device", "deterministic"})


def supernet_weights(C: int, N: int, num_classes: int = 10) -> int:
    """The number of weights of the NB201 supernet (every op of every edge), without building it.

    Per cell at c channels: 6 edges × (1×1 + 3×3 convs) = 60 c²; stages at C, 2C, 4C with N cells each; two ResNet
    reduction blocks (c → 2c: 3×3 convs, BN, 1×1 shortcut); the stem, the final BN and the classifier.
    """
    cells = sum(60 * N * (C * 2**stage) ** 2 for stage in range(3))
    reductions = sum(9 * c * 2 * c + 9 * (2 * c) ** 2 + 4 * 2 * c + c * 2 * c for c in (C, 2 * C))
    return cells + reductions + 27 * C + 2 * C + 2 * 4 * C + 4 * C * num_classes + num_classes


# ---- presets ----------------------------------------------------------------------------------------------------
# --preset uniform (the default): every method gets the shared settings above (AutoDL / TSE code), so that the methods
# differ in their α signal only. --preset paper: each method gets the settings of its released code, each fact as
# (value, the file it was read from); a setting named on the command line still wins. docs/comparison.md lists them,
# and what those codebases do that no setting here can express.
_AUTODL = "D-X-Y/AutoDL-Projects"
_TSE = "rubinxin/TSE weight_sharing_nas/differentiable_nas"
_DRNAS = "xiangning-chen/DrNAS 201-space/train_search.py"
PAPER_PRESET: dict[str, dict[str, tuple[object, str]]] = {
    "darts": {
        "epochs": (50, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (epochs 50)"),
        "batch_size": (64, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (batch_size 64)"),
        "lr": (0.025, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (LR 0.025)"),
        "lr_min": (0.001, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (eta_min 0.001)"),
        "momentum": (0.9, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (momentum 0.9)"),
        "nesterov": (True, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (nesterov 1)"),
        "weight_decay": (5e-4, f"{_AUTODL} configs/nas-benchmark/algos/DARTS.config (decay 0.0005)"),
        "grad_clip": (5.0, f"{_AUTODL} exps/NAS-Bench-201-algos/DARTS-V1.py (--gradient_clip default 5)"),
        "order": (1, f"{_AUTODL} exps/NAS-Bench-201-algos/DARTS-V1.py (first order: arch_loss.backward() at w)"),
        "arch_lr": (3e-4, f"{_AUTODL} scripts-search/NAS-Bench-201-algos/DARTS-V1.sh (--arch_learning_rate 0.0003)"),
        "arch_beta1": (0.5, f"{_AUTODL} exps/NAS-Bench-201-algos/DARTS-V1.py (Adam betas=(0.5, 0.999))"),
        "arch_beta2": (0.999, f"{_AUTODL} exps/NAS-Bench-201-algos/DARTS-V1.py (Adam betas=(0.5, 0.999))"),
        "arch_weight_decay": (1e-3, f"{_AUTODL} scripts-search/NAS-Bench-201-algos/DARTS-V1.sh (--arch_weight_decay 0.001)"),
    },
    "darts-tse": {
        "epochs": (50, "rubinxin/TSE README.md (search-cell.py --search_epochs=50)"),
        "K": (100, "rubinxin/TSE README.md (search-cell.py --inner_steps=100)"),
        "tse_mode": ("rollout", f"{_TSE}/darts_tse_nb201/search-cell.py (--higher_loop default bilevel: roll out on a "
                                f"copy, restore, step α, then train the weights on the same batches)"),
        "grad_clip": (None, f"{_TSE}/darts_tse_nb201 (no clip_grad_norm_ anywhere in it)"),
        "batch_size": (64, f"{_TSE}/darts_tse_nb201/configs/nas-benchmark/algos/weight-sharing.config (batch_size 64)"),
        "lr": (0.025, f"{_TSE}/darts_tse_nb201/configs/nas-benchmark/algos/weight-sharing.config (LR 0.025)"),
        "lr_min": (0.001, f"{_TSE}/darts_tse_nb201/configs/nas-benchmark/algos/weight-sharing.config (eta_min 0.001)"),
        "momentum": (0.9, f"{_TSE}/darts_tse_nb201/configs/nas-benchmark/algos/weight-sharing.config (momentum 0.9)"),
        "nesterov": (True, f"{_TSE}/darts_tse_nb201/configs/nas-benchmark/algos/weight-sharing.config (nesterov 1)"),
        "weight_decay": (5e-4, f"{_TSE}/darts_tse_nb201/configs/nas-benchmark/algos/weight-sharing.config (decay 0.0005)"),
        "arch_lr": (3e-4, f"{_TSE}/darts_tse_nb201/search-cell.py (--arch_learning_rate default 3e-4)"),
        "arch_beta1": (0.5, f"{_TSE}/darts_tse_nb201/search-cell.py (Adam betas=(0.5, 0.999))"),
        "arch_beta2": (0.999, f"{_TSE}/darts_tse_nb201/search-cell.py (Adam betas=(0.5, 0.999))"),
        "arch_weight_decay": (1e-3, f"{_TSE}/darts_tse_nb201/search-cell.py (--arch_weight_decay default 1e-3)"),
    },
    "drnas": {
        "epochs": (100, f"{_DRNAS} (--epochs default 100)"),
        "batch_size": (64, f"{_DRNAS} (--batch_size default 64)"),
        "lr": (0.025, f"{_DRNAS} (--learning_rate default 0.025)"),
        "lr_min": (0.001, f"{_DRNAS} (--learning_rate_min default 0.001)"),
        "momentum": (0.9, f"{_DRNAS} (--momentum default 0.9)"),
        "nesterov": (False, f"{_DRNAS} (torch.optim.SGD without nesterov)"),
        "weight_decay": (3e-4, f"{_DRNAS} (--weight_decay default 3e-4)"),
        "grad_clip": (5.0, f"{_DRNAS} (--grad_clip default 5)"),
        "order": (1, f"{_DRNAS} (--unrolled off by default)"),
        "drnas_reg": ("l2", f"{_DRNAS} (--reg_type default l2)"),
        "arch_lr": (3e-4, f"{_DRNAS} (--arch_learning_rate default 3e-4)"),
        "arch_beta1": (0.5, "xiangning-chen/DrNAS architect.py (Adam betas=(0.5, 0.999))"),
        "arch_beta2": (0.999, "xiangning-chen/DrNAS architect.py (Adam betas=(0.5, 0.999))"),
        "arch_weight_decay": (None, "xiangning-chen/DrNAS architect.py (Adam weight_decay = --reg_scale, 1e-3, with "
                                    "l2; 0 with kl: what --arch-weight-decay's default does)"),
    },
    "drnas-tse": {
        "epochs": (100, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (train_epochs = [50, 50])"),
        "K": (100, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (format_input_data(..., inner_steps=100))"),
        "tse_mode": ("rollout", f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--higher_loop default bilevel)"),
        "arch_warmup_epochs": (10, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (α steps only `if epoch >= 10`, "
                                   f"epoch counted within each of the two stages)"),
        "grad_clip": (None, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (train_higher has no clip_grad_norm_)"),
        "batch_size": (64, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--batch_size default 64)"),
        "lr": (0.025, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--learning_rate default 0.025)"),
        "lr_min": (0.001, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--learning_rate_min default 0.001)"),
        "momentum": (0.9, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--momentum default 0.9)"),
        "nesterov": (False, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (torch.optim.SGD without nesterov)"),
        "weight_decay": (3e-4, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--weight_decay default 3e-4)"),
        "drnas_reg": ("l2", f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--reg_type default l2)"),
        "arch_lr": (3e-4, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (--arch_learning_rate default 3e-4)"),
        "arch_beta1": (0.5, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (Adam betas=(0.5, 0.999))"),
        "arch_beta2": (0.999, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (Adam betas=(0.5, 0.999))"),
        "arch_weight_decay": (None, f"{_TSE}/drnas_nb201/201-space/train_search_tse.py (Adam weight_decay = "
                                    f"--reg_scale, 1e-3, with l2; 0 with kl: what --arch-weight-decay's default does)"),
    },
}


# --preset tse-code of train_oneshot: the supernet training of the TSE code's one-shot ranking (its Table 2). Its
# --lr 0.001 / --scheduler constant set the fine-tuning of each subnetwork (rank_subnets --lr), not the supernet.
_TSE_ONESHOT = "rubinxin/TSE weight_sharing_nas/oneshot_nas/oneshot_nb201"
_TSE_ONESHOT_CONFIG = f"{_TSE_ONESHOT}/configs/nas-benchmark/algos/weight-sharing.config (search-cell.py's --config_path default)"
TSE_CODE_ONESHOT_PRESET: dict[str, tuple[object, str]] = {
    "epochs": (100, f"{_TSE_ONESHOT}/search-cell.py (usage lines: --search_epochs=100; the config's epochs 100)"),
    "batch_size": (64, f"{_TSE_ONESHOT_CONFIG} (batch_size 64)"),
    "lr": (0.025, f"{_TSE_ONESHOT_CONFIG} (LR 0.025)"),
    "lr_min": (0.001, f"{_TSE_ONESHOT_CONFIG} (eta_min 0.001)"),
    "lr_schedule": ("step", f"{_TSE_ONESHOT}/search-cell.py (scheduler.update(None, data_step / len(xloader)) every "
                            f"step) and lib/procedures/optimizers.py (cosine of epoch + current_iter)"),
    "momentum": (0.9, f"{_TSE_ONESHOT_CONFIG} (momentum 0.9)"),
    "nesterov": (True, f"{_TSE_ONESHOT_CONFIG} (nesterov 1)"),
    "weight_decay": (5e-4, f"{_TSE_ONESHOT_CONFIG} (decay 0.0005)"),
    "grad_clip": (None, f"{_TSE_ONESHOT} (no clip_grad_norm_ anywhere in it)"),
}


def preset_settings(preset: str, method: str) -> dict[str, object]:
    """The settings `preset` gives `method` (uniform: none, the shared defaults stand)."""
    _choice("preset", preset, PRESETS)
    if preset == "uniform":
        return {}
    return {name: value for name, (value, _) in PAPER_PRESET[method].items()}


@dataclass
class RunConfig:
    """The settings every run of the epoch loop shares. Defaults follow AutoDL/TSE for NB201 (see README)."""

    dataset: str = "cifar10"
    data_dir: str | None = None
    epochs: int = 50
    batch_size: int = 64
    C: int = 16
    N: int = 5
    # the search space: nb201 (N cells per stage) or darts (`layers` cells, DARTS' name; its op list; PC-DARTS' K)
    space: str = "nb201"
    layers: int = 8
    ops: str = "all"
    partial_channels: int | None = None
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
    lr_schedule: str = "epoch"  # "step": the cosine moves every step (the TSE code's one-shot supernet)
    # supernet
    track_running_stats: bool = False
    channels_last: bool = True
    # fast paths (all off by default, so that fp32 results stay as they are)
    precision: str = "fp32"  # "bf16": autocast around every forward of the supernet
    compile: str | None = None  # a torch.compile mode for the supernet's mixed forward, None: eager
    cudnn_benchmark: bool = False  # CUDA only: torch.backends.cudnn.benchmark
    data_on_device: bool = False  # copy both uint8 halves to the device once; batches are gathered there
    deterministic: bool = False  # deterministic algorithms, cuDNN deterministic, CUBLAS_WORKSPACE_CONFIG (GPU reruns)
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

    kind = "run"  # config.json's "kind" (a class attribute, not a setting)
    looks_up_benchmark = True  # whether the run looks its cells up in its space's benchmark (a class attribute)

    def validate(self) -> RunConfig:
        """Raise ConfigError naming the first invalid setting; returns self."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("wandb", self.wandb, WANDB_MODES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.compile is not None:
            _choice("compile", self.compile, COMPILE_MODES)
        for name in ("epochs", "batch_size", "C", "N", "synthetic_samples", "synthetic_image_size"):
            _integer(name, getattr(self, name), low=1)
        for name in ("steps_per_epoch", "max_train_samples", "threads"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), low=1, when_given=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer in 0..{MAX_SEED} (2^32 - 1), got {self.seed}; e.g. "
                              f"--seed $(( $(date +%s%N) % 4294967296 )) in a sweep")
        for name in ("synthetic_image_size", "image_size"):
            value = getattr(self, name)
            if value is not None:
                _integer(name, value, low=MIN_IMAGE_SIZE, when_given=name == "image_size",
                         why="the supernet halves the resolution twice", high=MAX_IMAGE_SIZE)
                if value % 4:
                    raise ConfigError(f"--{_flag(name)} must be a multiple of 4 (the supernet halves the resolution "
                                      f"twice), got {value}; e.g. {value - value % 4 or 4} or {value - value % 4 + 4}")
        _integer("synthetic_samples", self.synthetic_samples, low=1, high=MAX_SYNTHETIC_SAMPLES)
        if self.N > MAX_CELLS_PER_STAGE:
            raise ConfigError(f"--N {self.N} cells per stage is more than {MAX_CELLS_PER_STAGE}; NB201 uses --N 5")
        self._validate_space()
        if self.dataset in CUSTOM_DATASETS and not self.data_dir:
            what = "a folder with one sub-folder of images per class" if self.dataset == "folder" else \
                "a .npz file with the arrays x_train and y_train"
            raise ConfigError(f"--dataset {self.dataset} needs --data-dir: {what}")
        for name in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip"):
            _finite(name, getattr(self, name))
        if self.lr <= 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if not 0 <= self.lr_min <= self.lr:
            raise ConfigError(f"--lr-min must lie in [0, --lr], got {self.lr_min}")
        for name in ("momentum", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{_flag(name)} must be >= 0, got {getattr(self, name)}")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("Nesterov momentum needs --momentum > 0; pass --no-nesterov for plain SGD")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"--grad-clip must be > 0, or none to switch clipping off; got {self.grad_clip}")
        weights = supernet_weights(self.C, self.N)
        if self.space == "nb201" and weights > MAX_SUPERNET_WEIGHTS:
            raise ConfigError(f"--C {self.C} --N {self.N} make a supernet of {weights:,} weights (more than "
                              f"{MAX_SUPERNET_WEIGHTS:,}); NB201 uses --C 16 --N 5 ({supernet_weights(16, 5):,})")
        _check_device_name(self.device)
        if self.deterministic and self.cudnn_benchmark:
            raise ConfigError("--deterministic needs cuDNN's fixed convolution algorithms and --cudnn-benchmark "
                              "autotunes them; give one of the two")
        if self.out is not None:
            if not str(self.out).strip():
                raise ConfigError("--out is empty; give the run directory, or leave --out out for runs/<name>")
            if Path(self.out).exists() and not Path(self.out).is_dir():
                raise ConfigError(f"--out {self.out} is a file; give a directory for the run's files")
        return self

    def _validate_space(self) -> None:
        """The search space and its settings: --layers, --ops and --partial-channels belong to the DARTS space."""
        _choice("space", self.space, SPACES)
        _choice("ops", self.ops, OP_LISTS)
        _integer("layers", self.layers, low=1)
        if self.layers > 3 * MAX_CELLS_PER_STAGE:
            raise ConfigError(f"--layers {self.layers} cells is more than {3 * MAX_CELLS_PER_STAGE}; DARTS searches "
                              f"with --layers 8")
        if self.partial_channels is not None:
            _integer("partial_channels", self.partial_channels, low=1, when_given=True)
        if self.space == "nb201":
            if self.partial_channels is not None:
                raise ConfigError("--partial-channels (PC-DARTS' channel sampling) exists in the DARTS space only; "
                                  "drop it, or pass --space darts")
            if self.ops != "all":
                raise ConfigError(f"--ops {self.ops} (DrNAS' op list) exists in the DARTS space only; NB201 has its "
                                  f"own 5 ops: drop it, or pass --space darts")
        elif self.partial_channels is not None and self.C % self.partial_channels:
            divisors = [k for k in range(2, self.C + 1) if self.C % k == 0]
            raise ConfigError(f"--partial-channels {self.partial_channels} does not divide --C {self.C} (each mixed "
                              f"op sees C/K of the channels); use one of {', '.join(map(str, divisors)) or 'none'}")

    def resolve(self, given: set[str]) -> RunConfig:
        """The config a command line means: subclasses fill in what a preset sets for the settings not in `given`
        (the names the command line gave). Here: unchanged."""
        return self

    def unused_settings(self) -> dict[str, str]:
        """The settings this run does not use (by its dataset here; subclasses add their own), each with its users."""
        unused = {}
        if self.space == "nb201":
            unused["layers"] = "only --space darts builds a supernet of --layers cells (NB201: --N cells per stage)"
        else:
            unused["N"] = "only --space nb201 stacks --N cells per stage; the DARTS space takes --layers"
        if self.dataset not in CUSTOM_DATASETS:
            unused["image_size"] = "only --dataset folder and npz resize images"
        if self.dataset != "synthetic":
            unused |= {"synthetic_samples": "only --dataset synthetic uses it",
                       "synthetic_image_size": "only --dataset synthetic uses it"}
        return unused

    def ignored_settings(self) -> list[str]:
        """A sentence for each setting given a non-default value that this run does not use."""
        default = type(self)()
        shared = RunConfig.unused_settings(self)  # unused by the space or the data, not by the method or sampler
        return [f"--{_flag(name)} {getattr(self, name)} is ignored{'' if name in shared else self._by()}: {users}"
                for name, users in self.unused_settings().items() if getattr(self, name) != getattr(default, name)]

    def _by(self) -> str:
        return ""

    @property
    def method_label(self) -> str:
        """What the run is, for the console and as its default W&B group (e.g. darts-tse, oneshot-fair)."""
        return self.kind

    def valid_batch_limit(self) -> int | None:
        """How many search-valid batches each evaluation after an epoch reads (None: all)."""
        return self.steps_per_epoch

    def run_name(self) -> str:
        """The stem of the default run directory name (subclasses name their method)."""
        return f"{self.kind}-{self.dataset}-seed{self.seed}"

    def default_out(self) -> str:
        """runs/<name>-<time>-<6 hex digits> (the suffix keeps runs launched in the same second, e.g. by a sweep,
        apart)."""
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        space = "" if self.space == SPACES[0] else f"{self.space}-"  # runs/darts-<name>-... in the DARTS space
        return str(Path("runs") / f"{space}{self.run_name()}-{stamp}")

    def to_dict(self) -> dict:
        """Every setting (as saved in checkpoints and records), and the kind of run."""
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def search_differences(self, other: RunConfig) -> list[str]:
        """'name: theirs -> ours' for each setting that changes what the run computes and differs."""
        ours, theirs = self.to_dict(), other.to_dict()
        return [f"{name}: {theirs.get(name)!r} -> {ours[name]!r}" for name in ours
                if name not in NOT_SEARCH_RELEVANT and ours[name] != theirs.get(name)]


@dataclass
class SearchConfig(RunConfig):
    """A differentiable search: the method (mixing + architect) and the α optimizer, on top of :class:`RunConfig`."""

    method: str = "darts-tse"
    K: int = 100
    tse_mode: str = "joint"
    order: int = 1
    hvp: str = "finite-difference"  # order 2: DARTS' central difference, or "exact" (double backward)
    preset: str = "uniform"  # recorded; resolve() applies it (see PAPER_PRESET)
    # α: Adam
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float | None = None  # None: see effective_arch_weight_decay
    arch_warmup_epochs: int = 0
    drnas_reg: str = "l2"
    kl_weight: float = 1e-3

    kind = "search"

    @property
    def method_spec(self) -> Method:
        return METHODS[self.method]

    @property
    def method_label(self) -> str:
        return self.method

    @property
    def effective_arch_weight_decay(self) -> float:
        """Adam's weight decay on α: the given value, else 1e-3 (the L2 regulariser), or 0 for DrNAS with
        ``drnas_reg="kl"``, where the KL term replaces the L2 (as in DrNAS' code)."""
        if self.arch_weight_decay is not None:
            return self.arch_weight_decay
        kl_only = self.method in METHODS and self.method_spec.mixing == "dirichlet" and self.drnas_reg == "kl"
        return 0.0 if kl_only else L2_ARCH_WEIGHT_DECAY

    def validate(self) -> SearchConfig:
        _choice("method", self.method, METHODS)
        _choice("tse_mode", self.tse_mode, TSE_MODES)
        _choice("drnas_reg", self.drnas_reg, DRNAS_REGULARIZERS)
        _choice("hvp", self.hvp, HVP_METHODS)
        _choice("preset", self.preset, PRESETS)
        if self.order not in (1, 2):
            raise ConfigError(f"--order must be 1 (first order) or 2 (unrolled second order), got {self.order}")
        _integer("K", self.K, low=1)
        _integer("arch_warmup_epochs", self.arch_warmup_epochs, low=0)
        super().validate()
        if self.arch_warmup_epochs >= self.epochs:
            preset_value = preset_settings(self.preset, self.method).get("arch_warmup_epochs")
            by_preset = f" (--preset {self.preset}'s value)" if preset_value == self.arch_warmup_epochs else ""
            raise ConfigError(f"--arch-warmup-epochs {self.arch_warmup_epochs}{by_preset} >= --epochs {self.epochs}: α "
                              f"would never take a step; lower the warm-up or raise --epochs")
        for name in ("arch_lr", "arch_beta1", "arch_beta2", "arch_weight_decay", "kl_weight"):
            _finite(name, getattr(self, name))
        if self.arch_lr <= 0:
            raise ConfigError(f"--arch-lr must be > 0, got {self.arch_lr}")
        for name in ("arch_weight_decay", "kl_weight"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ConfigError(f"--{_flag(name)} must be >= 0, got {getattr(self, name)}")
        for name in ("arch_beta1", "arch_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"--{_flag(name)} must lie in [0, 1), got {getattr(self, name)}")
        if self.compile is not None and self.order == 2 and self.hvp == "exact" and self.method_spec.architect == "validation":
            raise ConfigError("--hvp exact differentiates twice, which torch.compile'd forwards do not support; drop "
                              "--compile, or use --hvp finite-difference")
        return self

    def resolve(self, given: set[str]) -> SearchConfig:
        """This config with its preset's settings for its method, except those in `given` (the settings the
        command line named, which win)."""
        values = {name: value for name, value in preset_settings(self.preset, self.method).items() if name not in given}
        return replace(self, **values) if values else self

    def unused_settings(self) -> dict[str, str]:
        """The method- and dataset-specific settings this search does not use, each with the runs that do."""
        method, unused = self.method_spec, super().unused_settings()
        if method.architect != "tse":
            unused |= {"K": "only darts-tse and drnas-tse use it", "tse_mode": "only darts-tse and drnas-tse use it"}
        if method.architect != "validation":
            unused["order"] = "only darts and drnas have a second order"
        if method.architect != "validation" or self.order != 2:
            unused["hvp"] = "only the second order (--order 2) of darts and drnas has a Hessian-vector product"
        if method.mixing != "dirichlet":
            unused["drnas_reg"] = "only drnas and drnas-tse use it"
        if method.mixing != "dirichlet" or self.drnas_reg != "kl":
            unused["kl_weight"] = "it scales the KL term of drnas and drnas-tse with --drnas-reg kl"
        return unused

    def _by(self) -> str:
        return f" by --method {self.method}"

    def run_name(self) -> str:
        """<method>[-K<K>]-<dataset>-seed<seed>."""
        k = f"-K{self.K}" if self.method_spec.architect == "tse" else ""
        return f"{self.method}{k}-{self.dataset}-seed{self.seed}"

    def to_dict(self) -> dict:
        """Every setting, with the α weight decay actually used (not None), as saved in checkpoints and records."""
        return super().to_dict() | {"arch_weight_decay": self.effective_arch_weight_decay}


@dataclass
class OneShotConfig(RunConfig):
    """A one-shot supernet trained by path sampling, on top of :class:`RunConfig`: the sampler and the probe set."""

    sampler: str = "random"
    paths: int = 3  # multipath: paths per minibatch
    probes: int = 8  # fixed random subnetworks evaluated on search-valid after every epoch
    probe_batches: int | None = None  # search-valid batches per probe (default: all, or --steps-per-epoch)
    preset: str = "uniform"  # recorded; resolve() applies it ("tse-code": TSE_CODE_ONESHOT_PRESET)

    kind = "oneshot"

    def resolve(self, given: set[str]) -> OneShotConfig:
        """This config with --preset tse-code's settings, except those in `given` (the command line's, which win)."""
        _choice("preset", self.preset, ONESHOT_PRESETS)
        if self.preset == "uniform":
            return self
        return replace(self, **{name: value for name, (value, _) in TSE_CODE_ONESHOT_PRESET.items()
                                if name not in given})

    def validate(self) -> OneShotConfig:
        _choice("sampler", self.sampler, SAMPLERS)
        _choice("preset", self.preset, ONESHOT_PRESETS)
        _integer("paths", self.paths, low=1, high=MAX_PATHS)
        _integer("probes", self.probes, low=1)
        if self.space == "nb201" and self.probes > NB201_CELLS:
            raise ConfigError(f"--probes {self.probes}: the NB201 space has only {NB201_CELLS} cells")
        if self.probe_batches is not None:
            _integer("probe_batches", self.probe_batches, low=1, when_given=True)
        if self.compile is not None:
            raise ConfigError("--compile compiles the supernet's mixed forward, which a one-shot run never calls (its "
                              "paths run the discrete forward, eagerly); drop --compile")
        return super().validate()

    def unused_settings(self) -> dict[str, str]:
        unused = super().unused_settings()
        if self.sampler != "multipath":
            unused["paths"] = "only --sampler multipath draws a chosen number of paths (fair always draws 5)"
        return unused

    def _by(self) -> str:
        return f" by --sampler {self.sampler}"

    @property
    def method_label(self) -> str:
        return f"oneshot-{self.sampler}"

    def valid_batch_limit(self) -> int | None:
        return self.probe_batches or self.steps_per_epoch

    def run_name(self) -> str:
        """oneshot-<sampler>[-m<paths>]-<dataset>-seed<seed>."""
        m = f"-m{self.paths}" if self.sampler == "multipath" else ""
        return f"oneshot-{self.sampler}{m}-{self.dataset}-seed{self.seed}"


# ---- training a found cell from scratch (kind "train") -------------------------------------------------------------
GENOTYPE_SPACES = ("nb201", "darts")  # nb201: an NB201 cell string; darts: DARTS' Genotype(...) literal
_DARTS_TRAIN = "quark0/darts cnn/train.py"
_NB301_CONFIG = "automl/nasbench301 nasbench301/data_generation/configs/config_0.json"
_NB201_CONFIG = f"{_AUTODL} configs/nas-benchmark/hyper-opts/200E.config"
# --protocol: each fact as (value, the file it was read from); every setting named on the command line wins.
TRAIN_PROTOCOLS: dict[str, dict[str, tuple[object, str]]] = {
    "nb201": {
        "epochs": (200, f"{_NB201_CONFIG} (epochs 200)"),
        "batch_size": (256, f"{_NB201_CONFIG} (batch_size 256)"),
        "lr": (0.1, f"{_NB201_CONFIG} (LR 0.1)"),
        "lr_min": (0.0, f"{_NB201_CONFIG} (scheduler cos, eta_min 0.0)"),
        "momentum": (0.9, f"{_NB201_CONFIG} (momentum 0.9)"),
        "nesterov": (True, f"{_NB201_CONFIG} (nesterov 1)"),
        "weight_decay": (5e-4, f"{_NB201_CONFIG} (decay 0.0005)"),
        "grad_clip": (None, f"{_AUTODL} exps/NAS-Bench-201/functions.py (no gradient clipping in procedure())"),
        "C": (16, "NB201 paper, Sec. 2.1 (C = 16 in the first stage)"),
        "N": (5, "NB201 paper, Sec. 2.1 (N = 5 cells per stage)"),
        "cutout": (0, f"{_NB201_CONFIG} (random crop + flip only)"),
        "mixup": (0.0, f"{_NB201_CONFIG} (no MixUp)"),
        "drop_path": (0.0, f"{_AUTODL} models/cell_infers/tiny_network.py (no drop-path)"),
        "auxiliary_weight": (0.0, f"{_AUTODL} models/cell_infers/tiny_network.py (no auxiliary head)"),
    },
    "darts": {
        "epochs": (600, f"{_DARTS_TRAIN} (--epochs 600)"),
        "batch_size": (96, f"{_DARTS_TRAIN} (--batch_size 96)"),
        "lr": (0.025, f"{_DARTS_TRAIN} (--learning_rate 0.025)"),
        "lr_min": (0.0, f"{_DARTS_TRAIN} (CosineAnnealingLR(optimizer, epochs): eta_min 0)"),
        "momentum": (0.9, f"{_DARTS_TRAIN} (--momentum 0.9)"),
        "nesterov": (False, f"{_DARTS_TRAIN} (torch.optim.SGD without nesterov)"),
        "weight_decay": (3e-4, f"{_DARTS_TRAIN} (--weight_decay 3e-4)"),
        "grad_clip": (5.0, f"{_DARTS_TRAIN} (--grad_clip 5)"),
        "C": (36, f"{_DARTS_TRAIN} (--init_channels 36)"),
        "layers": (20, f"{_DARTS_TRAIN} (--layers 20)"),
        "cutout": (16, f"{_DARTS_TRAIN} (--cutout, --cutout_length 16)"),
        "mixup": (0.0, f"{_DARTS_TRAIN} (no MixUp)"),
        "drop_path": (0.2, f"{_DARTS_TRAIN} (--drop_path_prob 0.2, times epoch / epochs)"),
        "auxiliary_weight": (0.4, f"{_DARTS_TRAIN} (--auxiliary, --auxiliary_weight 0.4)"),
    },
    "nb301": {
        "epochs": (100, f"{_NB301_CONFIG} (cosine_annealing T_max 100)"),
        "batch_size": (96, f"{_NB301_CONFIG} (CreateImageDataLoader:batch_size 96)"),
        "lr": (0.025, f"{_NB301_CONFIG} (sgd:learning_rate 0.025)"),
        "lr_min": (1e-8, f"{_NB301_CONFIG} (cosine_annealing eta_min 1e-08)"),
        "momentum": (0.9, f"{_NB301_CONFIG} (sgd:momentum 0.9)"),
        "nesterov": (False, f"{_NB301_CONFIG} (sgd, no nesterov entry)"),
        "weight_decay": (3e-4, f"{_NB301_CONFIG} (sgd:weight_decay 0.0003)"),
        "grad_clip": (5.0, f"{_DARTS_TRAIN} (--grad_clip 5; config_0.json names no clip: DARTS' value kept)"),
        "C": (32, f"{_NB301_CONFIG} (darts:init_channels 32)"),
        "layers": (8, f"{_NB301_CONFIG} (darts:layers 8)"),
        "cutout": (16, f"{_NB301_CONFIG} (cutout True, cutout_holes 1, cutout_length 16)"),
        "mixup": (0.2, f"{_NB301_CONFIG} (batch_loss_computation_technique mixup, mixup:alpha 0.2)"),
        "drop_path": (0.2, f"{_NB301_CONFIG} (darts:drop_path_prob 0.2)"),
        "auxiliary_weight": (0.4, f"{_NB301_CONFIG} (darts:auxiliary True; weight 0.4 = {_DARTS_TRAIN}'s)"),
    },
}
PROTOCOL_SPACE = {"nb201": "nb201", "darts": "darts", "nb301": "darts"}


@dataclass
class TrainConfig(RunConfig):
    """Training a found cell from scratch as a stand-alone network (kind "train"), on top of :class:`RunConfig`:
    the whole training set trains, the test split is evaluated after every epoch and only reported.

    `protocol` (nb201 | darts | nb301; default: the genotype's space's own) fills in, through :meth:`resolve`, every
    setting the command line did not name (:data:`TRAIN_PROTOCOLS`, each with its source). `C` is the first
    stage's (NB201) or the cells' (DARTS) channels; `N` the NB201 cells per stage, `layers` DARTS' cells.
    """

    genotype: str = ""  # the NB201 string or DARTS' Genotype(...) literal
    space: str = "nb201"
    genotype_source: str | None = None  # where the genotype came from (a run directory, a file, the command line)
    protocol: str | None = None
    layers: int = 20
    cutout: int = 0  # side of the cutout square in pixels (0: off)
    mixup: float = 0.0  # MixUp's Beta(a, a) parameter (0: off)
    drop_path: float = 0.0  # the final drop-path probability, ramped linearly from 0 over the epochs
    auxiliary_weight: float = 0.0  # weight of the auxiliary head's loss (DARTS space; 0: no head)

    kind = "train"
    looks_up_benchmark = False

    def validate(self) -> TrainConfig:
        _choice("space", self.space, GENOTYPE_SPACES)
        if self.protocol is not None:
            _choice("protocol", self.protocol, TRAIN_PROTOCOLS)
            if PROTOCOL_SPACE[self.protocol] != self.space:
                raise ConfigError(f"--protocol {self.protocol} trains a {PROTOCOL_SPACE[self.protocol]}-space cell, "
                                  f"but the genotype is of the {self.space} space; use --protocol "
                                  f"{'nb201' if self.space == 'nb201' else 'darts or nb301'}")
        if not str(self.genotype).strip():
            raise ConfigError("--genotype is empty; give a run directory, a genotype file, an NB201 string or index, "
                              "or a DARTS Genotype(...) literal")
        _integer("layers", self.layers, low=3, why="DARTS' network has two reduction cells")
        _integer("cutout", self.cutout, low=0)
        for name in ("mixup", "drop_path", "auxiliary_weight"):
            _finite(name, getattr(self, name))
            if getattr(self, name) < 0:
                raise ConfigError(f"--{_flag(name)} must be >= 0, got {getattr(self, name)}")
        if self.drop_path >= 1:
            raise ConfigError(f"--drop-path must lie in [0, 1), got {self.drop_path}")
        if self.space == "nb201" and (self.drop_path or self.auxiliary_weight):
            raise ConfigError("NB201's network has no drop-path and no auxiliary head; drop --drop-path and "
                              "--auxiliary-weight (or set them to 0)")
        if self.compile is not None and self.compile != "default":
            raise ConfigError(f"--compile {self.compile}: a training run compiles its network with the default mode "
                              f"only; pass --compile default")
        return super().validate()

    @property
    def effective_protocol(self) -> str:
        """The protocol named, or the space's own (nb201 | darts)."""
        return self.protocol or ("nb201" if self.space == "nb201" else "darts")

    def resolve(self, given: set[str]) -> TrainConfig:
        """This config with its protocol's settings, except those in `given` (named on the command line)."""
        _choice("space", self.space, GENOTYPE_SPACES)
        protocol = self.effective_protocol
        _choice("protocol", protocol, TRAIN_PROTOCOLS)
        values = {name: value for name, (value, _) in TRAIN_PROTOCOLS[protocol].items() if name not in given}
        return replace(self, protocol=protocol, **values)

    def unused_settings(self) -> dict[str, str]:
        unused = super().unused_settings()
        unused["track_running_stats"] = "a stand-alone network's BN always tracks running statistics"
        unused["benchmark"] = "a training run looks nothing up"
        unused["N" if self.space == "darts" else "layers"] = \
            "--N sets NB201's cells per stage, --layers DARTS' cells in all"
        return unused

    def _by(self) -> str:
        return f" by a {self.space}-space training run"

    @property
    def method_label(self) -> str:
        return f"train-{self.effective_protocol}"

    def valid_batch_limit(self) -> int | None:
        return None  # the whole test split, always

    def run_name(self) -> str:
        """train-<protocol>-<dataset>-seed<seed>."""
        return f"train-{self.effective_protocol}-{self.dataset}-seed{self.seed}"


CONFIG_KINDS: dict[str, type[RunConfig]] = {"search": SearchConfig, "oneshot": OneShotConfig,
                                               "train": TrainConfig}


def config_from_dict(values: dict) -> RunConfig:
    """The config of a config.json or checkpoint dict, by its ``kind`` (older runs without one are searches)."""
    kind = values.get("kind", "search")
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"unknown kind of run {kind!r}; this version of darts_tse knows {', '.join(CONFIG_KINDS)}")
    return CONFIG_KINDS[kind].from_dict(values)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown --{_flag(name)} {value!r}; choose one of: {', '.join(allowed)}")


def _integer(name: str, value, *, low: int, when_given: bool = False, why: str = "", high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        given = " when given" if when_given else ""
        reason = f" ({why})" if why else ""
        bound = f">= {low}" if high is None else f"in {low}..{high:,}"
        raise ConfigError(f"--{_flag(name)} must be an integer {bound}{given}{reason}, got {value}")


def _finite(name: str, value) -> None:
    if value is not None and not math.isfinite(value):
        raise ConfigError(f"--{_flag(name)} must be a finite number, got {value}")


def _check_device_name(name: str) -> None:
    """ConfigError unless `name` is auto, cpu, cuda or cuda:N (availability is checked when the run starts)."""
    kind, _, index = str(name).partition(":")
    if kind not in DEVICE_TYPES or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"--device {name!r} is not supported; use auto, cpu, cuda or cuda:N")


# ---- one-shot ranking settings the CLI needs before torch loads (the ranking room re-exports them) --------------
VAL_ACC = ("all", "reference")  # all of search-valid (or valid_batches of it) | the TSE code's one 64-image minibatch
DEFAULT_TSE_E_LAST = 50  # minibatches of TSE-E


@dataclass(frozen=True)
class ZeroCostSettings:
    """The stand-alone network and minibatch the zero-cost proxies see (the TSE code: C 16, N 5, 256 images)."""

    C: int = 16
    N: int = 5
    batch_size: int = 256
    seed: int = 0  # of the minibatch drawn and of every cell's initial weights
