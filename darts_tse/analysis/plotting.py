"""PNG plots of searches: the overfitting curves (NB201 accuracy, supernet losses, skip count by epoch) of one or more
runs, and the mixing probabilities of one run's edges by epoch.

matplotlib is imported only when a plot is drawn (a one-line error says how to install it when it is missing).
"""
from __future__ import annotations

import math
from pathlib import Path

from ..config import METHODS
from ..spaces.info import info_of
from .runs import Run, RunDirError, check_search_run, choose_nb201, load_run, read_genotypes, runs_space, unique_labels
from .seed_groups import Series, group_curves, group_runs, run_curves


class MissingDependency(RuntimeError):
    """An optional package (matplotlib) is not installed."""


# Each panel's metric range: a ± std band never leaves it (an accuracy below 0 %, a skip count above the cell's
# kept edges: NB201 6, a DARTS cell 8).
BOUNDS = {"nb201": (0.0, 100.0), "train_loss": (0.0, math.inf), "valid_loss": (0.0, math.inf)}


def plot_curves(runs: list[Run], output: str | Path, *, dataset: str | None = None, split: str | None = None,
                mean_over_seeds: bool = False, seed_lines: bool = True) -> Path:
    """Draw NB201 accuracy, supernet train/valid loss and skip count by epoch and save a PNG.

    One line (colour) per run; with ``mean_over_seeds``, one line per group of runs that differ only in their seed
    (:func:`darts_tse.analysis.group_runs`): the mean over its seeds, with a band of ± one sample std clipped to the
    metric's range, and (``seed_lines``) each seed as a thin line of the same colour.
    """
    Figure, FigureCanvasAgg = new_figure_classes()
    for run in runs:
        check_search_run(run)
    dataset, split = choose_nb201(runs, dataset, split)
    space = runs_space(runs)
    bounds = {**BOUNDS, "skip_count": (0.0, float(space.kept_edges))}
    if mean_over_seeds:
        groups = group_runs(runs)
        curves = [group_curves(group, dataset, split) for group in groups]
        seeds = [[run_curves(run, "", dataset, split) for run in group.runs] if seed_lines else [] for group in groups]
    else:
        curves = [run_curves(run, label, dataset, split) for run, label in zip(runs, unique_labels(runs))]
        seeds = [[] for _ in curves]
    figure = Figure(figsize=(16, 4.6), layout="constrained")
    FigureCanvasAgg(figure)  # the Agg backend, without touching pyplot's global state
    nb201_axes, loss_axes, skip_axes = figure.subplots(1, 3)
    for index, curve in enumerate(curves):
        color = f"C{index % 10}"
        _draw(nb201_axes, curve.series["nb201"], color, curve.label, bounds["nb201"], marker=".")
        _draw(loss_axes, curve.series["train_loss"], color, f"{curve.label} train", bounds["train_loss"])
        _draw(loss_axes, curve.series["valid_loss"], color, f"{curve.label} valid", bounds["valid_loss"],
              linestyle="--")
        _draw(skip_axes, curve.series["skip_count"], color, curve.label, bounds["skip_count"], marker=".")
    for index, singles in enumerate(seeds):  # after the means, so that each panel's first lines are the means
        for single in singles:
            for axes, key, style in ((nb201_axes, "nb201", "-"), (loss_axes, "train_loss", "-"),
                                     (loss_axes, "valid_loss", "--"), (skip_axes, "skip_count", "-")):
                axes.plot(single.series[key].epochs, single.series[key].mean, color=f"C{index % 10}", linewidth=0.6,
                          alpha=0.45, linestyle=style)
    title = f"derived genotype: {space.curve_title(dataset, split)}\n({space.curve_meaning(dataset, split)})"
    if mean_over_seeds:
        title += "\nlines: mean over search seeds; bands: ± 1 sample std" + ("; thin: each seed" if seed_lines else "")
    nb201_axes.set(title=title, xlabel="epoch (0-based)", ylabel=f"{space.curve_title(dataset, split)} accuracy (%)")
    loss_axes.set(title="supernet loss (solid: search-train, dashed: search-valid)", xlabel="epoch (0-based)",
                  ylabel="cross-entropy")
    skip_axes.set(title="skip_connect edges in the genotype" + (" (normal cell)" if len(space.cell_types) > 1 else ""),
                  xlabel="epoch (0-based)", ylabel="skip count", ylim=(-0.2, space.kept_edges + 0.2))
    for axes in (nb201_axes, loss_axes, skip_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.title.set_fontsize("small")
    nb201_axes.legend(fontsize="small")
    loss_axes.legend(fontsize="x-small", ncol=1 + len(curves) // 4)
    return save_png(figure, output, dpi=120)


def plot_alpha(path: str | Path, output: str | Path, *, zoom: bool = False) -> Path:
    """One panel per edge: the mixing probability of each op by epoch (from genotypes.jsonl); save a PNG. In a space
    with several cell types (DARTS: 14 edges × normal and reduce), one block of panels per cell type, a row per
    target node and a column per source state, so that the 28 panels read as the cells' graphs.

    The probabilities are softmax(α) for DARTS mixing and the Dirichlet mean for DrNAS mixing, as logged each epoch.
    Every panel shares one y scale: 0 to 1 by default, so that a drift of 4e-4 looks as small as it is; ``zoom``
    narrows the shared scale to the data's range. The title gives that range and the largest distance from uniform.
    """
    Figure, FigureCanvasAgg = new_figure_classes()
    run = load_run(path)
    rows = read_genotypes(path)
    space, op_list = info_of(run.config), run.config.get("ops", "all")
    ops = space.op_names(op_list)
    for row in rows:
        if not space.check_arch_table(row.get("probabilities"), op_list):
            shape = "×".join(map(str, ((len(space.cell_types),) if len(space.cell_types) > 1 else ())
                                 + (len(space.edge_names()), len(ops))))
            raise RunDirError(f"{run.path}: epoch {row.get('epoch')} has no {shape} 'probabilities' in "
                              f"genotypes.jsonl; the file is written by train_search.py")
    method = METHODS.get(run.config.get("method"))
    meaning = {"softmax": "softmax(α)", "dirichlet": "Dirichlet mean of ELU(θ)+1"}.get(method.mixing) if method else None
    tables = [[edge_row for _, _, edge_row in space.named_rows(row["probabilities"], op_list)] for row in rows]
    values = [p for table in tables for edge in table for p in edge]
    low, high = min(values), max(values)
    deviation = max(abs(p - 1 / len(ops)) for p in values)
    several = len(space.cell_types) > 1
    figure = Figure(figsize=(26, 12) if several else (15, 7.5), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(f"{run.label}: mixing probability of each op by epoch" + (f" ({meaning})" if meaning else "")
                    + f"\nall probabilities lie in [{low:.6f}, {high:.6f}]; largest |p − 1/{len(ops)}| = "
                      f"{deviation:.2e}; every panel shares one y scale" + (" (zoomed to that range)" if zoom else ""))
    epochs = [row["epoch"] for row in rows]
    margin = max((high - low) * 0.05, 1e-6)
    limits = (low - margin, high + margin) if zoom else (0.0, 1.0)
    panels = _alpha_panels(figure, space) if several else list(figure.subplots(2, 3, sharey=True).flat)
    for edge, ((cell, name, _), axes) in enumerate(zip(space.named_rows(rows[0]["probabilities"], op_list), panels)):
        for op_index, op in enumerate(ops):
            axes.plot(epochs, [table[edge][op_index] for table in tables], color=f"C{op_index}",
                      marker="." if len(epochs) < 30 else None, label=op)
        axes.axhline(1 / len(ops), color="grey", linestyle=":", linewidth=1)  # uniform: where α starts
        target, source = name.split("<-")
        title = f"{cell} {target}←{source}" if several else \
            f"edge {target}←{source} (node {source} to node {target})"
        axes.set(title=title, xlabel="epoch (0-based)" if not several else None,
                 ylabel="probability" if not several else None, ylim=limits)
        axes.title.set_fontsize("small" if several else "medium")
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    panels[0].legend(fontsize="small" if not several else "x-small")
    return save_png(figure, output, dpi=110)


def _alpha_panels(figure, space) -> list:
    """The panels of a space with several cell types, in the order of ``space.named_rows``: one block per cell type
    (a sub-figure titled by it), a row per target state and a column per source state; the panels of edges that do
    not exist are hidden."""
    edges = [tuple(int(v) for v in name.split("<-")) for name in space.edge_names()]
    targets = sorted({t for t, _ in edges})
    columns = max(s for _, s in edges) + 1
    panels = []
    for cell, block in zip(space.cell_types, figure.subfigures(1, len(space.cell_types))):
        block.suptitle(f"{cell} cell: rows = target node, columns = source (0, 1 = the cell's inputs)")
        block.supxlabel("epoch (0-based)")
        block.supylabel("probability")
        grid = block.subplots(len(targets), columns, sharey=True, sharex=True, squeeze=False)
        used = {(targets.index(t), s) for t, s in edges}
        for r in range(len(targets)):
            for c in range(columns):
                grid[r, c].set_visible((r, c) in used)
        panels += [grid[targets.index(t), s] for t, s in edges]
    return panels


def _draw(axes, series: Series, color: str, label: str, bounds: tuple[float, float], **style) -> None:
    """The series' mean as a line; where at least two seeds give a spread, a band of ± one std around it, clipped to
    the metric's `bounds`."""
    axes.plot(series.epochs, series.mean, color=color, label=label, **style)
    if any(not math.isnan(std) for std in series.std):
        low = [max(m - s, bounds[0]) for m, s in zip(series.mean, series.std)]
        high = [min(m + s, bounds[1]) for m, s in zip(series.mean, series.std)]
        axes.fill_between(series.epochs, low, high, color=color, alpha=0.15, linewidth=0)


def save_png(figure, output: str | Path, dpi: int) -> Path:
    """Save the figure as PNG at `output` (the folder is created)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=dpi, format="png")
    return output


def new_figure_classes():
    """(Figure, FigureCanvasAgg), or MissingDependency with the install command."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingDependency(f"plotting needs matplotlib, which is not installed ({error}); "
                                f"install it with: pip install matplotlib") from error
    return Figure, FigureCanvasAgg
