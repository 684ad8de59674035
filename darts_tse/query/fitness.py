"""The fitness of every architecture of a curve store, and what querying it costs on the simulated clock.

A query trains the cell for the epochs its fitness needs and scores it (higher is better), both looked up:

* ``tse-ema``: −TSE-EMA over epochs 1..T of the training loss, γ = 0.999 (``estimators.tse_ema``; Ru et al., eq. 4).
* ``tse-e``: −TSE-E, the training losses of the last E = 1 epochs before T (``estimators.tse_e``).
* ``val-acc``: the validation accuracy at epoch T (``estimators.vacc_es``) of one column per dataset, chosen on the
  mean over seeds: x-valid where the benchmark recorded it at every epoch 1..T (CIFAR-10), else ``valtest``
  (ori-test = x-valid ∪ x-test; NB201 evaluates x-valid only after the last of 200 epochs for CIFAR-100 and
  ImageNet16-120; the TSE code uses valtest there too). The label names valtest: ``Val Acc[valtest] (T=10)``.
* ``val-acc-final``: the NB201 valid accuracy after all 200 epochs (x-valid).

A row whose curves cannot give the fitness (NaN: a seed the benchmark lacks for that cell, a missing value) is left
out of the search space. The clock charges the benchmark's training time of those epochs: ``epoch_time`` summed over
epochs 1..T, or ``total_time`` (all 200 epochs) for ``val-acc-final``. Evaluation time is not charged (the TSE code
charges ``train-all-time`` too). The fitness and its cost come from the store's mean over seeds, or one seed's
curves (``--curve-seed``); the numbers a search is judged by (``test``, ``valid``) are always the mean over seeds.

A store of from-scratch training runs (``CurveStore.from_training_runs``) has no validation split: ``val-acc`` and
``val-acc-final`` are refused in one line; its clock is the runs' measured seconds, its truth their test accuracy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from darts_tse.estimators import to_score, tse_e, tse_ema, tse_ema_code, vacc_es
from darts_tse.nb201.curves import DatasetCurves

from .config import FINAL_EPOCHS, FITNESSES, QueryError


@dataclass(frozen=True)
class Evaluation:
    """Per store row: ``values`` (fitness, higher is better; NaN where the curves cannot give it) and ``costs``
    (simulated seconds of one query), plus the true NB201 ``test`` and ``valid`` numbers the run is judged by (200
    epochs, mean over seeds). ``note``: what a user should know about the fitness before reading its numbers."""

    fitness: str
    epochs: int
    label: str
    description: str
    values: np.ndarray
    costs: np.ndarray
    test: np.ndarray
    valid: np.ndarray
    note: str = ""


VALTEST = "valtest"
VALIDATION_FITNESSES = ("val-acc", "val-acc-final")  # a store without a validation split (training runs) refuses them


def fitness_label(fitness: str, epochs: int, split: str | None = None) -> str:
    """'TSE-EMA (T=10)', 'Val Acc (T=200)' (the paper's legend names); 'Val Acc[valtest] (T=10)' where Val Acc at T
    reads the valtest split."""
    return f"{FITNESSES[fitness]}{f'[{split}]' if split else ''} (T={epochs})"


def evaluate(curves: DatasetCurves, fitness: str, epochs: int, *, gamma: float, E: int, ema: str = "sum",
             charged: int | None = None) -> Evaluation:
    """The fitness and query cost of every row of ``curves`` (see the module docstring). ``ema="reference"``: TSE-EMA
    as the TSE code (``estimators.tse_ema_code``); ``charged``: the epochs the clock charges and Val Acc is read at
    (default T; the TSE code's T + 1)."""
    charged = epochs if charged is None else charged
    store = curves.store
    if fitness not in FITNESSES:
        raise QueryError(f"unknown fitness {fitness!r}; choose {', '.join(FITNESSES)}")
    if fitness in VALIDATION_FITNESSES and not store.has_validation:
        raise QueryError(f"curve store {store.path} has no validation split (it holds from-scratch training runs, "
                         f"which evaluate only their data's test split), and --fitness {fitness} reads one; use "
                         f"--fitness tse-ema or tse-e")
    if fitness != "val-acc-final" and max(epochs, charged) > curves.num_epochs:
        more = ("its training runs trained only that many" if store.from_training_runs
                else "export the store with more --curve-epochs")
        raise QueryError(f"T={epochs} epochs, but the curve store keeps {curves.num_epochs} epochs per curve; lower "
                         f"--budget-epochs ({more})")
    source = f"{store.curve_source(curves.dataset)}, {'mean over seeds' if curves.seed is None else f'seed {curves.seed}'}"
    mean = curves.store.curves(curves.dataset)  # the numbers a search is judged by
    rows = len(curves.store)
    split, note = None, ""
    if fitness in ("tse-ema", "tse-e"):
        loss = curves.train_loss[:, :epochs].astype(np.float64)
    if fitness == "tse-ema" and ema == "reference":
        values = _per_row(rows, lambda r: to_score(tse_ema_code(loss[r]), False))
        description = (f"-TSE-EMA as the TSE code (ema = 0.1 ema + 0.9 L_t) of train-loss over epochs 1..{epochs} "
                       f"({source})")
    elif fitness == "tse-ema":
        values = _per_row(rows, lambda r: to_score(tse_ema(loss[r], gamma), False))
        description = f"-TSE-EMA (gamma={gamma}) of train-loss over epochs 1..{epochs} ({source})"
    elif fitness == "tse-e":
        values = _per_row(rows, lambda r: to_score(tse_e(loss[r], E), False))
        description = f"-TSE-E (E={E}) of train-loss, epochs {epochs - E + 1}..{epochs} ({source})"
    elif fitness == "val-acc":
        column, name = _validation_column(mean, charged)
        split = VALTEST if column == "valtest_acc" else None
        accuracy = curves.column(column)[:, :charged].astype(np.float64)
        values = _per_row(rows, lambda r: vacc_es(accuracy[r]))
        description = f"{name} at epoch {charged} ({source})"
        if split:
            note = (f"Val Acc at T={epochs} on {curves.dataset} reads valtest (ori-test = x-valid + x-test: NB201 "
                    f"evaluates x-valid only after epoch {FINAL_EPOCHS}), as the TSE code does; it contains the "
                    f"x-test half whose accuracy the search is judged by (--fitness val-acc-final uses x-valid)")
    else:
        values = curves.final_valid.astype(np.float64)
        description = f"NB201 valid accuracy (x-valid) after {FINAL_EPOCHS} epochs ({source})"
    if fitness == "val-acc-final":
        costs = curves.total_time.astype(np.float64)
    else:
        costs = curves.epoch_time[:, :charged].astype(np.float64).sum(axis=1)
    if charged != epochs:
        description += f"; the clock charges {charged} epochs (the TSE code's epoch index {epochs})"
    return Evaluation(fitness=fitness, epochs=epochs, label=fitness_label(fitness, epochs, split),
                      description=description, values=values, costs=costs, test=mean.final_test,
                      valid=mean.final_valid, note=note)


def _validation_column(mean: DatasetCurves, epochs: int) -> tuple[str, str]:
    """The validation column of a dataset, chosen on the mean over seeds: x-valid where the benchmark recorded it at
    epochs 1..T (for any row: rows without it are left out), else valtest; and how to name it."""
    for column, name in (("valid_acc", "valid-accuracy (x-valid)"),
                         ("valtest_acc", "valtest-accuracy (ori-test = x-valid + x-test, as the TSE code)")):
        if np.isfinite(mean.column(column)[:, :epochs]).all(axis=1).any():
            return column, name
    raise QueryError(f"the curve store has no validation accuracy at epochs 1..{epochs} of {mean.dataset} for any "
                     f"architecture; use another fitness")


def _per_row(rows: int, score) -> np.ndarray:
    """``score(row)`` for every row of the store, NaN where the estimator rejects the curve (e.g. a missing value)."""
    def safe(row: int) -> float:
        try:
            return float(score(row))
        except ValueError:
            return math.nan

    return np.array([safe(row) for row in range(rows)], dtype=np.float64)


def with_fallback(seeded: Evaluation, mean: Evaluation) -> Evaluation:
    """`seeded` with its rows that cannot be scored (NaN fitness or cost: a cell lacking that seed's curves) scored and
    charged as `mean` (the mean over seeds), as the TSE code's RE falls back to ``is_random=False``."""
    lacking = ~(np.isfinite(seeded.values) & np.isfinite(seeded.costs))
    values = np.where(lacking, mean.values, seeded.values)
    costs = np.where(lacking, mean.costs, seeded.costs)
    description = f"{seeded.description}; {int(lacking.sum())} cells lacking that seed: {mean.description}"
    return Evaluation(fitness=seeded.fitness, epochs=seeded.epochs, label=seeded.label, description=description,
                      values=values, costs=costs, test=seeded.test, valid=seeded.valid, note=seeded.note)
