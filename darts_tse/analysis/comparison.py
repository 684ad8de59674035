"""A comparison of methods over search seeds, and its markdown report: the table of ``scripts/compare_runs.py`` and
the report ``scripts/compare_methods.py`` writes beside it. Imports neither torch nor matplotlib.

Every number in the report is labelled: the NB201 accuracy says its dataset and split (and that it is the benchmark's
200-epoch mean over its own training seeds), the statistic says it is the mean ± sample std over which search
seeds, at which epoch, and the data section says what data the searches used (from each run's config.json).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..nb201.labels import nb201_label
from .runs import Run, choose_nb201, runs_space
from .seed_groups import (STATISTIC, RunGroup, format_summary, group_curves, group_runs, json_document, summary,
                          summary_rows, summary_title)

# the settings a report shows per group (those a preset or a method changes), in this order
REPORT_SETTINGS = ("preset", "epochs", "batch_size", "lr", "lr_min", "momentum", "nesterov", "weight_decay",
                   "grad_clip", "order", "hvp", "K", "tse_mode", "arch_warmup_epochs", "arch_lr", "arch_weight_decay",
                   "drnas_reg", "precision", "space", "C", "N", "layers", "ops", "partial_channels")


@dataclass
class Comparison:
    """The groups of runs (one per method and settings) and their summaries at one epoch, for one NB201 number."""

    dataset: str
    split: str
    groups: list[RunGroup]
    summaries: list[dict]
    given_epoch: bool

    def table(self) -> str:
        """The fixed-width table with its title (what compare_runs.py prints)."""
        return format_summary(self.summaries, self.dataset, self.split, given_epoch=self.given_epoch)

    def document(self) -> dict:
        """The summaries and every group's per-epoch curves, labelled (compare_runs.py -o/--out)."""
        curves = [group_curves(group, self.dataset, self.split) for group in self.groups]
        return json_document(self.summaries, curves, self.dataset, self.split)


def compare(runs: list[Run], dataset: str | None = None, split: str | None = None,
            epoch: int | None = None) -> Comparison:
    """Group `runs` by their search settings and summarise each group at `epoch` (default: the last epoch every
    seed of the group finished), for the NB201 number `dataset`/`split` (default as :func:`choose_nb201`)."""
    dataset, split = choose_nb201(runs, dataset, split)
    groups = group_runs(runs)
    return Comparison(dataset, split, groups, [summary(group, dataset, split, epoch) for group in groups],
                      given_epoch=epoch is not None)


