"""Rank correlation of the TSE estimators (and baselines) with final test accuracy, for budgets T = 1..T_max.

Examples (from the repository root):
    python scripts/rank_estimators.py --nats-dir ../shared/nb201/nats-fake/NATS-tss-v1_0-3ffb9-simple \
        --dataset cifar10-valid --hp 200 --max-epochs 20 --plot rank.png --json rank.json
    python scripts/rank_estimators.py --curves curves.json
See docs/estimators.md for the formulas and the curves file formats.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..files import atomic_write_text, check_output_file
from .errors import cli_main
from ..estimators import (
    DEFAULT_E,
    DEFAULT_GAMMA,
    DEFAULT_OVERFIT_PATIENCE,
    NATS_DATASETS,
    NATS_HPS,
    CurveLoadError,
    default_estimators,
    format_rank_table,
    load_curves_file,
    load_curves_nats,
    parse_indices,
    plot_rank_study,
    run_rank_study,
    study_to_dict,
)

PROG = "rank_estimators"


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--nats-dir", help="NATS-Bench topology directory (NATS-tss-v1_0-3ffb9-simple)")
    source.add_argument("--curves", help="curves file, .json or .csv (format: docs/estimators.md)")
    parser.add_argument("--dataset", default="cifar10-valid", choices=NATS_DATASETS, help="NATS-Bench dataset")
    parser.add_argument("--truth-dataset", choices=NATS_DATASETS,
                        help="dataset whose 200-epoch test accuracy is the ground truth (default: --dataset)")
    parser.add_argument("--hp", default="200", choices=NATS_HPS, help="NATS-Bench training schedule (epochs)")
    parser.add_argument("--indices", help="NATS-Bench indices, e.g. '0,11,100-199' (default: all record files)")
    parser.add_argument("--seed", type=int, help="NATS-Bench curve of this seed (default: mean over seeds)")
    parser.add_argument("--max-epochs", type=int, help="T_max (default: the shortest curve)")
    parser.add_argument("--gamma", type=float, default=DEFAULT_GAMMA, help="TSE-EMA decay (default 0.999)")
    parser.add_argument("--tse-e", type=float, default=DEFAULT_E, help="E of TSE-E in epochs (default 1)")
    parser.add_argument("--patience", type=int, default=DEFAULT_OVERFIT_PATIENCE,
                        help="Algorithm 1: consecutive validation-loss rises that mark overfitting")
    parser.add_argument("--every", type=int, default=1, help="print every N-th budget row of the table")
    parser.add_argument("--json", dest="json_out", help="write the correlations as JSON to this path")
    parser.add_argument("--plot", help="save a Figure-1-style plot (needs matplotlib) to this path")
    return parser


def run(args: argparse.Namespace) -> None:
    """Load curves, run the study, print and write the outputs."""
    for path, suffixes, flag in ((args.json_out, (".json",), "--json"), (args.plot, (".png", ".pdf", ".svg"), "--plot")):
        if path:
            check_output_file(path, suffixes, flag)
    if args.nats_dir:
        indices = parse_indices(args.indices) if args.indices else None
        curve_set = load_curves_nats(args.nats_dir, args.dataset, args.hp, indices, args.truth_dataset, args.seed)
    else:
        curve_set = load_curves_file(args.curves)
    settings = {"gamma": args.gamma, "E": args.tse_e}
    if args.nats_dir:
        settings.update(dataset=args.dataset, truth=args.truth_dataset or args.dataset, hp=args.hp,
                        seed="mean" if args.seed is None else args.seed)
    study = run_rank_study(curve_set, default_estimators(args.gamma, args.tse_e), args.max_epochs,
                           args.patience, settings)
    print(format_rank_table(study, args.every))
    if args.json_out:
        atomic_write_text(Path(args.json_out), json.dumps(study_to_dict(study), indent=2) + "\n")
        print(f"wrote {args.json_out}")
    if args.plot:
        plot_rank_study(study, args.plot)
        print(f"wrote {args.plot}")


@cli_main
def main(argv=None) -> int:
    """Entry point: 0 on success, 2 with a one-line error on bad input."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (CurveLoadError, ValueError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    return 0
