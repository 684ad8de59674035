"""The epoch loop every run shares: config → data + supernet + task (an architect's search, or a one-shot supernet's
path sampler) → epochs → per-epoch record → sinks, with a checkpoint after every epoch.

``run_search(config)`` runs (or, with ``resume=True``, continues) one run in ``config.out``; the loop drives a
:class:`SearchTask` and never knows which one.
"""
from .checkpoint import CHECKPOINT, CheckpointError, load_checkpoint, load_search_checkpoint
from .components import (AUTOCAST_DTYPES, SearchComponents, build_components, check_compile_supported, configure_kernels,
                         resolve_device)
from .environment import run_environment
from .loop import (EpochResult, NonFiniteLossError, RunWriteError, resumed_config, run_epoch, run_search,
                   train_and_evaluate)
from .train_task import TrainTask, build_network
from .tasks import (DifferentiableTask, OneShotTask, SearchTask, draw_probes, evaluate, nb201_dataset_for,
                    nb201_lookup, probe_rank)

__all__ = ["AUTOCAST_DTYPES", "CHECKPOINT", "CheckpointError", "DifferentiableTask", "EpochResult", "NonFiniteLossError",
           "OneShotTask", "RunWriteError", "TrainTask", "build_network", "SearchComponents", "SearchTask", "build_components", "check_compile_supported",
           "configure_kernels", "draw_probes", "evaluate", "load_checkpoint", "load_search_checkpoint", "nb201_dataset_for", "nb201_lookup",
           "probe_rank", "resolve_device", "resumed_config", "run_environment", "run_epoch", "run_search",
           "train_and_evaluate"]
