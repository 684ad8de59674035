"""Tests for darts_tse.estimators: formulas, sign convention, Algorithm 1, Spearman."""
import math

import numpy as np
import pytest

from darts_tse.estimators import (
    LearningCurve,
    TSEEMATracker,
    average_ranks,
    default_estimators,
    effective_training_budget,
    kendall_tau,
    overfit_epoch_valid_loss,
    overfitting_epochs,
    rank_correlations,
    sovl,
    spearman,
    tl_mini,
    to_score,
    tse,
    tse_e,
    tse_ema,
    vacc_es,
)

LOSSES = [2.0, 1.5, 1.0, 0.8, 0.7]


def exp_curve(rate, epochs=10, start=2.3):
    """An analytic training curve L_t = start * exp(-rate * t): a larger rate trains faster."""
    return [start * math.exp(-rate * t) for t in range(1, epochs + 1)]


# ---------------------------------------------------------------------------- formulas
def test_tse_sums_epoch_means():
    assert tse(LOSSES) == pytest.approx(6.0)
    assert tse(LOSSES, T=2) == pytest.approx(3.5)


@pytest.mark.parametrize("T", [1, 3, 5])
def test_tse_e_with_e_equal_t_is_tse(T):
    assert tse_e(LOSSES, E=T, T=T) == pytest.approx(tse(LOSSES, T=T))


def test_tse_e_sums_last_e_epochs():
    assert tse_e(LOSSES, E=2, T=4) == pytest.approx(1.0 + 0.8)
    assert tse_e(LOSSES, E=1) == pytest.approx(0.7)


@pytest.mark.parametrize("T", [1, 2, 5])
def test_tse_ema_with_gamma_one_is_tse(T):
    assert tse_ema(LOSSES, gamma=1.0, T=T) == pytest.approx(tse(LOSSES, T=T))


def test_tse_ema_hand_computed():
    # T=3, gamma=0.5: 0.25*2.0 + 0.5*1.5 + 1.0*1.0
    assert tse_ema(LOSSES, gamma=0.5, T=3) == pytest.approx(0.5 + 0.75 + 1.0)
    assert tse_ema(LOSSES, gamma=0.0, T=4) == pytest.approx(0.8)


def test_tse_ema_default_gamma_is_0999():
    expected = sum(0.999 ** (5 - t) * LOSSES[t - 1] for t in range(1, 6))
    assert tse_ema(LOSSES) == pytest.approx(expected)


def test_fractional_e_uses_last_minibatches():
    batches = [[4.0, 4.0, 4.0, 4.0], [3.0, 2.0, 1.0, 0.0]]
    curve = LearningCurve.from_minibatch_losses(batches)
    assert curve.train_losses == pytest.approx((4.0, 1.5))
    # E=0.5: the last 2 of 4 minibatches of epoch 2, normalised by B=4
    assert tse_e(curve.train_losses, E=0.5, minibatch_losses=batches) == pytest.approx((1.0 + 0.0) / 4)
    # E=1.5: all of epoch 2 plus the last half of epoch 1
    assert tse_e(curve.train_losses, E=1.5, minibatch_losses=batches) == pytest.approx(1.5 + 8.0 / 4)
    # E=0.25 at T=1: the last minibatch of epoch 1
    assert tse_e(curve.train_losses, E=0.25, T=1, minibatch_losses=batches) == pytest.approx(1.0)


def test_fractional_e_is_continuous_at_whole_epochs():
    batches = [[4.0, 3.0, 2.0, 1.0], [3.0, 2.0, 1.0, 0.5]]
    means = [2.5, 1.625]
    near = tse_e(means, E=1.999, minibatch_losses=batches)
    assert near == pytest.approx(tse_e(means, E=2), abs=1e-12)


def test_fractional_e_without_minibatches_is_a_clear_error():
    with pytest.raises(ValueError, match="fractional E=0.5 needs per-minibatch"):
        tse_e(LOSSES, E=0.5)


