"""Learning curves for the estimator rank-correlation study: loading (JSON, CSV, NATS-Bench), the study, its output.

Input formats (documented in docs/estimators.md):

* JSON: ``{"architectures": [{"id": ..., "train_losses": [...], "valid_losses": [...], "valid_accs": [...],
  "minibatch_losses": [[...], ...], "final_test_acc": ...}, ...]}``; only ``id``, ``train_losses`` and
  ``final_test_acc`` are required. Lists are per epoch, epoch 1 first.
* CSV: one row per (architecture, epoch) with header columns ``id,epoch,train_loss,final_test_acc`` and optionally
  ``valid_loss,valid_acc``; epochs are 1-based and must be 1..N for each id; empty cells mean "absent".
* a NATS-Bench topology directory (``NATS-tss-v1_0-3ffb9-simple``), read with ``nats_bench`` in fast mode.

Architectures whose curve or ground truth is missing or malformed are collected in ``CurveSet.missing`` with a
reason instead of raising; a bad path or a file that is not in the format raises :class:`CurveLoadError`.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from .budget import effective_training_budget, overfit_epoch_valid_loss
from .ranking import grouped_spearman, partial_spearman, rank_correlations, spearman
from .speed import Estimator, LearningCurve

NATS_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
NATS_HPS = ("12", "200")
NATS_TRUTH_HP = "200"
_NATS_META = "meta.pickle.pbz2"
_NATS_RECORD = re.compile(r"^(\d+)\.pickle\.pbz2$")


class CurveLoadError(ValueError):
    """A curves source that cannot be read at all (bad path, wrong format); the message is one line."""


@dataclass(frozen=True)
class ArchitectureRecord:
    """One architecture: its id, learning curve and ground-truth final test accuracy."""

    id: str
    curve: LearningCurve
    final_test_acc: float


@dataclass(frozen=True)
class MissingArchitecture:
    """An architecture left out of the study, and why."""

    id: str
    reason: str


@dataclass
class CurveSet:
    """The usable architectures of a source plus the ones left out (with reasons)."""

    source: str
    records: List[ArchitectureRecord] = field(default_factory=list)
    missing: List[MissingArchitecture] = field(default_factory=list)
    truth: str = "final_test_acc of the curves file"  # what the ground truth is, as reports label it


@dataclass
class RankStudy:
    """Spearman correlation of each estimator with the final test accuracy, per budget T (1..T_max)."""

    source: str
    budgets: List[int]
    correlations: Dict[str, List[float]]
    skipped: Dict[str, str]
    architectures: List[str]
    missing: List[MissingArchitecture]
    effective_budget: Optional[int] = None
    settings: Dict[str, object] = field(default_factory=dict)
    truth: str = "final test accuracy"  # the ground truth the correlations are taken with (see CurveSet.truth)
    baselines: Dict[str, float] = field(default_factory=dict)  # budget-free baselines' ρ (e.g. the cell's size)
    beyond_size: Dict[str, Dict[str, float]] = field(default_factory=dict)  # estimator -> partial / grouped ρ at T_max


# ----------------------------------------------------------------------------------------------------------------
# building records
# ----------------------------------------------------------------------------------------------------------------
def _make_record(arch_id: str, truth, **curve_fields) -> ArchitectureRecord:
    """Build a record, raising ValueError with a short reason when the curve or the truth is unusable."""
    if truth is None:
        raise ValueError("no final test accuracy")
    truth = float(truth)
    if not math.isfinite(truth):
        raise ValueError("final test accuracy is not finite")
    if not curve_fields.get("train_losses"):
        raise ValueError("no training-loss curve")
    return ArchitectureRecord(arch_id, LearningCurve(**curve_fields), truth)


def _add(curve_set: CurveSet, arch_id: str, truth, **curve_fields) -> None:
    """Append a record to ``curve_set``, or a MissingArchitecture with the reason it is unusable."""
    try:
        curve_set.records.append(_make_record(arch_id, truth, **curve_fields))
    except (ValueError, TypeError) as exc:
        curve_set.missing.append(MissingArchitecture(arch_id, str(exc)))


def _require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a readable file, else raise CurveLoadError."""
    if not path.exists():
        raise CurveLoadError(f"{what} not found: {path}")
    if not path.is_file():
        raise CurveLoadError(f"{what} is not a file: {path}")
    return path


