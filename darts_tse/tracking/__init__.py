"""Where the per-epoch records go: local files (always) and Weights & Biases (optional), behind one ``Sink`` interface.

Local files in the run directory (details: docs/tracking.md): config.json, metrics.jsonl, genotypes.jsonl,
genotype.json; W&B's files and ``last_logged_epoch`` in ``wandb/`` (offline/online modes only).
"""
from .local_files import FAILED, FINISHED, INTERRUPTED, LocalFiles, Sink, genotype_row
from .wandb_files import UnknownWandbFormat, last_logged_step, offline_segments, read_payloads, read_records
from .wandb_sink import (LOGGED_MARKER, WandbSink, environment, flatten_metrics, new_wandb_id, probability_scalars,
                         resolve_wandb_mode, sync_command, sync_runs_command)

__all__ = ["FAILED", "FINISHED", "INTERRUPTED", "LOGGED_MARKER", "LocalFiles", "Sink", "UnknownWandbFormat", "WandbSink",
           "environment", "flatten_metrics", "genotype_row", "last_logged_step", "new_wandb_id", "offline_segments",
           "probability_scalars", "read_payloads", "read_records", "resolve_wandb_mode", "sync_command",
           "sync_runs_command"]