def test_baselines():
    assert sovl([1.0, 2.0, 3.0], T=2) == pytest.approx(3.0)
    assert tl_mini([[5.0, 4.0], [3.0, 2.5]], T=1) == pytest.approx(4.0)
    assert tl_mini([[5.0, 4.0], [3.0, 2.5]]) == pytest.approx(2.5)
    assert vacc_es([10.0, 40.0, 35.0], T=2) == pytest.approx(40.0)
    assert vacc_es([10.0, 40.0, 35.0], T=3) == pytest.approx(35.0)  # the accuracy at T, not the best so far


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, message", [
    (lambda: tse(LOSSES, T=6), "T=6 is larger than train_losses, which has only 5 epochs"),
    (lambda: tse(LOSSES, T=0), "T must be >= 1"),
    (lambda: tse(LOSSES, T=2.5), "T must be an integer"),
    (lambda: tse([]), "train_losses is empty"),
    (lambda: tse([1.0, float("nan")]), "non-finite"),
    (lambda: tse_e(LOSSES, E=0), "E must be a positive number"),
    (lambda: tse_e(LOSSES, E=-1), "E must be a positive number"),
    (lambda: tse_e(LOSSES, E=3, T=2), "E=3 needs more epochs than the budget T=2"),
    (lambda: tse_ema(LOSSES, gamma=1.5), "gamma must be in"),
    (lambda: sovl([], T=1), "valid_losses is empty"),
    (lambda: vacc_es([50.0], T=2), "larger than valid_accs"),
    (lambda: tl_mini([[1.0], []]), r"minibatch_losses\[1\] is empty"),
    (lambda: LearningCurve([1.0, 2.0], valid_losses=[1.0]), "valid_losses has 1 epochs but train_losses has 2"),
    (lambda: LearningCurve([]), "train_losses is empty"),
])
def test_invalid_inputs_raise_clear_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------- sign convention and ranking
def test_scores_are_higher_is_better():
    assert to_score(2.0, higher_is_better=False) == -2.0
    assert to_score(2.0, higher_is_better=True) == 2.0
    fast = LearningCurve(exp_curve(0.5), valid_losses=exp_curve(0.4), valid_accs=[90.0] * 10,
                         minibatch_losses=[[v] for v in exp_curve(0.5)])
    slow = LearningCurve(exp_curve(0.1), valid_losses=exp_curve(0.05), valid_accs=[60.0] * 10,
                         minibatch_losses=[[v] for v in exp_curve(0.1)])
    for est in default_estimators():
        assert est.score(fast, 5) > est.score(slow, 5), est.name
    tse_est = default_estimators()[0]
    assert tse_est.name == "TSE" and not tse_est.higher_is_better
    assert tse_est.value(fast, 5) < tse_est.value(slow, 5)


def test_analytic_curves_rank_perfectly():
    rates = [0.05, 0.1, 0.2, 0.3, 0.5]
    curves = [LearningCurve(exp_curve(r), valid_losses=exp_curve(r * 0.8), valid_accs=[50 + 80 * r] * 10)
              for r in rates]
    final_acc = [60.0, 70.0, 80.0, 85.0, 90.0]  # faster training -> higher final accuracy
    estimators = [e for e in default_estimators() if e.name != "TLmini"]
    rho = rank_correlations(curves, final_acc, estimators, budgets=[1, 5, 10])
    assert set(rho) == {"TSE", "TSE-E", "TSE-EMA", "SoVL", "VAccES"}
    for name, values in rho.items():
        assert values == pytest.approx([1.0, 1.0, 1.0]), name
    reversed_rho = rank_correlations(curves, final_acc[::-1], estimators[:1], budgets=[10])
    assert reversed_rho["TSE"] == pytest.approx([-1.0])


def test_tse_and_last_epoch_loss_disagree_on_crossing_curves():
    # A learns fast then plateaus; B starts slow but ends lower: TSE prefers A, TSE-E(E=1) prefers B.
    a = LearningCurve([1.0, 0.6, 0.55, 0.5])
    b = LearningCurve([2.0, 1.2, 0.6, 0.4])
    est = {e.name: e for e in default_estimators()}
    assert est["TSE"].score(a, 4) > est["TSE"].score(b, 4)
    assert est["TSE-E"].score(a, 4) < est["TSE-E"].score(b, 4)


def test_rank_correlations_nan_below_min_budget():
    curves = [LearningCurve([3.0, 2.0, 1.0]), LearningCurve([3.0, 2.5, 2.0])]
    tse_e2 = default_estimators(E=2)[1]
    rho = rank_correlations(curves, [2.0, 1.0], [tse_e2], budgets=[1, 2, 3])
    assert math.isnan(rho["TSE-E"][0])
    assert rho["TSE-E"][1:] == pytest.approx([1.0, 1.0])


def test_estimator_needing_missing_data_raises():
    sovl_est = default_estimators()[3]
    assert sovl_est.name == "SoVL" and not sovl_est.available(LearningCurve([1.0]))
    with pytest.raises(ValueError, match="SoVL needs valid_losses"):
        sovl_est.value(LearningCurve([1.0]))


def test_fractional_e_estimator_requires_minibatches():
    est = default_estimators(E=0.5)[1]
    assert est.requires == "minibatch_losses" and est.min_budget == 1
    curve = LearningCurve.from_minibatch_losses([[2.0, 1.0]])
    assert est.value(curve, 1) == pytest.approx(0.5)


# ---------------------------------------------------------------------------- incremental TSE-EMA
def test_tracker_matches_batch_formula():
    tracker = TSEEMATracker(gamma=0.9)
    values = [tracker.update(loss) for loss in LOSSES]
    assert values == pytest.approx([tse_ema(LOSSES, gamma=0.9, T=T) for T in range(1, 6)])
    assert tracker.epochs == 5 and tracker.score == pytest.approx(-values[-1])


