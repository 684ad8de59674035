"""Query-based NAS over a learning-curve store (torch-free): random search, regularised evolution and TPE (optuna)
behind one ask/tell protocol (``QueryStrategy``), scored by TSE-EMA, TSE-E or validation accuracy at a budget of T
epochs, on a simulated clock that charges the benchmark's training time of those epochs (docs/query_nas.md)."""
from .base import QueryStrategy
from .config import ALGORITHMS, FITNESSES, QUERY_DATASETS, QueryConfig, QueryError, masked_url
from .evolution import RegularizedEvolution
from .fitness import Evaluation, evaluate, fitness_label
from .optuna_search import OptunaSearch
from .figure4 import Figure4Settings, figure4_configs, run_figure4
from .runner import QueryLog, SearchSetup, build_strategy, prepare_search, run_one, run_query_search
from .space import ArchitectureSpace

__all__ = ["Figure4Settings", "figure4_configs", "run_figure4", "ALGORITHMS", "FITNESSES", "QUERY_DATASETS", "ArchitectureSpace", "Evaluation", "OptunaSearch",
           "QueryConfig", "QueryError", "QueryLog", "QueryStrategy", "RegularizedEvolution", "SearchSetup",
           "build_strategy", "evaluate", "fitness_label", "masked_url", "prepare_search", "run_one", "run_query_search"]
