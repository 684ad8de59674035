"""The Figure-4-style plot of query-based searches: a metric of the search so far against simulated wall-clock, one
panel per algorithm (rows) and dataset (columns: NB201's, or a store of training runs' data; the title, the
axis and the y label say whose numbers they are), one line per fitness (mean over runs, band ± spread), as the
paper's Figure 4. matplotlib is imported only when a plot is drawn."""
from __future__ import annotations

from pathlib import Path

from ..files import check_output_file
from .plotting import new_figure_classes, save_png
from .query_runs import QUERY_METRICS, QueryRun, QuerySeries, query_series

LINESTYLES = ("-", "--", "-.", ":")  # lines that coincide stay visible
BAND_NAMES = {"std": "± 1 sample std over runs", "sem": "± 1 standard error over runs"}


def plot_query(runs: list[QueryRun], output: str | Path, *, metric: str = "test", log_clock: bool = True,
               band: str = "std") -> tuple[Path, list[QuerySeries]]:
    """Draw ``metric`` (see QUERY_METRICS) against the simulated clock in hours and save a PNG; returns it and the
    series drawn. OutputPathError (before anything is drawn) for an output that is not a writable .png path."""
    output = check_output_file(output, (".png",))
    series = query_series(runs, metric, band=band, log_clock=log_clock)
    Figure, FigureCanvasAgg = new_figure_classes()
    algorithms = list(dict.fromkeys(s.algorithm for s in series))
    datasets = list(dict.fromkeys(s.dataset for s in series))
    fitnesses = list(dict.fromkeys(s.fitness for s in series))
    styles = {fitness: (f"C{i % 10}", LINESTYLES[i % len(LINESTYLES)]) for i, fitness in enumerate(fitnesses)}
    figure = Figure(figsize=(5.4 * len(datasets), 4.2 * len(algorithms)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(algorithms), len(datasets), squeeze=False)
    about = {run.dataset: (run.config["labels"]["test"], run.store, run.data, run.clock) for run in runs}
    for row, algorithm in enumerate(algorithms):
        for column, dataset in enumerate(datasets):
            axes = grid[row][column]
            for s in (x for x in series if x.algorithm == algorithm and x.dataset == dataset):
                hours = s.clock_s / 3600
                color, linestyle = styles[s.fitness]
                axes.plot(hours, s.mean, color=color, linestyle=linestyle, label=f"{s.fitness}, {s.runs}")
                if s.n > 1:
                    axes.fill_between(hours, s.mean - s.spread, s.mean + s.spread, color=color, alpha=0.15, linewidth=0)
            label, store, data, clock = about[dataset]
            axes.set(title=f"{algorithm} on {data} (store: {store})",
                     xlabel=f"simulated wall-clock (hours of {clock})",
                     ylabel=f"{QUERY_METRICS[metric][1]}\n[{label}]")
            if log_clock:
                axes.set_xscale("log")
            axes.grid(alpha=0.3)
            axes.title.set_fontsize("small")
            axes.yaxis.label.set_fontsize("x-small")
            if axes.lines:
                axes.legend(fontsize="x-small")
    figure.suptitle(f"query-based NAS: lines = mean over runs, bands = {BAND_NAMES[band]}", fontsize="small")
    return save_png(figure, output, dpi=110), series
