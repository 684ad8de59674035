"""The ranking study as a table (one run, or mean ± std over runs), a CSV of every subnetwork's estimates, and the
paper-style plot: Spearman ρ against the budget B, one line per estimator."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..analysis import new_figure_classes, save_png
from .estimates import ESTIMATORS


def format_report(document: dict) -> str:
    """The rank table with a title saying what every number is."""
    runs, budgets, truth = document["runs"], document["budgets"], document["truth"]
    several = len(runs) > 1
    subnets = sorted({len(run["subnets"]) for run in runs})
    title = [f"Ranking {'/'.join(map(str, subnets))} subnetworks of {len(runs)} one-shot supernet run(s) by each "
             f"estimator after B more minibatches on inherited weights",
             f"truth: {truth['title']} ({truth['meaning']}); ρ = Spearman, τ = Kendall tau-b of the "
             f"estimator's score with the truth (higher = ranks like the benchmark); top-{min(10, min(subnets))} = mean "
             f"truth (%) "
             f"of its {min(10, min(subnets))} best",
             *(f"run: {run['run']} ({run['method']}, seed {run['seed']}, {run['dataset']}: {_scale(run)})"
               for run in runs)]
    diverged = sorted({run['table']['TSE'][str(b)]['diverged'] for run in runs for b in budgets})
    if diverged != [0]:
        title.append(f"diverged subnetworks (a non-finite loss by B; ranked last): up to {max(diverged)} per run")
    if several:
        title.append(f"numbers: mean ± sample std over the {len(runs)} runs (supernet seeds)")
    top = f"top-{min(10, min(subnets))}"
    header = ["estimator", *(f"{key} B={b}" for b in budgets for key in ("ρ", "τ", top))]
    lines = [header]
    for name in ESTIMATORS:
        cells = [name]
        for budget in budgets:
            for key, digits in (("spearman", 3), ("kendall", 3), ("top10", 2)):
                if several:
                    stats = document["mean_over_runs"][name][str(budget)][key]
                    cells.append(_pm(stats, digits))
                else:
                    value = runs[0]["table"][name][str(budget)][key]
                    cells.append("n/a" if value is None else f"{value:.{digits}f}")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                       enumerate(zip(line, widths))).rstrip() for line in lines]
    return "\n".join([*title, "", *table])


def _scale(run: dict) -> str:
    scale = run.get("scale") or {}
    return (f"supernet C={scale.get('C')} N={scale.get('N')}, {scale.get('epochs')} epochs of "
            f"{scale.get('train_images')} search-train images, batch {scale.get('batch_size')}")


def _pm(stats: dict, digits: int) -> str:
    if stats["mean"] is None:
        return "n/a"
    text = f"{stats['mean']:.{digits}f}"
    return text if stats["std"] is None else f"{text} ± {stats['std']:.{digits}f}"


def subnets_csv(document: dict) -> str:
    """One row per (run, subnetwork): its benchmark truth (NB201: with its index) and every estimator at every
    budget."""
    budgets = document["budgets"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    first = document["runs"][0]["subnets"][0] if document["runs"] and document["runs"][0]["subnets"] else {}
    keys = [key for key in first if key not in ("genotype", "truth", "estimates")]  # e.g. nb201_index
    writer.writerow(["run", "genotype", *keys, document["truth"]["column"],
                     *(f"{name}@B{b}" for b in budgets for name in ESTIMATORS)])
    for run in document["runs"]:
        for row in run["subnets"]:
            writer.writerow([run["run"], row["genotype"], *(row.get(key) for key in keys), row["truth"],
                             *((row["estimates"][str(b)] or {}).get(name, "diverged") for b in budgets
                               for name in ESTIMATORS)])
    return buffer.getvalue()


def plot_ranking(document: dict, output: str | Path) -> Path:
    """Spearman ρ of each estimator against B (mean ± std over runs where there are several); saved as PNG."""
    Figure, FigureCanvasAgg = new_figure_classes()
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    budgets = document["budgets"]
    runs = document["runs"]
    for index, name in enumerate(ESTIMATORS):
        if len(runs) > 1:
            stats = [document["mean_over_runs"][name][str(b)]["spearman"] for b in budgets]
            means = [s["mean"] for s in stats]
            axes.plot(budgets, means, marker="o", color=f"C{index}", label=name)
            spread = [(b, s["mean"] - s["std"], s["mean"] + s["std"]) for b, s in zip(budgets, stats)
                      if s["std"] is not None]
            if spread:
                axes.fill_between([p[0] for p in spread], [p[1] for p in spread], [p[2] for p in spread],
                                  color=f"C{index}", alpha=0.15, linewidth=0)
        else:
            axes.plot(budgets, [runs[0]["table"][name][str(b)]["spearman"] for b in budgets], marker="o",
                      color=f"C{index}", label=name)
    axes.set(xlabel="B: minibatches trained on inherited weights",
             ylabel=f"Spearman ρ with {document['truth']['title']}",
             title=f"one-shot ranking, {len(runs)} supernet run(s)" + (", mean ± std" if len(runs) > 1 else ""))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return save_png(figure, output, dpi=120)