# ----------------------------------------------------------------------------------------------------------------
# JSON and CSV
# ----------------------------------------------------------------------------------------------------------------
def load_curves_json(path) -> CurveSet:
    """Read the JSON curves format (see the module docstring)."""
    path = _require_file(Path(path), "curves file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CurveLoadError(f"cannot read JSON curves from {path}: {exc}") from None
    archs = data.get("architectures") if isinstance(data, dict) else None
    if not isinstance(archs, list):
        raise CurveLoadError(f"{path}: expected an object with an 'architectures' list")
    curve_set = CurveSet(source=str(path))
    for position, entry in enumerate(archs):
        if not isinstance(entry, dict):
            curve_set.missing.append(MissingArchitecture(f"#{position}", "entry is not an object"))
            continue
        arch_id = str(entry.get("id", f"#{position}"))
        _add(curve_set, arch_id, entry.get("final_test_acc"), train_losses=entry.get("train_losses"),
             valid_losses=entry.get("valid_losses") or None, valid_accs=entry.get("valid_accs") or None,
             minibatch_losses=entry.get("minibatch_losses") or None)
    return curve_set


def _optional_column(rows: List[dict], column: str) -> Optional[List[float]]:
    """The column's values over ``rows``, or None when the column is absent or any cell is empty."""
    values = [(row.get(column) or "").strip() for row in rows]
    if not values or any(v == "" for v in values):
        return None
    return [float(v) for v in values]


def _csv_record(curve_set: CurveSet, arch_id: str, rows: List[dict]) -> None:
    """Turn one architecture's CSV rows into a record (or a MissingArchitecture)."""
    try:
        rows = sorted(rows, key=lambda r: int(r["epoch"]))
        epochs = [int(r["epoch"]) for r in rows]
        if epochs != list(range(1, len(rows) + 1)):
            raise ValueError(f"epochs must be 1..{len(rows)} without gaps or repeats, got {epochs[:10]}")
        truths = {float(r["final_test_acc"]) for r in rows if (r.get("final_test_acc") or "").strip()}
        if len(truths) > 1:
            raise ValueError(f"conflicting final_test_acc values {sorted(truths)}")
        train = _optional_column(rows, "train_loss")
        if train is None:
            raise ValueError("train_loss is empty for some epochs")
        valid_losses = _optional_column(rows, "valid_loss")
        valid_accs = _optional_column(rows, "valid_acc")
    except (ValueError, TypeError) as exc:
        curve_set.missing.append(MissingArchitecture(arch_id, str(exc)))
        return
    _add(curve_set, arch_id, truths.pop() if truths else None, train_losses=train, valid_losses=valid_losses,
         valid_accs=valid_accs)


def load_curves_csv(path) -> CurveSet:
    """Read the CSV curves format: one row per (id, epoch); see the module docstring."""
    path = _require_file(Path(path), "curves file")
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CurveLoadError(f"cannot read CSV curves from {path}: {exc}") from None
    needed = {"id", "epoch", "train_loss", "final_test_acc"}
    if not needed.issubset(header):
        raise CurveLoadError(f"{path}: CSV header needs columns {sorted(needed)}, got {header}")
    by_id: Dict[str, List[dict]] = {}
    for row in rows:
        by_id.setdefault(row["id"].strip(), []).append(row)
    curve_set = CurveSet(source=str(path))
    for arch_id, arch_rows in by_id.items():
        _csv_record(curve_set, arch_id, arch_rows)
    return curve_set


def load_curves_file(path) -> CurveSet:
    """Read a curves file, choosing the format by its suffix (.json or .csv)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return load_curves_json(path)
    if suffix == ".csv":
        return load_curves_csv(path)
    raise CurveLoadError(f"unknown curves format '{suffix}' for {path}: use a .json or .csv file")


# ----------------------------------------------------------------------------------------------------------------
# NATS-Bench topology directory
# ----------------------------------------------------------------------------------------------------------------
def nats_record_indices(nats_dir) -> List[int]:
    """Architecture indices that have a record file (``NNNNNN.pickle.pbz2``) in a NATS-Bench fast-mode directory."""
    indices = []
    for entry in Path(nats_dir).iterdir():
        match = _NATS_RECORD.match(entry.name)
        if match:
            indices.append(int(match.group(1)))
    return sorted(indices)


def _open_nats(nats_dir: Path):
    """Create the NATS-Bench topology API on ``nats_dir`` (fast mode), raising CurveLoadError on a bad directory."""
    if not nats_dir.exists():
        raise CurveLoadError(f"NATS-Bench directory not found: {nats_dir}")
    if not nats_dir.is_dir():
        raise CurveLoadError(f"NATS-Bench path is not a directory: {nats_dir}")
    if not (nats_dir / _NATS_META).is_file():
        raise CurveLoadError(f"not a NATS-Bench topology directory (no {_NATS_META}): {nats_dir}")
    try:
        import nats_bench  # noqa: PLC0415 - optional dependency, only needed for this source
    except ImportError:
        raise CurveLoadError("the nats_bench package is needed to read a NATS-Bench directory") from None
    try:
        return nats_bench.create(str(nats_dir), "tss", fast_mode=True, verbose=False)
    except Exception as exc:  # noqa: BLE001 - any failure to open the benchmark is a bad input, reported in one line
        raise CurveLoadError(f"cannot open NATS-Bench directory {nats_dir}: {exc}") from None


def read_nats_epochs(api, index: int, dataset: str, *, epochs: int, hp: str = NATS_TRUTH_HP,
                     is_random: bool | int = False) -> List[dict]:
    """The per-epoch numbers of one NATS-Bench run: ``get_more_info(index, dataset, iepoch=e, hp=hp,
    is_random=is_random)`` for e = 0..epochs-1 (epoch e+1), the mean over seeds (``is_random=False``) or one seed's.
    The one reader of NATS-Bench curves (the rank study here, the curve-store export in ``nb201.curves_export``)."""
    return [api.get_more_info(index, dataset, iepoch=e, hp=hp, is_random=is_random) for e in range(epochs)]


def read_nats_final(api, index: int, dataset: str, *, hp: str = NATS_TRUTH_HP, is_random: bool | int = False) -> dict:
    """The numbers of one NATS-Bench run after its last epoch (``get_more_info(..., iepoch=None)``)."""
    return api.get_more_info(index, dataset, iepoch=None, hp=hp, is_random=is_random)


def _nats_curve(api, index: int, dataset: str, hp: str, epochs: int, seed: Optional[int]) -> dict:
    """Per-epoch train loss (and validation loss/accuracy where present at every epoch) of one architecture."""
    infos = read_nats_epochs(api, index, dataset, epochs=epochs, hp=hp, is_random=False if seed is None else int(seed))
    curve = {"train_losses": [info["train-loss"] for info in infos]}
    for key, name in (("valid-loss", "valid_losses"), ("valid-accuracy", "valid_accs")):
        values = [info.get(key) for info in infos]
        curve[name] = values if all(v is not None for v in values) else None
    return curve


def _nats_truth(api, index: int, dataset: str) -> Optional[float]:
    """The 200-epoch test accuracy of ``dataset``, averaged over seeds (None when absent)."""
    return read_nats_final(api, index, dataset).get("test-accuracy")


def _forget(api, index: int) -> None:
    """Drop one architecture's loaded record so memory stays flat over all 15,625 (fast mode reloads on demand)."""
    loaded = getattr(api, "arch2infos_dict", None)
    if isinstance(loaded, dict):
        loaded.pop(index, None)


def load_curves_nats(nats_dir, dataset: str = "cifar10-valid", hp: str = "200",
                     indices: Optional[Iterable[int]] = None, truth_dataset: Optional[str] = None,
                     seed: Optional[int] = None) -> CurveSet:
    """Read learning curves from a NATS-Bench topology directory (fast mode, via ``nats_bench``).

    Curves: per-epoch ``train-loss`` (and ``valid-loss``/``valid-accuracy`` where present at every epoch) of
    ``dataset`` at ``hp`` ('12' or '200' epochs, all read), averaged over seeds unless ``seed`` picks one.
    Ground truth: the 200-epoch ``test-accuracy`` of ``truth_dataset`` (default: ``dataset``) averaged over seeds.
    ``indices`` defaults to every architecture with a record file in the directory.
    """
    if dataset not in NATS_DATASETS:
        raise CurveLoadError(f"unknown dataset '{dataset}': choose one of {', '.join(NATS_DATASETS)}")
    truth_dataset = truth_dataset or dataset
    if truth_dataset not in NATS_DATASETS:
        raise CurveLoadError(f"unknown truth dataset '{truth_dataset}': choose one of {', '.join(NATS_DATASETS)}")
    hp = str(hp)
    if hp not in NATS_HPS:
        raise CurveLoadError(f"unknown hp '{hp}': choose one of {', '.join(NATS_HPS)}")
    nats_dir = Path(nats_dir)
    api = _open_nats(nats_dir)
    epochs = int(hp)
    available = set(nats_record_indices(nats_dir))
    wanted = sorted(available) if indices is None else list(indices)
    curves_of = "mean over seeds" if seed is None else f"seed {seed}"
    curve_set = CurveSet(source=f"NATS-Bench tss {nats_dir} ({dataset} curves, hp={hp}, {curves_of})",
                         truth=f"{truth_dataset} test-accuracy after 200 epochs (hp=200), mean over seeds")
    for index in wanted:
        if not 0 <= index < len(api):
            curve_set.missing.append(MissingArchitecture(str(index), f"index outside 0..{len(api) - 1}"))
            continue
        if index not in available:
            curve_set.missing.append(MissingArchitecture(str(index), "no record file in the directory"))
            continue
        try:
            curve = _nats_curve(api, index, dataset, hp, epochs, seed)
            truth = _nats_truth(api, index, truth_dataset)
        except (AssertionError, KeyError, ValueError, OSError, EOFError) as exc:
            curve_set.missing.append(MissingArchitecture(str(index), f"cannot read its record: {exc}"))
            continue
        finally:
            _forget(api, index)
        _add(curve_set, str(index), truth, **curve)
    return curve_set


def parse_indices(text: str) -> List[int]:
    """Parse an index list like ``"0,11,100-104"`` (ranges inclusive) into a list of ints."""
    indices: List[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                if high < low:
                    raise ValueError
                indices.extend(range(low, high + 1))
            else:
                indices.append(int(part))
        except ValueError:
            raise CurveLoadError(f"bad index or range '{part}' in '{text}'") from None
    if not indices:
        raise CurveLoadError(f"no indices in '{text}'")
    return indices


# ----------------------------------------------------------------------------------------------------------------
# the study
# ----------------------------------------------------------------------------------------------------------------
def run_rank_study(curve_set: CurveSet, estimators: Sequence[Estimator], max_epochs: Optional[int] = None,
                   overfit_patience: int = 3, settings: Optional[dict] = None,
                   baselines: Optional[Dict[str, Dict[str, float]]] = None) -> RankStudy:
    """Spearman correlation of every estimator with the final test accuracy for budgets T = 1..T_max.

    T_max = ``max_epochs``, or the shortest curve when not given; curves shorter than ``max_epochs`` are moved to
    ``missing``. An estimator whose data (e.g. validation losses) some architecture lacks is skipped, with the reason.
    Algorithm 1's T_eff is reported when every curve has validation losses; it uses the whole curves as loaded
    (not cut at T_max), since the algorithm needs fully trained curves.

    ``baselines`` (name -> {architecture id: higher-is-better score}, e.g. the cell's size) adds each baseline's ρ;
    with ``Params`` and ``convs`` among them, every estimator's ρ at T_max with Params held fixed (``partial``) and
    within groups of equal conv count (``grouped``): what it says beyond the cell's size.
    """
    records = list(curve_set.records)
    missing = list(curve_set.missing)
    if max_epochs is not None:
        if int(max_epochs) < 1:
            raise CurveLoadError(f"max_epochs must be >= 1, got {max_epochs}")
        short = [r for r in records if r.curve.num_epochs < max_epochs]
        missing += [MissingArchitecture(r.id, f"curve has {r.curve.num_epochs} epochs < T_max={max_epochs}")
                    for r in short]
        records = [r for r in records if r.curve.num_epochs >= max_epochs]
    if len(records) < 2:
        reasons = "; ".join(f"{m.id}: {m.reason}" for m in missing[:3]) + ("; ..." if len(missing) > 3 else "")
        raise CurveLoadError(f"need at least 2 architectures with complete curves, got {len(records)} from "
                             f"{curve_set.source}" + (f" ({len(missing)} left out: {reasons})" if missing else ""))
    t_max = int(max_epochs) if max_epochs is not None else min(r.curve.num_epochs for r in records)
    budgets = list(range(1, t_max + 1))
    usable, skipped = [], {}
    for est in estimators:
        lacking = sum(not est.available(r.curve) for r in records)
        if lacking:
            skipped[est.name] = f"needs {est.requires}, which {lacking} of {len(records)} architectures lack"
        else:
            usable.append(est)
    curves = [r.curve for r in records]
    correlations = rank_correlations(curves, [r.final_test_acc for r in records], usable, budgets)
    t_eff = None
    if all(c.valid_losses is not None for c in curves):
        t_eff = effective_training_budget(curves, lambda c: overfit_epoch_valid_loss(c, overfit_patience))
    study = RankStudy(curve_set.source, budgets, correlations, skipped, [r.id for r in records], missing, t_eff,
                      dict(settings or {}), curve_set.truth)
    if baselines:
        _add_baselines(study, records, usable, baselines, t_max)
    return study


def _add_baselines(study: RankStudy, records: List[ArchitectureRecord], estimators: Sequence[Estimator],
                   baselines: Dict[str, Dict[str, float]], t_max: int) -> None:
    truths = [r.final_test_acc for r in records]
    for name, values in baselines.items():
        if name != "convs" and all(r.id in values for r in records):
            study.baselines[name] = spearman([values[r.id] for r in records], truths)
    if not all(r.id in baselines.get(key, {}) for key in ("Params", "convs") for r in records):
        return
    sizes = [baselines["Params"][r.id] for r in records]
    groups = [baselines["convs"][r.id] for r in records]
    for est in estimators:
        if t_max < est.min_budget:
            continue
        scores = [est.score(r.curve, t_max) for r in records]
        study.beyond_size[est.name] = {"partial": partial_spearman(scores, truths, sizes),
                                       "grouped": grouped_spearman(scores, truths, groups)}


# ----------------------------------------------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------------------------------------------
def _cell(value: float) -> str:
    """Format a correlation for the table (NaN as 'nan')."""
    return "nan" if math.isnan(value) else f"{value:+.3f}"


def format_rank_table(study: RankStudy, every: int = 1) -> str:
    """A plain-text report: header, one row per budget T (every ``every``-th plus the last), skipped/missing notes."""
    names = list(study.correlations)
    settings = ", ".join(f"{k}={v}" for k, v in study.settings.items())
    lines = [f"source: {study.source}",
             f"architectures: {len(study.architectures)} used, {len(study.missing)} missing"
             + (f"; settings: {settings}" if settings else ""),
             f"Spearman rank correlation with the ground truth, {study.truth} (higher = better estimator)"]
    width = max([8] + [len(n) for n in names])
    lines.append("T".rjust(4) + "".join(n.rjust(width + 2) for n in names))
    for i, T in enumerate(study.budgets):
        if i % max(1, every) and T != study.budgets[-1]:
            continue
        lines.append(str(T).rjust(4) + "".join(_cell(study.correlations[n][i]).rjust(width + 2) for n in names))
    for name, reason in study.skipped.items():
        lines.append(f"skipped {name}: {reason}")
    if study.effective_budget is not None:
        lines.append(f"Algorithm 1 effective budget T_eff = {study.effective_budget} epochs "
                     f"(0.9 x earliest overfitting epoch of these {len(study.architectures)} whole curves)")
    if study.baselines:
        lines.append("baselines, no training (Spearman ρ with the same truth): "
                     + ", ".join(f"{name} {_cell(rho)}" for name, rho in study.baselines.items()))
    if study.beyond_size:
        lines.append(f"beyond the cell's size at T = {study.budgets[-1]} (ρ|size: partial ρ with Params held fixed; "
                     f"ρ|convs: ρ within cells of equal conv count): "
                     + ", ".join(f"{name} {_cell(v['partial'])} / {_cell(v['grouped'])}"
                                 for name, v in study.beyond_size.items()))
    lines.append(f"missing architectures: {len(study.missing)}")
    lines += [f"  {m.id}: {m.reason}" for m in study.missing]
    return "\n".join(lines)


def study_to_dict(study: RankStudy) -> dict:
    """A JSON-ready dict of the study (NaN correlations become null)."""
    def clean(values):
        return [None if math.isnan(v) else v for v in values]

    return {
        "source": study.source,
        "truth": study.truth,
        "settings": study.settings,
        "budgets": study.budgets,
        "spearman": {name: clean(values) for name, values in study.correlations.items()},
        "skipped": study.skipped,
        "architectures": study.architectures,
        "num_architectures": len(study.architectures),
        "missing": [{"id": m.id, "reason": m.reason} for m in study.missing],
        "num_missing": len(study.missing),
        "effective_budget": study.effective_budget,
        "baselines": {name: None if math.isnan(v) else v for name, v in study.baselines.items()},
        "beyond_size": {name: {k: None if math.isnan(x) else x for k, x in v.items()}
                        for name, v in study.beyond_size.items()},
    }


def plot_rank_study(study: RankStudy, path, title: Optional[str] = None) -> None:
    """Plot Spearman correlation vs budget T, one line per estimator (paper Figure 1 style) to ``path``."""
    try:
        import matplotlib  # noqa: PLC0415 - optional, imported only for --plot

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise RuntimeError("plotting needs matplotlib, which is not installed (pip install matplotlib)") from None
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for name, values in study.correlations.items():
        ax.plot(study.budgets, values, label=name, marker="o" if len(study.budgets) <= 20 else None)
    if study.effective_budget is not None:
        ax.axvline(study.effective_budget, color="grey", linestyle=":", label="T_eff (Alg. 1)")
    ax.set_xlabel("training epochs T")
    ax.set_ylabel(f"Spearman ρ with {study.truth}" if len(study.truth) <= 45 else "Spearman rank correlation")
    where = ", ".join(f"{k}={study.settings[k]}" for k in ("dataset", "hp", "seed", "truth") if k in study.settings)
    ax.set_title(title or f"{len(study.architectures)} architectures" + (f"\n{where}" if where else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
