"""``train_search.py`` / ``darts-tse search``: search the NAS-Bench-201 space with DARTS, DARTS-TSE, DrNAS or DrNAS-TSE.

    python train_search.py --method darts-tse --K 100
    python train_search.py --method darts --dataset fashion-mnist --epochs 2 --C 8 --N 1 --steps-per-epoch 20
"""
from __future__ import annotations

import argparse

from ..config import DRNAS_REGULARIZERS, HVP_METHODS, METHODS, PRESETS, TSE_MODES, SearchConfig
from ..commands import invocation
from . import runs
from .errors import OneLineArgumentParser, cli_main

DEFAULTS = SearchConfig()


def build_parser() -> argparse.ArgumentParser:
    """Every flag of a differentiable search: the method and α optimizer, then the flags every run has."""
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    method = parser.add_argument_group("method")
    method.add_argument("--method", choices=list(METHODS), default=DEFAULTS.method, help="search method (default %(default)s)")
    method.add_argument("--preset", choices=PRESETS, default=DEFAULTS.preset,
                        help="uniform: every method gets the shared settings below; paper: each method gets its "
                             "released code's settings (docs/comparison.md lists them; a flag you give still wins) "
                             "(default %(default)s)")
    method.add_argument("--K", type=int, default=DEFAULTS.K, help="TSE: training minibatches per α step (default %(default)s)")
    method.add_argument("--tse-mode", choices=TSE_MODES, default=DEFAULTS.tse_mode,
                        help="TSE: joint = paper Algorithm 3 (one pass per minibatch); rollout = released code (default %(default)s)")
    method.add_argument("--order", type=int, choices=(1, 2), default=DEFAULTS.order,
                        help="DARTS/DrNAS: 1 = first order, 2 = unrolled second order (default %(default)s)")
    method.add_argument("--hvp", choices=HVP_METHODS, default=DEFAULTS.hvp,
                        help="--order 2: the Hessian-vector product by DARTS' central finite difference "
                             "(ε = 0.01/‖v‖) or exact, by double backward (default %(default)s)")
    method.add_argument("--arch-warmup-epochs", type=int, default=DEFAULTS.arch_warmup_epochs,
                        help="epochs with α frozen at the start, < --epochs (default %(default)s)")
    method.add_argument("--drnas-reg", choices=DRNAS_REGULARIZERS, default=DEFAULTS.drnas_reg,
                        help="DrNAS regulariser: l2 (α-optimizer weight decay) or kl (KL to Dir(1) instead) (default %(default)s)")
    method.add_argument("--kl-weight", type=float, default=DEFAULTS.kl_weight, help="scale of the KL term (default %(default)s)")

    arch = parser.add_argument_group("α optimizer (Adam)")
    arch.add_argument("--arch-lr", type=float, default=DEFAULTS.arch_lr, help="(default %(default)s)")
    arch.add_argument("--arch-beta1", type=float, default=DEFAULTS.arch_beta1, help="(default %(default)s)")
    arch.add_argument("--arch-beta2", type=float, default=DEFAULTS.arch_beta2, help="(default %(default)s)")
    arch.add_argument("--arch-weight-decay", type=float, default=DEFAULTS.arch_weight_decay,
                      help="L2 on α (default 1e-3; 0 for DrNAS with --drnas-reg kl, where the KL term replaces it)")
    runs.add_run_arguments(parser, DEFAULTS,
                           out_help="run directory (default runs/<method>[-K<K>]-<dataset>-seed<seed>-<time>-<6 hex>)")
    return parser


def given_settings(argv: list[str] | None) -> dict:
    """Only the settings the command line names (no argparse defaults): what a resume takes over the checkpoint's."""
    return runs.given_settings(build_parser, argv)


@cli_main
def main(argv: list[str] | None = None) -> int:
    """Run or resume a differentiable search; 0 done, 2 a user's error, 130 Ctrl-C, 143 SIGTERM."""
    return runs.run_main(build_parser, SearchConfig, argv, command=invocation("search"))
