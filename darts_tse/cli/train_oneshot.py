"""``scripts/train_oneshot.py`` / ``darts-tse train-oneshot``: train a one-shot NB201 supernet by path sampling.

    python scripts/train_oneshot.py --sampler random --dataset cifar10 --epochs 50 --seed 0     # RandNAS
    python scripts/train_oneshot.py --sampler fair ...                                           # FairNAS
    python scripts/train_oneshot.py --sampler multipath --paths 3 ...                            # MultiPaths
    python scripts/train_oneshot.py --preset tse-code --seed 0          # the TSE code's supernet schedule (Table 2)

The same data, supernet, weight optimizer, checkpoints, exact resume, metrics.jsonl / W&B and errors as
train_search.py. After every epoch a fixed probe set of subnetworks is evaluated on search-valid with the inherited
weights; rank subnetworks afterwards with scripts/rank_subnets.py.
"""
from __future__ import annotations

import argparse

from ..commands import invocation
from ..config import ONESHOT_PRESETS, SAMPLERS, OneShotConfig
from . import runs
from .errors import OneLineArgumentParser, cli_main

DEFAULTS = OneShotConfig()


def build_parser() -> argparse.ArgumentParser:
    """Every flag of a one-shot supernet: the sampler and probe set, then the flags every run has."""
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sampling = parser.add_argument_group("path sampling")
    sampling.add_argument("--sampler", choices=list(SAMPLERS), default=DEFAULTS.sampler,
                          help="; ".join(f"{name}: {what}" for name, what in SAMPLERS.items())
                          + " (default %(default)s)")
    sampling.add_argument("--paths", type=int, default=DEFAULTS.paths,
                          help="multipath: paths per minibatch, their gradients averaged (default %(default)s)")
    sampling.add_argument("--probes", type=int, default=DEFAULTS.probes,
                          help="random subnetworks (fixed by --seed) evaluated on search-valid after every epoch "
                               "(default %(default)s)")
    sampling.add_argument("--probe-batches", type=int, default=None,
                          help="search-valid batches per probe (default: all, or --steps-per-epoch)")
    sampling.add_argument("--preset", choices=ONESHOT_PRESETS, default=DEFAULTS.preset,
                          help="uniform: the shared settings below; tse-code: the TSE code's supernet (SGD 0.025 "
                               "cosine per step to 0.001, Nesterov 0.9, wd 5e-4, batch 64, 100 epochs, no clip; "
                               "docs/oneshot.md names the files; a flag you give still wins) (default %(default)s)")
    runs.add_run_arguments(parser, DEFAULTS,
                           out_help="run directory (default runs/oneshot-<sampler>[-m<paths>]-<dataset>-seed<seed>-<time>-<6 hex>)")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    """Train or resume a one-shot supernet; 0 done, 2 a user's error, 130 Ctrl-C, 143 SIGTERM."""
    return runs.run_main(build_parser, OneShotConfig, argv, command=invocation("train-oneshot"))
