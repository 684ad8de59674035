"""The ranking study as a table (one run, or mean ± std over runs), a CSV of every subnetwork's estimates, and the
paper-style plot: Spearman ρ against the budget B, one line per estimator."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..analysis import new_figure_classes, save_png
from .baselines import BASELINES
from .estimates import ESTIMATORS
from .truth import benchmark_view


def format_report(document: dict, *, heading: bool = True) -> str:
    """The rank table with a title saying what every number is; one table per setting group (runs of one sampler
    or method are averaged only with each other). With a truth from training runs (``--truth-runs``), a second
    table ranks the same subnetworks against the benchmark, and a line gives the two truths' Spearman ρ.
    ``heading=False``: the truth's line and the table only (the runs and the protocol are said above it)."""
    parts = split_groups(document)
    if len(parts) > 1:
        return "\n\n".join(f"setting {part['groups'][0]['setting']}:\n{format_report(part, heading=heading)}"
                           for part in parts)
    runs, budgets, truth = document["runs"], document["budgets"], document["truth"]
    several = len(runs) > 1
    subnets = sorted({len(run["subnets"]) for run in runs})
    ranked = sorted({_ranked(run) for run in runs})
    judge = "the truth" if "line" in truth else "the benchmark"
    title = [f"Ranking {'/'.join(map(str, subnets))} subnetworks of {len(runs)} one-shot supernet run(s) by each "
             f"estimator after B more minibatches on inherited weights",
             f"truth: {truth.get('line') or truth['title'] + ' (' + truth['meaning'] + ')'}; ρ = Spearman, "
             f"τ = Kendall tau-b of the estimator's score with the truth (higher = ranks like {judge}); "
             f"top-{min(10, min(ranked))} = mean truth (%) of its {min(10, min(ranked))} best",
             *(f"run: {run['run']} ({run['method']}, seed {run['seed']}, {run['dataset']}: {_scale(run)})"
               for run in runs)]
    without = sorted({run["truth_runs"]["without_runs"] for run in runs if "truth_runs" in run})
    if without and without != [0]:
        title.append(f"ranked: the {'/'.join(map(str, ranked))} subnetworks that have training runs; "
                     f"{'/'.join(map(str, without))} have none and are left out")
    diverged = sorted({run['table']['TSE'][str(b)]['diverged'] for run in runs for b in budgets})
    if diverged != [0]:
        title.append(f"diverged subnetworks (a non-finite loss by B; ranked last): up to {max(diverged)} per run")
    names = _names(document)
    protocol = runs[0].get("protocol")
    if protocol:
        title.append(f"protocol: Val Acc on {'one 64-image search-valid minibatch (the TSE code)' if protocol['val_acc'] == 'reference' else 'search-valid (--valid-batches of it, or all)'}; "
                     f"fine-tuning clip {protocol['finetune_grad_clip']}; B read after B + {protocol['budget_offset']} "
                     f"steps; TSE-E = the last {protocol['tse_e_last']} minibatches")
    if any(name in BASELINES for name in names):
        zero_cost = (protocol or {}).get("zero_cost")
        title.append("baselines (no fine-tuning, the same at every B): ConvW = conv weights of the effective cell, "
                     "Params / FLOPs = its stand-alone NB201 network (C 16, N 5)"
                     + (f"; SNIP, SynFlow, JacCov at initialisation on one {zero_cost['batch_size']}-image search-train "
                        f"minibatch, network C {zero_cost['C']} N {zero_cost['N']}" if zero_cost else ""))
        title.append("ρ|size = partial ρ with the effective cell's Params held fixed; ρ|convs = ρ within cells of "
                     "equal conv count (what an estimator adds beyond the cell's size)")
    numbers = [f"numbers: mean ± sample std over the {len(runs)} runs (supernet seeds)"] if several else []
    title += numbers
    if not heading:
        title = [title[1], *numbers]
    top = f"top-{min(10, min(ranked))}"
    keys = [("spearman", "ρ", 3), ("kendall", "τ", 3), ("partial", "ρ|size", 3), ("grouped", "ρ|convs", 3),
            ("top10", top, 2)]
    header = ["estimator", *(f"{label} B={b}" for b in budgets for _, label, _ in keys)]
    lines = [header]
    for name in names:
        cells = [name]
        for budget in budgets:
            for key, _, digits in keys:
                if several:
                    stats = document["mean_over_runs"][name][str(budget)].get(key)
                    cells.append(_pm(stats, digits) if stats else "n/a")
                else:
                    value = runs[0]["table"][name][str(budget)].get(key)
                    cells.append("n/a" if value is None else f"{value:.{digits}f}")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                       enumerate(zip(line, widths))).rstrip() for line in lines]
    text = "\n".join([*title, "", *table])
    view = benchmark_view(document)
    if view is None:
        return text
    return "\n\n".join([text, f"the same {'/'.join(map(str, ranked))} subnetworks against the benchmark:\n"
                               + format_report(view, heading=False), *_agreement(document)])


