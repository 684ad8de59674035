"""QueryConfig: every setting of a query-based search, validated in one place (the CLI only fills it in)."""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from darts_tse.estimators import DEFAULT_E, DEFAULT_GAMMA
from darts_tse.nb201.curves import RUN_DATASETS, load_curve_store

ALGORITHMS: dict[str, str] = {
    "rs": "random search (optuna RandomSampler)",
    "re": "regularised evolution (Real et al., AAAI 2019)",
    "tpe": "TPE (optuna TPESampler)",
}
FITNESSES: dict[str, str] = {
    "tse-ema": "TSE-EMA",
    "tse-e": "TSE-E",
    "val-acc": "Val Acc",
    "val-acc-final": "Val Acc",
}
QUERY_DATASETS = ("cifar10", "cifar100", "imagenet16-120")
STORE_DATASETS = tuple(dict.fromkeys(QUERY_DATASETS + RUN_DATASETS))  # a store of training runs: the runs' --dataset
FINAL_EPOCHS = 200
DEFAULT_BUDGET_EPOCHS = 10
# Regularised evolution's defaults: those of the TSE code (rubinxin/TSE, query_based_nas/run_regularized_evolution.py:
# --pop_size 100, --sample_size 10), see docs/query_nas.md.
DEFAULT_POPULATION = 100
DEFAULT_SAMPLE_SIZE = 10
SHARED_ALGORITHMS = ("rs", "tpe")
# The reference's protocol (rubinxin/TSE query_based_nas/nas201func.py, NB201API.objective_function), one switch each:
EMAS = ("sum", "reference")  # Σ γ^(T−t) L_t (the paper's eq. 4) | ema = 0.1·ema + 0.9·L_t over epochs 1..T (the code)
# --wallclock paper: simulated seconds at which the Val Acc (T = 200) baseline makes about 200 queries, as the TSE
# code's runs do (docs/query_nas.md; their ratios are NATS-Bench's epoch-time ratios, tests/test_query_reference.py)
PAPER_WALLCLOCK = {"cifar10": 3.3e5, "cifar100": 6.5e5, "imagenet16-120": 2.0e6}


class QueryError(ValueError):
    """An invalid setting or a search that cannot go on; the message names the setting and the fix."""


