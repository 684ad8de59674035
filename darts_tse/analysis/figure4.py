"""The report beside the Figure-4 plot (``scripts/reproduce.py figure4``): each line's best test error at the end of
its clock, every setting of the grid, and where it differs from the paper (torch-free)."""
from __future__ import annotations

from ..query import QueryConfig
from .query_runs import QuerySeries

PAPER_DIFFERENCES = (
    "The TSE code's CIFAR-10 task is `cifar10-valid` throughout (its test number: that run's ori-test, a network "
    "trained on 25k images); ours is NB201's `cifar10` test accuracy (trained on all 50k), mean over seeds.",
    "The code runs a fixed number of queries and its plot cuts every variant at the mean total time of the Val Acc "
    "(T=200) runs; ours stops each run at the wall-clock (`--wallclock paper`: about 200 Val Acc (T=200) queries).",
    "The code's TPE is hyperopt's `tpe.suggest`; ours is optuna's TPESampler (its version and settings are in each "
    "run's config.json). Its searches start from 10 fixed cells read from a pickle; ours from random cells.",
    "With `--protocol ours`: TSE-EMA is the paper's Σ 0.999^(T−t) L_t, a query costs T epochs and Val Acc is read "
    "after epoch T, and RE uses the mean over seeds (the code: 0.1·ema + 0.9·L_t, T + 1 epochs, seed 999).",
)


def figure4_markdown(series: list[QuerySeries], configs: list[QueryConfig], notes: list[str], protocol: str,
                     plot: str) -> str:
    """Markdown: the table of each line's final best test error (mean ± standard error over runs), then the settings
    and the differences from the paper."""
    lines = ["# Figure 4: query-based NAS with TSE (reproduction)", "",
             f"Plot: `{plot}`: best test error (%) among the cells queried so far against the simulated wall-clock "
             f"(log axis), mean over runs, bands ± 1 standard error, as the paper draws Figure 4.", "",
             "| dataset | algorithm · fitness | runs | clock (h) | best test error (%) |", "|---|---|---|---|---|"]
    for s in series:
        lines.append(f"| {s.dataset} | {s.label} | {s.n} | {s.clock_s[-1] / 3600:.1f} | "
                     f"{s.mean[-1]:.2f} ± {s.spread[-1]:.2f} |")
    first = configs[0]
    lines += ["", "## Settings", "",
              f"- protocol: `{protocol}`; curve store: `{first.curves}`; runs per line: {first.runs} (seeds "
              f"{first.seed}..{first.seed + first.runs - 1})",
              "- wall-clock per run: " + ", ".join(sorted({f"{c.dataset} {c.wallclock:g} s" for c in configs
                                                            if c.wallclock is not None}))
              + (f"; at most {first.max_queries} queries" if first.max_queries else ""),
              "- searches: " + "; ".join(f"{c.dataset} {c.algorithm} {c.fitness} T={c.budget_epochs} "
                                         f"(charged {c.epochs_charged} epochs, EMA {c.ema}"
                                         f"{f', curve seed {c.curve_seed} with fall-back' if c.curve_seed else ''})"
                                         for c in configs),
              f"- RE: population {first.population}, sample {first.sample_size} (the TSE code's defaults)",
              "", "## Where this differs from the paper", "", *(f"- {text}" for text in (*notes, *PAPER_DIFFERENCES))]
    return "\n".join(lines) + "\n"
