"""``scripts/reproduce.py`` / ``darts-tse-reproduce``: the paper's experiments, one command each, with its settings,
resumable (the same command continues: traces and finished runs are kept), writing the paper-shaped table or plot
beside a markdown report that names every setting and where ours differs.

    python scripts/reproduce.py table2 --supernets runs/oneshot-random-* runs/oneshot-fair-* --benchmark nb201.csv
    python scripts/reproduce.py figure4 --curves nb201_curves.npz          # RE and TPE × 3 fitnesses × datasets

table2: each supernet (scripts/train_oneshot.py --preset tse-code) ranked by 200 subnetworks at B = 100, 200, 300,
grouped by sampler (mean ± std over seeds), TSE beside the size and zero-cost baselines: <out>/table2.md, .json.
figure4: RE and TPE with TSE-EMA (T=10), Val Acc (T=10) and Val Acc (T=200), 20 runs each on the paper's
wall-clock: <out>/runs/, <out>/figure4.png (best test error, ± 1 standard error), <out>/figure4.md.
--protocol reference (default) is the TSE code's protocol, --protocol ours this project's (docs/oneshot.md,
docs/query_nas.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from ..analysis import load_query_run, plot_query
from ..analysis.figure4 import figure4_markdown
from ..config import ZeroCostSettings
from ..files import atomic_write_text
from ..query import QUERY_DATASETS, Figure4Settings, run_figure4
from ..query.figure4 import FIGURE4_ALGORITHMS, PAPER_RUNS, PROTOCOLS
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, dataset_spelling, deprecated_alias


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="{table2,figure4}")
    table2 = experiments.add_parser("table2", help="the one-shot ranking of Table 2")
    table2.add_argument("--supernets", nargs="+", required=True, metavar="RUN_DIR",
                        help="one-shot supernet runs (scripts/train_oneshot.py), any samplers and seeds")
    table2.add_argument("--benchmark", default=None, help="NB201 table / .pth / NATS directory for the truth")
    table2.add_argument("--subnets", type=int, default=200, help="random subnetworks (default %(default)s, the paper's)")
    table2.add_argument("--B", dest="budgets", type=int, nargs="+", default=[100, 200, 300],
                        help="budgets (default 100 200 300, the paper's)")
    table2.add_argument("--seed", type=int, default=0, help="of the subnetworks and their minibatches (default 0)")
    table2.add_argument("--no-zero-cost", dest="zero_cost", action="store_false", help="skip SNIP, SynFlow, JacCov")
    table2.add_argument("--zero-cost-C", type=int, default=ZeroCostSettings.C, help="(default %(default)s, NB201's)")
    table2.add_argument("--zero-cost-N", type=int, default=ZeroCostSettings.N, help="(default %(default)s, NB201's)")
    table2.add_argument("--zero-cost-batch", type=int, default=ZeroCostSettings.batch_size,
                        help="(default %(default)s, the TSE code's)")
    table2.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default %(default)s)")
    table2.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    figure4 = experiments.add_parser("figure4", help="the query-based searches of Figure 4")
    figure4.add_argument("--curves", required=True, help="curve store (.npz, scripts/export_nb201_curves.py)")
    figure4.add_argument("--nb201-datasets", dest="datasets", nargs="+", type=dataset_spelling, choices=QUERY_DATASETS,
                         default=None, help="(default: every dataset the store holds)")
    deprecated_alias(figure4, "--datasets", "--nb201-datasets")
    figure4.add_argument("--algorithms", nargs="+", choices=("re", "tpe", "rs"), default=list(FIGURE4_ALGORITHMS),
                         help="(default re tpe, the paper's)")
    figure4.add_argument("--runs", type=int, default=PAPER_RUNS, help="runs per line (default %(default)s, the code's)")
    figure4.add_argument("--seed", type=int, default=0, help="seed of the first run (default 0)")
    figure4.add_argument("--wallclock", type=float, default=None,
                         help="simulated seconds per run (default: the paper's per dataset)")
    figure4.add_argument("--max-queries", type=int, default=None, help="a cap on queries per run (default none)")
    for sub in (table2, figure4):
        sub.add_argument("--protocol", choices=PROTOCOLS, default="reference",
                         help="reference: the TSE code's protocol; ours: this project's defaults (default %(default)s)")
        sub.add_argument("-o", "--out", type=Path, default=None,
                         help=f"the folder of the outputs (default reproduce/{sub.prog.split()[-1]})")
        add_output_flags(sub)
    parser.epilog = "each experiment takes --no-progress and -q/--quiet (see: reproduce table2 --help)"
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = args.out or Path("reproduce") / args.experiment
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a folder for the outputs")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("optuna").setLevel(logging.WARNING)
    if args.experiment == "table2":
        return _table2(parser, args, out)
    return _figure4(parser, args, out)


def _table2(parser: argparse.ArgumentParser, args: argparse.Namespace, out: Path) -> int:
    from ..ranking import Table2Settings, run_table2, table2_markdown  # after parsing: torch loads here, so --help is fast

    if min(args.subnets, *args.budgets, args.zero_cost_C, args.zero_cost_N, args.zero_cost_batch) < 1:
        parser.error("--subnets, --B and the --zero-cost-* numbers must be >= 1")
    if len({Path(run).resolve() for run in args.supernets}) < len(args.supernets):
        parser.error("a supernet run is given twice; the mean over seeds would count it twice")
    if args.threads is not None:
        if not 1 <= args.threads <= (os.cpu_count() or 1):
            parser.error(f"--threads must lie in 1..{os.cpu_count()} (this machine's CPUs)")
        import torch

        torch.set_num_threads(args.threads)
    zero_cost = ZeroCostSettings(C=args.zero_cost_C, N=args.zero_cost_N, batch_size=args.zero_cost_batch,
                                 seed=args.seed) if args.zero_cost else None
    settings = Table2Settings(supernets=tuple(args.supernets), benchmark=args.benchmark, subnets=args.subnets,
                              budgets=tuple(sorted(set(args.budgets))), protocol=args.protocol, seed=args.seed,
                              zero_cost=zero_cost, device=args.device)
    documents = run_table2(settings, progress=args.progress)
    out.mkdir(parents=True, exist_ok=True)
    report = table2_markdown(documents, settings)
    atomic_write_text(out / "table2.md", report)
    atomic_write_text(out / "table2.json", json.dumps(documents, indent=2) + "\n")
    print(report)
    print(f"wrote {out / 'table2.md'} and {out / 'table2.json'}")
    return 0


def _figure4(parser: argparse.ArgumentParser, args: argparse.Namespace, out: Path) -> int:
    if args.runs < 1 or (args.max_queries is not None and args.max_queries < 1):
        parser.error("--runs and --max-queries must be >= 1")
    if args.wallclock is not None and not args.wallclock > 0:
        parser.error("--wallclock must be > 0 simulated seconds")
    settings = Figure4Settings(curves=args.curves, out_dir=str(out / "runs"),
                               datasets=tuple(args.datasets) if args.datasets else None,
                               algorithms=tuple(args.algorithms), runs=args.runs, seed=args.seed,
                               protocol=args.protocol, wallclock=args.wallclock, max_queries=args.max_queries)
    configs, outs, notes = run_figure4(settings, progress=args.progress, announce=print)
    runs = [load_query_run(path) for path in outs]
    plot, series = plot_query(runs, out / "figure4.png", metric="best-error", band="sem", log_clock=True)
    report = figure4_markdown(series, configs, notes, args.protocol, plot.name)
    atomic_write_text(out / "figure4.md", report)
    print(report)
    print(f"wrote {plot} and {out / 'figure4.md'}")
    return 0