def test_tracker_state_round_trip_and_validation():
    tracker = TSEEMATracker()
    tracker.update(2.0)
    resumed = TSEEMATracker(gamma=0.5)
    resumed.load_state_dict(tracker.state_dict())
    assert resumed.update(1.0) == pytest.approx(tracker.update(1.0))
    assert resumed.gamma == 0.999
    with pytest.raises(ValueError, match="finite"):
        tracker.update(float("inf"))
    with pytest.raises(ValueError, match="gamma"):
        TSEEMATracker(gamma=-0.1)


# ---------------------------------------------------------------------------- Algorithm 1
def _with_valid(valid):
    return LearningCurve([1.0] * len(valid), valid_losses=valid)


def test_overfit_epoch_known_curves():
    # minimum at epoch 4, then rises for 3 epochs
    curve = _with_valid([5.0, 4.0, 3.0, 2.0, 2.5, 3.0, 3.5, 4.0])
    assert overfit_epoch_valid_loss(curve, patience=3) == 4
    # a single rise (noise) at epoch 3->4 is not overfitting with patience 2; the real one starts after epoch 6
    noisy = _with_valid([5.0, 4.0, 3.0, 3.2, 2.5, 2.0, 2.1, 2.2, 2.3])
    assert overfit_epoch_valid_loss(noisy, patience=2) == 6
    assert overfit_epoch_valid_loss(noisy, patience=1) == 3
    assert overfit_epoch_valid_loss(_with_valid([3.0, 2.0, 1.0]), patience=1) is None


def test_effective_training_budget_algorithm_1():
    curves = [
        _with_valid([5, 4, 3, 2, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 0.7, 0.8]),  # overfits after epoch 10
        _with_valid([5, 4, 3, 2, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.06, 0.07, 0.08]),  # 15
        _with_valid([5 - 0.1 * t for t in range(30)]),  # never overfits -> its length, 30
    ]
    assert overfitting_epochs(curves, lambda c: overfit_epoch_valid_loss(c, patience=3)) == [10, 15, 30]
    assert effective_training_budget(curves) == 9  # floor(0.9 * 10)
    assert effective_training_budget(curves[1:]) == 13  # floor(0.9 * 15)
    assert effective_training_budget(curves[2:]) == 27  # floor(0.9 * 30)


def test_effective_training_budget_pluggable_criterion_and_errors():
    curves = [_with_valid([1.0] * 20), _with_valid([1.0] * 20)]
    assert effective_training_budget(curves, criterion=lambda c: 20, fraction=0.5) == 10
    with pytest.raises(ValueError, match="outside 1..20"):
        effective_training_budget(curves, criterion=lambda c: 25)
    with pytest.raises(ValueError, match="at least one fully trained curve"):
        effective_training_budget([])
    with pytest.raises(ValueError, match="needs valid_losses"):
        effective_training_budget([LearningCurve([1.0, 2.0])])


# ---------------------------------------------------------------------------- Spearman
def test_average_ranks_with_ties():
    assert average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert average_ranks([1, 1, 1]).tolist() == [2.0, 2.0, 2.0]


def test_values_rounded_apart_by_floating_point_are_ties():
    """Mean test accuracies over 3 seeds of 1,017 test images: 433+444+454 and 420+452+459 correct answers are the
    same accuracy, but their float means differ in the last bit; they rank as ties, in ρ and τ alike."""
    import statistics

    a = statistics.fmean(k / 1017 * 100 for k in (433, 444, 454))
    b = statistics.fmean(k / 1017 * 100 for k in (420, 452, 459))
    assert a != b and abs(a - b) < 1e-12 * a  # the premise: rounded apart
    assert average_ranks([a, b, 50.0]).tolist() == [1.5, 1.5, 3.0]
    exact = [1.0, 1.0, 3.0]  # the same three accuracies with the tie exact
    assert spearman([a, b, 50.0], [1, 2, 3]) == spearman(exact, [1, 2, 3])
    assert kendall_tau([a, b, 50.0], [1, 2, 3]) == kendall_tau(exact, [1, 2, 3])
    assert average_ranks([1.0, 1.0 + 1e-9, 2.0]).tolist() == [1.0, 2.0, 3.0]  # a real difference is no tie


def test_spearman_hand_computed():
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7.5]) == pytest.approx(0.9)  # d^2 sum 2 -> 1 - 6*2/120
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [10, 30, 20]) == pytest.approx(0.5)


def test_spearman_with_ties_hand_computed():
    # ranks x = [1, 2.5, 2.5, 4], y = [1, 2, 3, 4]; centred: x=[-1.5,0,0,1.5], y=[-1.5,-.5,.5,1.5]
    # r = (2.25 + 2.25) / sqrt(4.5 * 5) = 4.5 / sqrt(22.5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)


def test_spearman_matches_pearson_of_ranks_on_random_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=30).astype(float)  # many ties
    y = x + rng.normal(size=30)
    rx, ry = average_ranks(x), average_ranks(y)
    assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1])


def test_spearman_undefined_and_invalid():
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        spearman([1], [2])
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])
