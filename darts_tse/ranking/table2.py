"""The paper's Table 2 as one grid: every supernet run ranked with the same settings, the runs grouped by how their
supernet was trained (RandNAS, FairNAS, MultiPaths: mean ± std over the supernet seeds), resumable through
:func:`rank_run`'s trace cache, and the table and its report in markdown.

``protocol="reference"`` is the TSE code's (``rubinxin/TSE weight_sharing_nas/oneshot_nas/oneshot_nb201/
search-cell.py``): fine-tuning by SGD at the constant ``--lr 0.001`` without a gradient clip, Val Acc on one 64-image
search-valid minibatch, "B" read after B + 1 steps; ``protocol="ours"``: the run's clip and final learning rate, Val
Acc on all of search-valid, B after B steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import TSE_CODE_ONESHOT_PRESET
from .baselines import BASELINES, ZeroCostSettings
from .estimates import DEFAULT_TSE_E_LAST, ESTIMATORS
from .study import RankingSettings, combine, rank_run

PROTOCOLS = ("reference", "ours")
REFERENCE_FINETUNE_LR = 0.001  # search-cell.py: --lr 0.001 (default), --scheduler constant for the post-supernet training
SAMPLER_NAMES = {"oneshot-random": "RandNAS", "oneshot-fair": "FairNAS", "oneshot-multipath": "MultiPaths"}


@dataclass(frozen=True)
class Table2Settings:
    """What the Table-2 grid ranks with (the defaults are the paper's: 200 subnetworks, B = 100, 200, 300)."""

    supernets: tuple[str, ...]
    benchmark: str | None = None
    subnets: int = 200
    budgets: tuple[int, ...] = (100, 200, 300)
    protocol: str = "reference"
    seed: int = 0
    tse_e_last: int = DEFAULT_TSE_E_LAST
    zero_cost: ZeroCostSettings | None = ZeroCostSettings()
    truth_dataset: str | None = None
    data_dir: str | None = None
    device: str = "auto"

    def ranking(self) -> RankingSettings:
        """The settings every run is ranked with."""
        reference = self.protocol == "reference"
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose {', '.join(PROTOCOLS)}")
        return RankingSettings(subnets=self.subnets, budgets=self.budgets, seed=self.seed, benchmark=self.benchmark,
                               truth_dataset=self.truth_dataset, data_dir=self.data_dir, device=self.device,
                               lr=REFERENCE_FINETUNE_LR if reference else None,
                               val_acc="reference" if reference else "all", no_clip=reference,
                               budget_offset=1 if reference else 0, tse_e_last=self.tse_e_last,
                               zero_cost=self.zero_cost)


def run_table2(settings: Table2Settings, *, progress: bool = True,
               echo: Callable[[str], None] = print) -> dict[str, dict]:
    """Rank every supernet run (continuing from its cache) and combine the runs of each sampler: sampler -> document."""
    ranking = settings.ranking()
    results: dict[str, list[dict]] = {}
    for run in settings.supernets:
        result = rank_run(run, ranking, progress=progress, echo=echo)
        results.setdefault(SAMPLER_NAMES.get(result["method"], result["method"]), []).append(result)
    return {sampler: combine(group) for sampler, group in results.items()}


def table2_markdown(documents: dict[str, dict], settings: Table2Settings) -> str:
    """The paper-shaped table (per sampler: each estimator's Spearman ρ at each B, mean ± std over supernet seeds,
    the baselines beside them, and ρ|size) and the report naming every setting and where ours differs."""
    budgets = next(iter(documents.values()))["budgets"]
    truth = next(iter(documents.values()))["truth"]
    lines = ["# Table 2: ranking one-shot subnetworks by TSE (reproduction)", "",
             f"Spearman ρ of each estimator's score with NB201 {truth['nb201']} accuracy ({truth['meaning']}) over "
             f"{settings.subnets if isinstance(settings.subnets, int) else len(settings.subnets)} random subnetworks, "
             f"after B minibatches on the supernet's weights; mean ± sample std over the supernet seeds of each "
             f"sampler. ρ|size: partial ρ with the effective cell's parameter count held fixed (what the estimator "
             f"adds beyond size).", ""]
    header = ["sampler", "estimator", *(f"ρ B={b}" for b in budgets), f"ρ|size B={budgets[-1]}"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for sampler, document in documents.items():
        names = [n for n in (*ESTIMATORS, *BASELINES) if n in document["mean_over_runs"]]
        for name in names:
            stats = document["mean_over_runs"][name]
            cells = [_pm(stats[str(b)]["spearman"]) for b in budgets]
            cells.append(_pm(stats[str(budgets[-1])].get("partial")))
            lines.append(f"| {sampler} (n={len(document['runs'])}) | {name} | " + " | ".join(cells) + " |")
    lines += ["", *report_lines(documents, settings)]
    return "\n".join(lines) + "\n"


def report_lines(documents: dict[str, dict], settings: Table2Settings) -> list[str]:
    """Every setting of the grid and where it differs from the paper's code."""
    ranking = settings.ranking()
    first = next(iter(documents.values()))["runs"][0]
    protocol = first["protocol"]
    lines = ["## Settings", "",
             f"- protocol: `{settings.protocol}`; subnetworks: {settings.subnets} (seed {settings.seed}); "
             f"budgets B: {', '.join(map(str, settings.budgets))}",
             f"- fine-tuning: SGD, learning rate {f'{ranking.lr:g}' if ranking.lr else 'the rate each supernet ended with'} "
             f"(constant), the run's momentum / Nesterov / weight decay, gradient clip {protocol['finetune_grad_clip']}",
             f"- Val Acc: {'one 64-image search-valid minibatch' if protocol['val_acc'] == 'reference' else 'all of search-valid'}; "
             f"B read after B + {protocol['budget_offset']} steps; TSE-E: the last {protocol['tse_e_last']} minibatches",
             "- baselines: ConvW, Params, FLOPs of the effective cell (NB201 network C 16, N 5); "
             + (f"SNIP, SynFlow, JacCov at initialisation on one {protocol['zero_cost']['batch_size']}-image "
                f"search-train minibatch, network C {protocol['zero_cost']['C']} N {protocol['zero_cost']['N']}"
                if protocol.get("zero_cost") else "zero-cost proxies off"),
             "", "## Supernets", ""]
    for sampler, document in documents.items():
        for run in document["runs"]:
            scale = run["scale"]
            lines.append(f"- {sampler}: `{run['run']}` (seed {run['seed']}, {run['dataset']}, C={scale['C']} "
                         f"N={scale['N']}, {scale['epochs']} epochs of {scale['train_images']} images, batch "
                         f"{scale['batch_size']}); supernet settings that differ from the TSE code's: "
                         f"{', '.join(supernet_differences(run)) or 'none'}")
    lines += ["", "## Where this differs from the paper", "",
              "- The paper trains each supernet on CIFAR-10's 25k search-train half at C = 16, N = 5 with "
              "`--preset tse-code`'s schedule; a supernet listed above with other settings is not the paper's.",
              "- The paper ranks 200 subnetworks with 3 supernet seeds per sampler; fewer seeds or subnetworks "
              "widen the ± std." if settings.subnets == 200 else
              f"- {settings.subnets} subnetworks, not the paper's 200.",
              "- Val Acc: the paper does not say whether Table 2's Val Acc is the code's `val_acc` (one 64-image "
              "minibatch) or its `total_val` (all of search-valid); `--protocol reference` uses the former.",
              f"- The truth is {first['truth']['title']} ({first['truth']['meaning']})"
              + ("" if first["truth"]["label"].endswith("test") else
                 ", not the test accuracy the paper ranks against: pass --benchmark with a table that has test numbers")
              + "; the baselines and ρ|size are ours (the paper's Table 2 has neither)."]
    return lines


def supernet_differences(run: dict) -> list[str]:
    """'name ours (code: theirs)' for each setting of --preset tse-code that the run's supernet did not have."""
    values = run.get("supernet_config") or {}
    return [f"{name} {values[name]!r} (code: {value!r})" for name, (value, _) in TSE_CODE_ONESHOT_PRESET.items()
            if name in values and values[name] != value]


def _pm(stats: dict | None) -> str:
    if not stats or stats.get("mean") is None:
        return "n/a"
    return f"{stats['mean']:+.3f}" + ("" if stats.get("std") is None else f" ± {stats['std']:.3f}")