def markdown_report(comparison: Comparison, *, title: str, command: str, plot: str | None,
                    notes: list[str] = ()) -> str:
    """The comparison as a short markdown report: what was run, on what data, every number labelled, the table,
    the settings of each group, the plot (`plot`: its file name beside the report, None when none was drawn)."""
    label = nb201_label(comparison.dataset, comparison.split)
    space = runs_space([run for group in comparison.groups for run in group.runs])
    title_, meaning = (space.curve_title(comparison.dataset, comparison.split),
                       space.curve_meaning(comparison.dataset, comparison.split))
    seeds = sorted({seed for group in comparison.groups for seed in group.seeds}, key=str)
    lines = [f"# {title}", "", f"Command: `{command}`", "", "## What the numbers are", "",
             f"- **{title_}**: the {meaning}, for each search's derived genotype, from the benchmark the searches "
             f"were given."
             + (f" {space.split_meaning(comparison.dataset, comparison.split)}."
                if space.split_meaning(comparison.dataset, comparison.split) else ""),
             f"- **Statistic**: {STATISTIC} (search seeds {', '.join(map(str, seeds))}); "
             + summary_title(comparison.summaries, comparison.dataset, comparison.split,
                             comparison.given_epoch).split(":")[0].lower() + ".",
             "- **search-train / search-valid loss**: the supernet's cross-entropy on the two halves of the data the "
             "search used (train: mean over the epoch's minibatches as they were seen; valid: after the epoch).",
             f"- **skip edges**: skip_connect edges of the derived genotype (of {space.kept_edges}"
             f"{', in its normal cell' if len(space.cell_types) > 1 else ''}).", "", "## Data", ""]
    lines += [f"- {line}" for line in _data_lines(comparison.groups)]
    lines += [f"- {line}" for line in _cap_lines(comparison.groups)]
    lines += ["", "## Result", "", *_markdown_table(summary_rows(comparison.summaries, comparison.dataset,
                                                                   comparison.split))]
    unfinished = [f"{item['label']}: seed {run['seed']} finished {run['finished']} of {run['epochs']} epochs"
                  for item in comparison.summaries for run in item["unfinished"]]
    if unfinished:
        lines += ["", "Unfinished: " + "; ".join(unfinished) + "."]
    if plot:
        lines += ["", f"![overfitting curves]({plot})", "",
                  f"`{plot}`: by epoch (0-based), NB201 {label} accuracy of the derived genotype, the supernet's "
                  f"search-train (solid) and search-valid (dashed) loss, and the skip count; lines are the mean over "
                  f"search seeds, bands ± one sample std, thin lines each seed."]
    lines += ["", "## Settings of each group", "", *_markdown_table(_settings_rows(comparison.groups))]
    if notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def _data_lines(groups: list[RunGroup]) -> list[str]:
    """One line per distinct data source of the runs (a comparison normally has one), with its content hashes."""
    seen: dict[tuple, dict] = {}
    for group in groups:
        for run in group.runs:
            data = run.config.get("data") or {}
            key = (data.get("dataset", run.config.get("dataset")), data.get("source"), data.get("train_images"),
                   data.get("valid_images"), data.get("split"))
            entry = seen.setdefault(key, {"labels": [], "hashes": []})
            entry["labels"].append(group.label)
            entry["hashes"].append((data.get("sha256") or "")[:12])
    lines = []
    for (dataset, source, train, valid, split), entry in seen.items():
        where = f" from {source}" if source else " (random tensors, for smoke runs)" if dataset == "synthetic" else ""
        sizes = f": {train} search-train / {valid} search-valid images" if train is not None else ""
        hashes = sorted(set(filter(None, entry["hashes"])))
        drawn = "; synthetic data is drawn anew per seed" if dataset == "synthetic" else ""
        digest = (f", sha256 {hashes[0]}…" if len(hashes) == 1 else
                  f", {len(hashes)} different contents (sha256{drawn})" if hashes else "")
        which = "" if len(seen) == 1 else f" (used by {', '.join(dict.fromkeys(entry['labels']))})"
        lines.append(f"{dataset}{where}{sizes}{digest}{which}" + (f"; {split}" if split else ""))
    return lines or ["(the runs' config.json files record no data)"]


# the settings that cut a search short of its data (smoke runs); a report names each one set
SMOKE_CAPS = {"steps_per_epoch": "training minibatches (and search-valid evaluation batches) per epoch",
              "max_train_samples": "images kept of each half", "image_size": "images resized to S×S"}
SYNTHETIC_CAPS = {"synthetic_samples": "synthetic images", "synthetic_image_size": "synthetic image size"}


def _cap_lines(groups: list[RunGroup]) -> list[str]:
    """One line per smoke cap the runs set (steps_per_epoch, max_train_samples, ...), with its value(s) and which
    groups set it; a line saying there is none when no run set one."""
    lines = []
    for name, meaning in (*SMOKE_CAPS.items(), *SYNTHETIC_CAPS.items()):
        values: dict[str, list[str]] = {}
        for group in groups:
            for run in group.runs:
                synthetic = run.config.get("dataset") == "synthetic"
                if (name in SYNTHETIC_CAPS) != synthetic or run.config.get(name) is None:
                    continue
                values.setdefault(str(run.config[name]), []).append(group.label)
        for value, labels in values.items():
            everyone = len(set(labels)) == len(groups)
            lines.append(f"**Smoke cap** `{name}` = {value}: {meaning}"
                         + ("" if everyone else f" (in {', '.join(dict.fromkeys(labels))})"))
    return lines or ["No smoke cap: every search ran its full epochs on all of its data."]


def _settings_rows(groups: list[RunGroup]) -> list[list[str]]:
    names = [name for name in REPORT_SETTINGS if any(name in group.settings for group in groups)]
    rows = [["group", *names]]
    for group in groups:
        rows.append([group.label, *("—" if name not in group.settings else str(group.settings[name])
                                    for name in names)])
    return rows


def _markdown_table(rows: list[list[str]]) -> list[str]:
    def line(cells):
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
    return [line(rows[0]), "|" + "---|" * len(rows[0]), *map(line, rows[1:])]
