"""Reading finished searches: run directories, groups of search seeds with mean ± std, and the plots (torch-free).

Imports neither torch nor matplotlib at import time (matplotlib only when a plot is drawn), so the reader scripts
start fast; a test checks that ``import darts_tse.analysis`` leaves torch unloaded.
"""
from .comparison import Comparison, compare, markdown_report
from .genotype_source import GenotypeSource, GenotypeSourceError, resolve_genotype
from .plotting import MissingDependency, new_figure_classes, plot_alpha, plot_curves, save_png
from .query_plot import plot_query
from .query_runs import QUERY_METRICS, QueryRun, QuerySeries, format_query_table, load_query_run, query_series
from .runs import (GENOTYPE_FORMATS, NoFinishedEpoch, Run, RunDirError, check_run_dir, check_search_run, choose_nb201, format_genotype,
                   genotype_entry, load_run, load_runs, nb201_value, read_config, read_genotypes, read_jsonl,
                   read_metrics, run_label, unique_labels)
from .seed_groups import (CURVE_KEYS, SEED_INDEPENDENT, STATISTIC, Curves, RunGroup, Series, format_summary,
                          group_curves, group_runs, json_document, run_curves, search_settings, summary, summary_rows,
                          summary_title)

__all__ = [
    "CURVE_KEYS", "GENOTYPE_FORMATS", "GenotypeSource", "GenotypeSourceError", "resolve_genotype", "QUERY_METRICS", "SEED_INDEPENDENT", "STATISTIC", "Comparison", "Curves",
    "MissingDependency", "NoFinishedEpoch", "QueryRun", "QuerySeries", "Run", "RunDirError", "RunGroup", "Series",
    "check_run_dir", "check_search_run", "choose_nb201", "compare", "format_genotype", "format_query_table",
    "format_summary", "genotype_entry", "group_curves", "group_runs", "json_document", "load_query_run", "load_run",
    "load_runs", "markdown_report", "nb201_value", "new_figure_classes", "plot_alpha", "plot_curves", "plot_query",
    "query_series", "read_config", "read_genotypes", "read_jsonl", "read_metrics", "run_curves", "run_label",
    "save_png", "search_settings", "summary", "summary_rows", "summary_title", "unique_labels",
]
