"""Training-speed performance estimators (Ru et al., NeurIPS 2021): TSE, TSE-E, TSE-EMA and their baselines on learning
curves, the paper's Algorithm 1 (effective budget), rank correlations, and the rank-correlation study over a set of
curves (``study``). Loss-based estimators are lower-is-better; :func:`to_score` makes every one higher-is-better."""
from .budget import (
                     DEFAULT_BUDGET_FRACTION,
                     DEFAULT_OVERFIT_PATIENCE,
                     effective_training_budget,
                     overfit_epoch_valid_loss,
                     overfitting_epochs,
)
from .ranking import average_ranks, grouped_spearman, kendall_tau, partial_spearman, rank_correlations, spearman
from .speed import (
                     DEFAULT_E,
                     DEFAULT_GAMMA,
                     Estimator,
                     LearningCurve,
                     TSEEMATracker,
                     default_estimators,
                     sovl,
                     tl_mini,
                     to_score,
                     tse,
                     tse_e,
                     tse_ema,
                     tse_ema_code,
                     vacc_es,
)
from .study import (
                     NATS_DATASETS,
                     NATS_HPS,
                     ArchitectureRecord,
                     CurveLoadError,
                     CurveSet,
                     MissingArchitecture,
                     RankStudy,
                     format_rank_table,
                     load_curves_csv,
                     load_curves_file,
                     load_curves_json,
                     load_curves_nats,
                     parse_indices,
                     plot_rank_study,
                     read_nats_epochs,
                     read_nats_final,
                     run_rank_study,
                     study_to_dict,
)

__all__ = [
    "NATS_DATASETS", "NATS_HPS", "ArchitectureRecord", "CurveLoadError", "CurveSet", "MissingArchitecture", "RankStudy",
    "format_rank_table", "load_curves_csv", "load_curves_file", "load_curves_json", "load_curves_nats",
    "parse_indices", "plot_rank_study", "read_nats_epochs", "read_nats_final", "run_rank_study", "study_to_dict",
    "DEFAULT_BUDGET_FRACTION", "DEFAULT_E", "DEFAULT_GAMMA", "DEFAULT_OVERFIT_PATIENCE", "Estimator", "LearningCurve",
    "TSEEMATracker", "average_ranks", "grouped_spearman", "partial_spearman", "kendall_tau", "default_estimators", "effective_training_budget", "overfit_epoch_valid_loss",
    "overfitting_epochs", "rank_correlations", "sovl", "spearman", "tl_mini", "to_score", "tse", "tse_e", "tse_ema", "tse_ema_code",
    "vacc_es",
]