@dataclass
class QueryConfig:
    """All settings of a query-based search over a curve store (one or ``runs`` repeats with seeds seed, seed+1, ...).

    ``budget_epochs`` is T, the epochs each query trains for the T-budget fitnesses; ``val-acc-final`` always trains
    200 (None picks 10, or 200 for it). The simulated clock of a run stops it after ``wallclock`` seconds of NB201
    training time, or after ``max_queries`` queries, whichever comes first.
    """

    curves: str
    algorithm: str = "re"
    fitness: str = "tse-ema"
    budget_epochs: int | None = None
    dataset: str | None = "cifar10"  # None: the store's own dataset for a store of training runs, else cifar10
    wallclock: float | None = None
    max_queries: int | None = None
    runs: int = 1
    seed: int = 0
    population: int = DEFAULT_POPULATION
    sample_size: int = DEFAULT_SAMPLE_SIZE
    gamma: float = DEFAULT_GAMMA
    tse_e: float = DEFAULT_E
    curve_seed: int | None = None
    storage: str | None = None
    study_name: str | None = None
    extend_study: bool = False
    out_dir: str = "runs"
    ema: str = "sum"  # "reference": TSE-EMA as the TSE code computes it (rank-identical to --gamma 0.1 up to L_1)
    extra_epoch: bool = False  # the TSE code: charge T + 1 epochs (train-all-time at epoch index T) and read Val Acc there
    seed_fallback: bool = False  # the TSE code: a cell lacking --curve-seed's curves is scored on the mean over seeds
    tpe_settings: dict | None = None  # pinned TPESampler settings (a run's config.json "optuna" record)

    def __post_init__(self) -> None:
        _choice("--algorithm", self.algorithm, ALGORITHMS)
        _choice("--fitness", self.fitness, FITNESSES)
        if self.dataset is None or self.wallclock == "paper":
            self._settings_of_the_store()
        _choice("--nb201-dataset", self.dataset, STORE_DATASETS)
        if self.fitness == "val-acc-final":
            if self.budget_epochs not in (None, FINAL_EPOCHS):
                raise QueryError(f"--fitness val-acc-final is the validation accuracy after all {FINAL_EPOCHS} epochs; "
                                 f"drop --budget-epochs {self.budget_epochs}, or use --fitness val-acc for Val Acc at T")
            self.budget_epochs = FINAL_EPOCHS
        elif self.budget_epochs is None:
            self.budget_epochs = DEFAULT_BUDGET_EPOCHS
        _integer("--budget-epochs", self.budget_epochs, 1, FINAL_EPOCHS)
        _choice("--ema", self.ema, EMAS)
        if self.wallclock == "paper":
            if self.dataset not in PAPER_WALLCLOCK:
                raise QueryError(f"--wallclock paper is a budget for NB201's datasets ({', '.join(PAPER_WALLCLOCK)}), "
                                 f"not {self.dataset}: give --wallclock SECONDS or --max-queries N")
            self.wallclock = PAPER_WALLCLOCK[self.dataset]
        if self.wallclock is None and self.max_queries is None:
            raise QueryError("give --wallclock SECONDS (simulated NB201 training time per run) or --max-queries N; "
                             "--wallclock paper gives the Val Acc (T=200) baseline about 200 queries, as the paper")
        if self.wallclock is not None and not (math.isfinite(float(self.wallclock)) and float(self.wallclock) > 0):
            raise QueryError(f"--wallclock must be a positive number of seconds, got {self.wallclock}")
        if self.max_queries is not None:
            _integer("--max-queries", self.max_queries, 1)
        _integer("--runs", self.runs, 1)
        _integer("--seed", self.seed, 0)
        # every setting must be a number config.json can hold; the ranges only where the algorithm and fitness use it
        _integer("--population", self.population, 1)
        _integer("--sample-size", self.sample_size, 1, self.population if self.algorithm == "re" else None)
        _finite("--gamma", self.gamma)
        _finite("--tse-e", self.tse_e)
        if self.fitness == "tse-ema" and not 0.0 <= float(self.gamma) <= 1.0:
            raise QueryError(f"--gamma must lie in [0, 1], got {self.gamma}")
        if self.fitness == "tse-e" and (float(self.tse_e) != int(self.tse_e)
                                        or not 1 <= int(self.tse_e) <= self.budget_epochs):
            raise QueryError(f"--tse-e must be a whole number of epochs in 1..T={self.budget_epochs} (the store holds "
                             f"epoch means, not minibatch losses), got {self.tse_e}")
        if self.curve_seed is not None:
            _integer("--curve-seed", self.curve_seed, 0)
        elif self.seed_fallback:
            raise QueryError("--seed-fallback scores the cells lacking --curve-seed's curves on the mean over seeds; "
                             "give --curve-seed too (the TSE code's RE uses seed 999)")
        if self.tpe_settings is not None and self.algorithm != "tpe":
            raise QueryError("--tpe-settings pins optuna's TPESampler; drop it, or use --algorithm tpe")
        if self.storage is not None:
            if self.algorithm not in SHARED_ALGORITHMS:
                raise QueryError("--storage shares an optuna study, which --algorithm tpe and rs use; regularised "
                                 "evolution keeps its population in one process: drop --storage for --algorithm re")
            if self.runs != 1:
                raise QueryError("--storage makes every worker one part of a single shared run: give --runs 1, and "
                                 "start one worker per process with its own --seed")
        elif self.study_name is not None or self.extend_study:
            flag = "--study-name names a study" if self.study_name is not None else "--extend-study joins a study"
            raise QueryError(f"{flag} in --storage; give --storage too (e.g. sqlite:///study.db)")

    def _settings_of_the_store(self) -> None:
        """A dataset of None: the store's own for a store of training runs (its one dataset), else cifar10; and
        --wallclock paper refused for such a store (NB201's budget, not the runs' seconds). A store that is not
        there yet is left to the search to report (cifar10 meanwhile)."""
        store = load_curve_store(self.curves) if Path(self.curves).is_file() else None
        runs = store is not None and store.from_training_runs
        if self.dataset is None:
            self.dataset = store.datasets[0] if runs else "cifar10"
        if self.wallclock == "paper" and runs:
            raise QueryError(f"--wallclock paper is a budget in NB201's training seconds; curve store {store.path} "
                             f"holds from-scratch training runs timed on their own machine: give --wallclock "
                             f"SECONDS of their time, or --max-queries N")

    @property
    def epochs_charged(self) -> int:
        """The epochs each query trains (and the clock charges): T, or 200 for val-acc-final; T + 1 with
        ``extra_epoch`` (the TSE code reads its cost and Val Acc at epoch index T, 0-based)."""
        extra = self.extra_epoch and self.fitness != "val-acc-final" and self.budget_epochs < FINAL_EPOCHS
        return int(self.budget_epochs) + int(extra)

    @property
    def seeds(self) -> list[int]:
        """The seed of each run."""
        return list(range(self.seed, self.seed + self.runs))

    def run_name(self, seed: int) -> str:
        """``query-<dataset>-<algorithm>-<fitness>-T<T>[-curveseed<s>][-<reference switches>]-seed<seed>``."""
        curve = "" if self.curve_seed is None else f"-curveseed{self.curve_seed}"
        return f"query-{self.dataset}-{self.algorithm}-{self.fitness}-T{self.budget_epochs}{curve}{self._switches()}-seed{seed}"

    def _switches(self) -> str:
        """The reference switches that are on, for run names: -emacode, -charge1, -fallback."""
        on = (("emacode", self.ema == "reference" and self.fitness == "tse-ema"), ("charge1", self.epochs_charged != self.budget_epochs),
              ("fallback", self.seed_fallback))
        return "".join(f"-{name}" for name, flag in on if flag)

    def shared_study_name(self) -> str:
        """The optuna study the workers share: --study-name, or one named by the search's settings."""
        return self.study_name or \
            f"query-{self.dataset}-{self.algorithm}-{self.fitness}-T{self.budget_epochs}{self._switches()}"

    def to_dict(self) -> dict:
        """The settings as a plain dict (the storage URL without its password; with a storage, the study's name)."""
        out = asdict(self)
        out["storage"] = masked_url(self.storage)
        if self.storage is not None:
            out["study_name"] = self.shared_study_name()
        return out

    def used(self) -> dict:
        """The settings that decide the search's numbers, with those the algorithm and fitness do not use left out
        (what workers of one shared study must agree on)."""
        unused = unused_settings(self.algorithm, self.fitness)
        unused |= {key for key, off in REFERENCE_SWITCHES.items() if getattr(self, key) == off}  # as before they were
        return {key: value for key, value in self.to_dict().items() if key in SEARCH_SETTINGS and key not in unused}


