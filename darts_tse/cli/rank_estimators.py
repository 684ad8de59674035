"""Rank correlation of the TSE estimators (and baselines) with final test accuracy, for budgets T = 1..T_max.

Examples (from the repository root):
    python scripts/rank_estimators.py --nats-dir ../shared/nb201/nats-fake/NATS-tss-v1_0-3ffb9-simple \
        --nb201-dataset cifar10-valid --hp 200 --max-epochs 20 --plot rank.png -o rank.json
    python scripts/rank_estimators.py --curves curves.json
    python scripts/rank_estimators.py --curves nb201_curves.npz --nb201-dataset cifar100 --max-epochs 50   # a curve store
    python scripts/rank_estimators.py --train-runs runs/train-*      # our own training runs (scripts/train_genotype.py)
See docs/estimators.md for the formulas and the curves file formats.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..analysis import load_runs
from ..analysis.train_runs import seed_agreement, training_curve_set, weights_baseline
from ..files import atomic_write_text, check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, dataset_spelling, deprecated_alias
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
from ..nb201 import BenchmarkError, load_curve_store
from ..space.genotype import Genotype, GenotypeError
from ..space.size import size_baselines

PROG = "rank_estimators"
# the datasets as the command spells them (lower case) -> as NATS-Bench (and the estimators library) spells them
NATS_SPELLING = {name.lower(): name for name in NATS_DATASETS}
STORE_DATASETS = {"cifar10-valid": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16-120"}


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = OneLineArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--nats-dir", help="NATS-Bench topology directory (NATS-tss-v1_0-3ffb9-simple)")
    source.add_argument("--curves", help="curves file, .json or .csv (format: docs/estimators.md), or a curve store "
                        ".npz (scripts/export_nb201_curves.py)")
    source.add_argument("--train-runs", nargs="+", metavar="RUN_DIR",
                        help="training runs (scripts/train_genotype.py): one architecture per genotype, its seeds' "
                             "own curves (test split as the held-out curve), truth = final test accuracy; with --seed, "
                             "that seed's curve against the other seeds' final accuracy")
    parser.add_argument("--nb201-dataset", dest="dataset", default="cifar10-valid", type=dataset_spelling,
                        choices=list(NATS_SPELLING), help="NATS-Bench dataset (default %(default)s)")
    parser.add_argument("--nb201-truth-dataset", dest="truth_dataset", type=dataset_spelling,
                        choices=list(NATS_SPELLING),
                        help="dataset whose 200-epoch test accuracy is the ground truth (default: --nb201-dataset)")
    parser.add_argument("--hp", default="200", choices=NATS_HPS, help="NATS-Bench training schedule (epochs)")
    parser.add_argument("--indices", help="NATS-Bench indices, e.g. '0,11,100-199' (default: all record files)")
    parser.add_argument("--seed", type=int, help="NATS-Bench curve of this seed (default: mean over seeds)")
    parser.add_argument("--max-epochs", type=int, help="T_max (default: the shortest curve)")
    parser.add_argument("--gamma", type=float, default=DEFAULT_GAMMA, help="TSE-EMA decay (default 0.999)")
    parser.add_argument("--tse-e", type=float, default=DEFAULT_E, help="E of TSE-E in epochs (default 1)")
    parser.add_argument("--patience", type=int, default=DEFAULT_OVERFIT_PATIENCE,
                        help="Algorithm 1: consecutive validation-loss rises that mark overfitting")
    parser.add_argument("--every", type=int, default=1, help="print every N-th budget row of the table")
    parser.add_argument("-o", "--out", dest="json_out", metavar="FILE.json", help="write the correlations to this JSON file")
    parser.add_argument("--plot", help="save a Figure-1-style plot (needs matplotlib) to this path")
    add_output_flags(parser)
    for old, new in (("--json", "--out"), ("--dataset", "--nb201-dataset"), ("--truth-dataset", "--nb201-truth-dataset")):
        deprecated_alias(parser, old, new)
    return parser


def run(args: argparse.Namespace) -> None:
    """Load curves, run the study, print and write the outputs."""
    for path, suffixes, flag in ((args.json_out, (".json",), "--out"), (args.plot, (".png", ".pdf", ".svg"), "--plot")):
        if path:
            check_output_file(path, suffixes, flag)
    if args.nats_dir:
        indices = parse_indices(args.indices) if args.indices else None
        curve_set = load_curves_nats(args.nats_dir, args.dataset, args.hp, indices, args.truth_dataset, args.seed)
    elif args.train_runs:
        runs = load_runs(args.train_runs, note=lambda line: print(line, file=sys.stderr))
        curve_set = training_curve_set(runs, args.seed)
    elif args.curves.lower().endswith(".npz"):
        curve_set = store_curve_set(args)
    else:
        curve_set = load_curves_file(args.curves)
    settings = {"gamma": args.gamma, "E": args.tse_e}
    if args.nats_dir:
        settings.update(dataset=args.dataset, truth=args.truth_dataset or args.dataset, hp=args.hp,
                        seed="mean" if args.seed is None else args.seed)
    study = run_rank_study(curve_set, default_estimators(args.gamma, args.tse_e), args.max_epochs,
                           args.patience, settings, cell_sizes(curve_set, args.truth_dataset or args.dataset))
    print(format_rank_table(study, args.every))
    if args.train_runs:
        print(f"baseline: the networks' weight counts, Spearman ρ with the truth = {weights_baseline(runs, curve_set):+.3f}")
        for a, b, rho, count in seed_agreement(runs):
            print(f"seed {a} vs seed {b}: Spearman ρ of the final test accuracies = {rho:+.3f} ({count} genotypes)")
    if args.json_out:
        atomic_write_text(Path(args.json_out), json.dumps(study_to_dict(study), indent=2) + "\n")
        print(f"wrote {args.json_out}")
    if args.plot:
        plot_rank_study(study, args.plot)
        print(f"wrote {args.plot}")


def cell_sizes(curve_set, dataset: str) -> dict[str, dict[str, float]]:
    """The size baselines (ConvW, Params, FLOPs, conv count) of every architecture whose id is an NB201 index or
    string (NATS-Bench and curve stores use indices); empty when some id is neither."""
    truth = {"cifar10-valid": "cifar10"}.get(dataset, STORE_DATASETS.get(dataset, dataset))
    sizes: dict[str, dict[str, float]] = {}
    for record in curve_set.records:
        try:
            cell = Genotype.from_index(int(record.id)) if record.id.isdigit() else Genotype.parse(record.id)
        except (GenotypeError, ValueError):
            return {}
        for name, value in size_baselines(cell, truth).items():
            sizes.setdefault(name, {})[record.id] = value
    return sizes


def store_curve_set(args: argparse.Namespace):
    """The curves of a curve store: ``--nb201-dataset`` names the NATS-Bench run they come from, the ground truth is the
    store's NB201 test number (for CIFAR-10: ``cifar10``, trained on all 50k)."""
    if args.dataset not in STORE_DATASETS:
        raise CurveLoadError("a curve store's CIFAR-10 curves are those of cifar10-valid (trained on the 25k train half): "
                             "use --nb201-dataset cifar10-valid")
    if args.hp != "200" or args.truth_dataset:
        raise CurveLoadError("a curve store holds the 200-epoch curves and its own NB201 test numbers: drop --hp and "
                             "--nb201-truth-dataset")
    curve_set = load_curve_store(args.curves).curve_set(STORE_DATASETS[args.dataset], args.seed)
    if args.indices:
        wanted = {str(i) for i in parse_indices(args.indices)}
        curve_set.records = [r for r in curve_set.records if r.id in wanted]
    return curve_set


@cli_main
def main(argv=None) -> int:
    """Entry point: 0 on success, 2 with a one-line error on bad input."""
    args = build_parser().parse_args(argv)
    # the library (and the settings it records) spell the datasets as NATS-Bench does
    args.dataset = NATS_SPELLING[args.dataset]
    if args.truth_dataset is not None:
        args.truth_dataset = NATS_SPELLING[args.truth_dataset]
    try:
        run(args)
    except (CurveLoadError, BenchmarkError, ValueError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    return 0
