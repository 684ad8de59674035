"""Ranking the subnetworks of a trained supernet by training-speed estimators on inherited weights (the TSE paper's
Table 2): train each subnetwork B more minibatches from the supernet's weights, score it by TSE, TSE-EMA, TLmini,
SoVL or its search-valid accuracy, and correlate the scores with NB201's accuracies."""
from .baselines import BASELINES, ZeroCostSettings, size_baselines, zero_cost_scores
from .estimates import DEFAULT_TSE_E_LAST, ESTIMATORS, estimates, mean_over_runs, rank_table
from .report import format_report, plot_ranking, split_groups, subnets_csv
from .study import VAL_ACC, RankingSettings, combine, rank_run
from .table2 import Table2Settings, run_table2, table2_markdown
from .subnets import FinetuneSettings, SubnetFinetuner, SubnetTrace, sample_subnets

__all__ = ["Table2Settings", "run_table2", "table2_markdown", "BASELINES", "DEFAULT_TSE_E_LAST", "VAL_ACC", "ZeroCostSettings", "size_baselines", "zero_cost_scores", "ESTIMATORS", "FinetuneSettings", "RankingSettings", "SubnetFinetuner", "SubnetTrace", "combine",
           "estimates", "format_report", "mean_over_runs", "plot_ranking", "rank_run", "rank_table", "sample_subnets",
           "split_groups", "subnets_csv"]
