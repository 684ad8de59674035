"""Training-speed performance estimators (Ru et al., "Speedy Performance Estimation for NAS", NeurIPS 2021).

All estimators are computed from a learning curve of an architecture trained for ``T`` epochs (epochs are 1-based
in the formulas, 0-based in the Python sequences):

* ``TSE``     = sum_{t=1..T} L_t, where L_t is the mean minibatch training loss of epoch t.
* ``TSE-E``   = the same sum over the last E epochs only (E may be fractional, see :func:`tse_e`).
* ``TSE-EMA`` = sum_{t=1..T} gamma^(T-t) L_t (gamma = 0.999 by default, as in the paper).
* baselines: ``SoVL`` (sum of validation losses over epochs 1..T), ``TLmini`` (the last minibatch training loss of
  epoch T) and ``VAccES`` (validation accuracy at epoch T, i.e. early stopping).

Sign convention: the loss-based estimators (TSE, TSE-E, TSE-EMA, SoVL, TLmini) are *lower is better* - a lower value
predicts a higher final accuracy. VAccES is *higher is better*. :func:`to_score` and :meth:`Estimator.score` turn
any estimator value into a score where higher = better (losses are negated), so ranking code can treat every
estimator the same way.

Also here: an incremental TSE-EMA tracker for training loops (:class:`TSEEMATracker`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

DEFAULT_GAMMA = 0.999
DEFAULT_E = 1.0
_INTEGER_TOLERANCE = 1e-9


# ----------------------------------------------------------------------------------------------------------------
# input validation
# ----------------------------------------------------------------------------------------------------------------
def _as_float_tuple(values: Sequence[float], what: str) -> tuple:
    """Convert ``values`` to a non-empty tuple of finite floats, or raise ValueError naming ``what``."""
    if values is None:
        raise ValueError(f"{what} is missing (got None)")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a sequence of numbers: {exc}") from None
    if not out:
        raise ValueError(f"{what} is empty: need at least one epoch")
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{what} has non-finite values at positions {bad[:5]}")
    return out


def _resolve_budget(T: Optional[int], length: int, what: str) -> int:
    """Return the budget T (default: the whole curve) after checking 1 <= T <= length."""
    if T is None:
        return length
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
        raise ValueError(f"T must be an integer number of epochs, got {T!r}")
    T = int(T)
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if T > length:
        raise ValueError(f"T={T} is larger than {what}, which has only {length} epochs")
    return T


def _check_gamma(gamma: float) -> float:
    """Return gamma as a float after checking 0 <= gamma <= 1."""
    gamma = float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    return gamma


def _split_epochs(E: float) -> tuple:
    """Split E into (whole epochs, fractional part), snapping values within 1e-9 of an integer."""
    E = float(E)
    if not math.isfinite(E) or E <= 0:
        raise ValueError(f"E must be a positive number of epochs, got {E}")
    nearest = round(E)
    if abs(E - nearest) < _INTEGER_TOLERANCE:
        return int(nearest), 0.0
    return int(math.floor(E)), E - math.floor(E)


def _minibatch_tuple(minibatch_losses: Sequence[Sequence[float]]) -> tuple:
    """Validate per-epoch lists of minibatch losses (each non-empty and finite)."""
    if minibatch_losses is None:
        raise ValueError("minibatch_losses is missing (got None)")
    epochs = tuple(_as_float_tuple(batch, f"minibatch_losses[{i}]") for i, batch in enumerate(minibatch_losses))
    if not epochs:
        raise ValueError("minibatch_losses is empty: need at least one epoch")
    return epochs


# ----------------------------------------------------------------------------------------------------------------
# the learning curve of one architecture
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LearningCurve:
    """Per-epoch learning curve of one architecture (index 0 = epoch 1).

    ``train_losses`` are the mean minibatch training losses of each epoch. Optional: ``valid_losses`` and
    ``valid_accs`` per epoch, and ``minibatch_losses`` (one sequence of minibatch losses per epoch), which the
    fractional TSE-E and TLmini need. Every given sequence must have the same number of epochs.
    """

    train_losses: tuple
    valid_losses: Optional[tuple] = None
    valid_accs: Optional[tuple] = None
    minibatch_losses: Optional[tuple] = None

    def __post_init__(self):
        train = _as_float_tuple(self.train_losses, "train_losses")
        object.__setattr__(self, "train_losses", train)
        for name in ("valid_losses", "valid_accs"):
            values = getattr(self, name)
            if values is not None:
                values = _as_float_tuple(values, name)
                if len(values) != len(train):
                    raise ValueError(f"{name} has {len(values)} epochs but train_losses has {len(train)}")
                object.__setattr__(self, name, values)
        if self.minibatch_losses is not None:
            batches = _minibatch_tuple(self.minibatch_losses)
            if len(batches) != len(train):
                raise ValueError(f"minibatch_losses has {len(batches)} epochs but train_losses has {len(train)}")
            object.__setattr__(self, "minibatch_losses", batches)

    @classmethod
    def from_minibatch_losses(cls, minibatch_losses, valid_losses=None, valid_accs=None) -> LearningCurve:
        """Build a curve whose epoch means are the plain means of the given per-epoch minibatch losses."""
        batches = _minibatch_tuple(minibatch_losses)
        means = tuple(sum(b) / len(b) for b in batches)
        return cls(means, valid_losses=valid_losses, valid_accs=valid_accs, minibatch_losses=batches)

    @property
    def num_epochs(self) -> int:
        """Number of epochs in the curve."""
        return len(self.train_losses)


# ----------------------------------------------------------------------------------------------------------------
# the estimators, on plain sequences (lower is better unless stated)
# ----------------------------------------------------------------------------------------------------------------
def tse(train_losses: Sequence[float], T: Optional[int] = None) -> float:
    """TSE = sum of the epoch-mean training losses of epochs 1..T (default T: all epochs). Lower is better."""
    losses = _as_float_tuple(train_losses, "train_losses")
    T = _resolve_budget(T, len(losses), "train_losses")
    return float(sum(losses[:T]))


def tse_e(train_losses: Sequence[float], E: float = DEFAULT_E, T: Optional[int] = None,
          minibatch_losses: Optional[Sequence[Sequence[float]]] = None) -> float:
    """TSE-E = sum of the epoch-mean training losses of the last E epochs before T (epochs T-E+1..T). Lower is better.

    E may be fractional: E = n + f (0 < f < 1) adds, to the n whole epochs T-n+1..T, the fraction f of epoch T-n
    counted as (sum of its last round(f*B) minibatch losses) / B, B being that epoch's number of minibatches (at
    least one minibatch is used). That is the paper's per-epoch normalisation 1/B applied to the last E*B minibatches,
    so it is continuous in E. A fractional E needs ``minibatch_losses``; whole epochs always use ``train_losses``.
    """
    losses = _as_float_tuple(train_losses, "train_losses")
    T = _resolve_budget(T, len(losses), "train_losses")
    whole, frac = _split_epochs(E)
    if whole + (1 if frac > 0 else 0) > T:
        raise ValueError(f"E={E} needs more epochs than the budget T={T}")
    total = float(sum(losses[T - whole:T]))
    if frac > 0:
        if minibatch_losses is None:
            raise ValueError(f"fractional E={E} needs per-minibatch training losses; only epoch means were given")
        batches = _minibatch_tuple(minibatch_losses)
        if len(batches) < T:
            raise ValueError(f"T={T} is larger than minibatch_losses, which has only {len(batches)} epochs")
        partial = batches[T - whole - 1]
        count = max(1, int(round(frac * len(partial))))
        total += sum(partial[-count:]) / len(partial)
    return total


def tse_ema(train_losses: Sequence[float], gamma: float = DEFAULT_GAMMA, T: Optional[int] = None) -> float:
    """TSE-EMA = sum_{t=1..T} gamma^(T-t) * (mean training loss of epoch t). gamma=1 gives TSE. Lower is better."""
    losses = _as_float_tuple(train_losses, "train_losses")
    T = _resolve_budget(T, len(losses), "train_losses")
    gamma = _check_gamma(gamma)
    return float(sum(gamma ** (T - t) * losses[t - 1] for t in range(1, T + 1)))


def tse_ema_code(train_losses: Sequence[float], T: Optional[int] = None, mu: float = 0.9) -> float:
    """TSE-EMA as the TSE code's query-based search computes it (rubinxin/TSE query_based_nas/nas201func.py):
    ema_1 = L_1, ema_t = (1 − mu)·ema_(t−1) + mu·L_t, mu = 0.9; returns ema_T. It equals
    mu·tse_ema(γ = 1 − mu) but for L_1's weight ((1 − mu)^(T−1) instead of mu·(1 − mu)^(T−1)). Lower is better."""
    losses = _as_float_tuple(train_losses, "train_losses")
    T = _resolve_budget(T, len(losses), "train_losses")
    ema = losses[0]
    for loss in losses[1:T]:
        ema = (1 - mu) * ema + mu * loss
    return float(ema)


