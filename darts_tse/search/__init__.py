"""The search: config → data + supernet + architect → epoch loop → per-epoch record → sinks, with checkpoints.

``run_search(config)`` runs (or, with ``resume=True``, continues) one search in ``config.out``; the loop drives any
:class:`~darts_tse.architects.Architect` and never knows which one.
"""
from .checkpoint import CHECKPOINT, CheckpointError, load_search_checkpoint
from .components import SearchComponents, build_components, resolve_device
from .loop import NonFiniteLossError, evaluate, resumed_config, run_epoch, run_search

__all__ = ["CHECKPOINT", "CheckpointError", "NonFiniteLossError", "SearchComponents", "build_components", "evaluate",
           "load_search_checkpoint", "resolve_device", "resumed_config", "run_epoch", "run_search"]