def _ranked(run: dict) -> int:
    """How many of a run's subnetworks are ranked: those with a truth."""
    return sum(row.get("truth") is not None for row in run["subnets"]) if run["subnets"] else 0


def _agreement(document: dict) -> list[str]:
    """The Spearman ρ of the runs' truth with the benchmark's over the ranked cells (once per distinct cell set)."""
    lines = []
    for run in document["runs"]:
        agreement = run["truth_runs"]
        rho = agreement["spearman_with_benchmark"]
        line = (f"the two truths over the {agreement['cells_with_both']} ranked subnetworks that have both: Spearman "
                f"ρ of the training runs' final test accuracy with {run['benchmark_truth']['title']} = "
                + ("n/a (fewer than 3 cells)" if rho is None else f"{rho:+.3f}"))
        if line not in lines:
            lines.append(line)
    return lines


def split_groups(document: dict) -> list[dict]:
    """One document per setting group of `document` (itself when there is one group)."""
    if len(document.get("groups") or []) <= 1:
        return [document]
    return [{**document, "runs": [run for run in document["runs"] if run["run"] in group["runs"]],
             "groups": [group], "mean_over_runs": group["mean_over_runs"]} for group in document["groups"]]


def _names(document: dict) -> list[str]:
    """The estimators and baselines every run's table has, estimators first."""
    tables = [run["table"] for run in document["runs"]]
    return [name for name in (*ESTIMATORS, *BASELINES) if all(name in table for table in tables)]


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
    baselines = [name for name in _names(document) if name in BASELINES]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    first = document["runs"][0]["subnets"][0] if document["runs"] and document["runs"][0]["subnets"] else {}
    keys = [key for key in first if key not in ("genotype", "truth", "estimates", "baselines", "benchmark_truth")]
    benchmark = document["runs"][0].get("benchmark_truth")  # the benchmark beside the training runs' truth
    writer.writerow(["run", "genotype", *keys, document["truth"]["column"], *([benchmark["column"]] if benchmark else []),
                     *(f"{name}@B{b}" for b in budgets for name in ESTIMATORS), *baselines])
    for run in document["runs"]:
        for row in run["subnets"]:
            writer.writerow([run["run"], row["genotype"], *(row.get(key) for key in keys), row["truth"],
                             *([row.get("benchmark_truth")] if benchmark else []),
                             *((row["estimates"][str(b)] or {}).get(name, "diverged") for b in budgets
                               for name in ESTIMATORS), *(row.get("baselines", {}).get(n) for n in baselines)])
    return buffer.getvalue()


def plot_ranking(document: dict, output: str | Path) -> Path:
    """Spearman ρ of each estimator against B (mean ± std over runs where there are several); saved as PNG."""
    Figure, FigureCanvasAgg = new_figure_classes()
    figure = Figure(figsize=(8.7, 4.5), layout="constrained")  # the legend sits beside the axes
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    budgets = document["budgets"]
    runs = document["runs"]
    for index, name in enumerate(_names(document)):
        if name in BASELINES:  # budget-free: a dashed level
            level = [document["mean_over_runs"][name][str(b)]["spearman"]["mean"] if len(runs) > 1
                     else runs[0]["table"][name][str(b)]["spearman"] for b in budgets]
            axes.plot(budgets, level, linestyle="--", color=f"C{index}", label=f"{name} (baseline)")
            continue
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
    axes.set(xlabel="B: minibatches trained on inherited weights", ylabel="Spearman ρ with the truth",
             title=f"one-shot ranking, {len(runs)} supernet run(s)" + (", mean ± std" if len(runs) > 1 else "")
             + f"\ntruth: {document['truth']['title']}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the axes, not over them
    return save_png(figure, output, dpi=120)