def sovl(valid_losses: Sequence[float], T: Optional[int] = None) -> float:
    """SoVL baseline = sum of the validation losses of epochs 1..T. Lower is better."""
    losses = _as_float_tuple(valid_losses, "valid_losses")
    T = _resolve_budget(T, len(losses), "valid_losses")
    return float(sum(losses[:T]))


def tl_mini(minibatch_losses: Sequence[Sequence[float]], T: Optional[int] = None) -> float:
    """TLmini baseline = the training loss of the last minibatch of epoch T. Lower is better."""
    batches = _minibatch_tuple(minibatch_losses)
    T = _resolve_budget(T, len(batches), "minibatch_losses")
    return float(batches[T - 1][-1])


def vacc_es(valid_accs: Sequence[float], T: Optional[int] = None) -> float:
    """VAccES baseline = the validation accuracy at epoch T (early stopping). Higher is better."""
    accs = _as_float_tuple(valid_accs, "valid_accs")
    T = _resolve_budget(T, len(accs), "valid_accs")
    return float(accs[T - 1])


def to_score(value: float, higher_is_better: bool) -> float:
    """Turn an estimator value into a score where higher = better (lower-is-better values are negated)."""
    return float(value) if higher_is_better else -float(value)


# ----------------------------------------------------------------------------------------------------------------
# incremental TSE-EMA for a training loop
# ----------------------------------------------------------------------------------------------------------------
class TSEEMATracker:
    """Incremental TSE-EMA: call :meth:`update` once per epoch with that epoch's mean minibatch training loss.

    After T updates, ``value`` equals ``tse_ema(losses[:T], gamma)`` (value_T = gamma * value_{T-1} + L_T).
    Lower is better; ``score`` is the negated value. ``state_dict``/``load_state_dict`` support checkpoints.
    """

    def __init__(self, gamma: float = DEFAULT_GAMMA):
        self.gamma = _check_gamma(gamma)
        self._value = 0.0
        self._epochs = 0

    def update(self, epoch_mean_loss: float) -> float:
        """Add one epoch's mean training loss; return the TSE-EMA over all epochs so far."""
        loss = float(epoch_mean_loss)
        if not math.isfinite(loss):
            raise ValueError(f"epoch_mean_loss must be finite, got {loss}")
        self._value = self.gamma * self._value + loss
        self._epochs += 1
        return self._value

    @property
    def value(self) -> float:
        """The current TSE-EMA (0.0 before the first update)."""
        return self._value

    @property
    def score(self) -> float:
        """The current TSE-EMA as a higher-is-better score (its negation)."""
        return -self._value

    @property
    def epochs(self) -> int:
        """How many epochs have been added."""
        return self._epochs

    def state_dict(self) -> Dict[str, float]:
        """Plain-dict state for checkpoints."""
        return {"gamma": self.gamma, "value": self._value, "epochs": self._epochs}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        """Restore the state written by :meth:`state_dict`."""
        self.gamma = _check_gamma(state["gamma"])
        self._value = float(state["value"])
        self._epochs = int(state["epochs"])