REFERENCE_SWITCHES = {"ema": "sum", "extra_epoch": False, "seed_fallback": False}  # each one's off value


# the settings that decide a search's numbers (the rest say where it runs, how long, or which seed)
SEARCH_SETTINGS = ("dataset", "algorithm", "fitness", "budget_epochs", "population", "sample_size", "gamma", "tse_e",
                   "curve_seed", "ema", "extra_epoch", "seed_fallback")


def unused_settings(algorithm: str, fitness: str) -> set[str]:
    """The settings that an ``algorithm`` with a ``fitness`` ignores (RE's population and tournament size, TSE-EMA's
    γ, TSE-E's E): they tell no two searches apart."""
    unused = set()
    if algorithm != "re":
        unused |= {"population", "sample_size"}
    if fitness != "tse-ema":
        unused |= {"gamma", "ema"}
    if fitness != "tse-e":
        unused.add("tse_e")
    return unused


def masked_url(url: str | None) -> str | None:
    """``url`` with any password replaced by ``***`` (``postgresql://user:***@host/db``)."""
    return None if url is None else re.sub(r"(://[^/:@]+:)[^@/]*@", r"\1***@", url)


def _choice(flag: str, value: str, choices) -> None:
    if value not in choices:
        raise QueryError(f"{flag} {value!r} is not one of {', '.join(choices)}")


def _finite(flag: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise QueryError(f"{flag} must be a finite number, got {value!r}")


def _integer(flag: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise QueryError(f"{flag} must be an integer {span}, got {value!r}")