# ----------------------------------------------------------------------------------------------------------------
# estimators on LearningCurve objects, with their sign convention
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimator:
    """A named estimator on :class:`LearningCurve` objects.

    ``compute(curve, T)`` returns the raw value; ``higher_is_better`` is its sign convention; ``requires`` names
    the optional curve field it needs (``None`` = train_losses only); ``min_budget`` is the smallest valid T.
    """

    name: str
    compute: Callable[[LearningCurve, int], float]
    higher_is_better: bool
    requires: Optional[str] = None
    min_budget: int = 1

    def available(self, curve: LearningCurve) -> bool:
        """Whether ``curve`` holds the data this estimator needs."""
        return self.requires is None or getattr(curve, self.requires) is not None

    def value(self, curve: LearningCurve, T: Optional[int] = None) -> float:
        """The raw estimator value at budget T (default: the whole curve)."""
        if not self.available(curve):
            raise ValueError(f"{self.name} needs {self.requires}, which this curve does not have")
        return self.compute(curve, T)

    def score(self, curve: LearningCurve, T: Optional[int] = None) -> float:
        """The estimator value at budget T as a higher-is-better score."""
        return to_score(self.value(curve, T), self.higher_is_better)


def default_estimators(gamma: float = DEFAULT_GAMMA, E: float = DEFAULT_E) -> List[Estimator]:
    """The paper's estimators and baselines: TSE, TSE-E (E), TSE-EMA (gamma), SoVL, TLmini, VAccES."""
    gamma = _check_gamma(gamma)
    whole, frac = _split_epochs(E)
    return [
        Estimator("TSE", lambda c, T: tse(c.train_losses, T), higher_is_better=False),
        Estimator("TSE-E", lambda c, T: tse_e(c.train_losses, E, T, c.minibatch_losses), higher_is_better=False,
                  requires="minibatch_losses" if frac > 0 else None, min_budget=whole + (1 if frac > 0 else 0)),
        Estimator("TSE-EMA", lambda c, T: tse_ema(c.train_losses, gamma, T), higher_is_better=False),
        Estimator("SoVL", lambda c, T: sovl(c.valid_losses, T), higher_is_better=False, requires="valid_losses"),
        Estimator("TLmini", lambda c, T: tl_mini(c.minibatch_losses, T), higher_is_better=False,
                  requires="minibatch_losses"),
        Estimator("VAccES", lambda c, T: vacc_es(c.valid_accs, T), higher_is_better=True, requires="valid_accs"),
    ]
