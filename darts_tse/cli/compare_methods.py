"""``scripts/compare_methods.py`` / ``darts-tse compare-methods``: the comparison of search methods in one command:
the searches (methods × seeds, as a local sweep: several at once), then the comparison table, the overfitting-curve
plot (mean ± std over seeds) and a short markdown report, all in one folder.

    python scripts/compare_methods.py --methods darts darts-tse drnas drnas-tse --seeds 0 1 2 --dataset cifar10 \\
        --benchmark nb201_table.csv --out runs/compare-nb201 --preset paper --max-parallel 4 --jobs-per-gpu 4
    python scripts/compare_methods.py --methods darts darts-tse --seeds 0 1 --dataset fashion-mnist --C 8 --N 1 \\
        --epochs 3 --steps-per-epoch 20 --wandb disabled --out runs/compare-small     # a small CPU comparison

Every flag not listed below is a train_search.py flag, passed to every search (checked by its parser before
anything runs). ``--preset paper`` gives each method the settings of its released code (docs/comparison.md has the
table); ``--preset uniform`` (the default) the same shared settings for all.

What OUT holds: ``runs/`` (the sweep: one run directory per method and seed, ``sweep.json``), ``comparison.txt`` and
``comparison.json`` (as scripts/compare_runs.py prints and writes them), ``curves.png`` (scripts/plot_curves.py
--mean-over-seeds), ``report.md`` and ``compare_methods.json`` (this command's settings). Re-running the same command
continues unfinished searches, skips finished ones and rewrites the five report files from the runs; OUT must
otherwise be new or empty, and a different command is refused.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..analysis import MissingDependency, compare, load_runs, markdown_report, plot_curves
from ..config import METHODS, PRESETS, ConfigError
from ..commands import invocation
from ..files import atomic_write_text
from ..nb201.labels import NB201_DATASETS, NB201_SPLITS
from ..sweeps import SweepError, load_sweep
from . import sweep as sweep_cli
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import pass_output_flags

RUNS_DIR, SETTINGS_FILE = "runs", "compare_methods.json"
REPORT_FILES = ("comparison.txt", "comparison.json", "curves.png", "report.md", SETTINGS_FILE)



def _epoch(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"epochs are 0-based, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False,  # an abbreviated train_search.py flag must not match ours
                                     usage="%(prog)s --methods M [M ...] --seeds S [S ...] --out DIR [--preset P] "
                                           "[executor options] [train_search.py flags]")
    what = parser.add_argument_group("the comparison")
    what.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    what.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="search seeds (default 0 1 2)")
    what.add_argument("-o", "--out", required=True, help="the folder of the searches and the report")
    what.add_argument("--preset", choices=PRESETS, default="uniform",
                      help="uniform: the same shared settings for every method; paper: each method's released-code "
                           "settings (default %(default)s)")
    run = parser.add_argument_group("running the searches (a local sweep: scripts/sweep.py --executor local)")
    run.add_argument("--max-parallel", type=int, default=None, help="searches at once (default: one per GPU, 1 on CPU)")
    run.add_argument("--jobs-per-gpu", type=int, default=None, help="searches sharing one GPU (default 1)")
    run.add_argument("--gpus", default=None, metavar="0,1,...", help="the GPUs to use (default: all visible)")
    run.add_argument("--gpus-per-job", type=int, choices=(0, 1), default=None, help="0: run the searches on the CPU")
    run.add_argument("--time", type=int, default=None, help="minutes per search before it is restarted (default: none)")
    report = parser.add_argument_group("the report")
    report.add_argument("--nb201-dataset", default=None, choices=(*NB201_DATASETS, "cifar10-valid"),
                        help="NB201 number of the table and plots: cifar10, cifar10-valid, cifar100, imagenet16-120 "
                             "(default: cifar10 test if present, else cifar10-valid valid)")
    report.add_argument("--nb201-split", choices=NB201_SPLITS, default=None)
    report.add_argument("--epoch", type=_epoch, default=None, help="0-based epoch of the table (default: the last every "
                                                                "seed finished)")
    pass_output_flags(parser)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, fixed = build_parser().parse_known_args(argv)
    if not args.out:
        raise ConfigError("--out is empty; name the comparison's folder, e.g. --out runs/compare-nb201")
    out = Path(args.out)
    settings = {"methods": list(dict.fromkeys(args.methods)), "seeds": list(dict.fromkeys(args.seeds)),
                "preset": args.preset, "train_search_flags": fixed}
    check_folder(out, settings)
    code = sweep_cli.main(sweep_argv(args, settings, out / RUNS_DIR))
    if code in (2, 130):  # a flag or folder the sweep refused (it printed why), or Ctrl-C: no report
        return code
    runs_folder = out / RUNS_DIR
    sweep = load_sweep(runs_folder)
    runs = load_runs([runs_folder / job.name for job in sweep.jobs], note=lambda line: print(line, file=sys.stderr))
    comparison = compare(runs, args.nb201_dataset, args.nb201_split, args.epoch)
    notes = [] if code == 0 else [f"some searches failed; {invocation('sweep')} --status {runs_folder} says why"]
    plot = "curves.png"
    try:
        plot_curves(runs, out / plot, dataset=comparison.dataset, split=comparison.split, mean_over_seeds=True)
    except MissingDependency as error:
        plot = None
        notes.append(f"no plot: {error}")
    command = f"{invocation('compare-methods')} {shlex.join(argv)}"
    title = (f"{', '.join(settings['methods'])} on {runs[0].config.get('dataset')}: {len(settings['seeds'])} search "
             f"seeds each, preset {args.preset}")
    atomic_write_text(out / "comparison.txt", comparison.table() + "\n")
    atomic_write_text(out / "comparison.json", json.dumps(comparison.document(), indent=2, allow_nan=False) + "\n")
    atomic_write_text(out / "report.md", markdown_report(comparison, title=title, command=command, plot=plot,
                                                         notes=notes))
    atomic_write_text(out / SETTINGS_FILE, json.dumps({**settings, "command": command}, indent=2) + "\n")
    print(comparison.table())
    print(f"wrote {', '.join(str(out / name) for name in REPORT_FILES if (out / name).exists())}")
    return code


def check_folder(out: Path, settings: dict) -> None:
    """SweepError unless `out` is new, empty, or holds this same comparison (its runs and report files only)."""
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out} is a file; give a folder for the comparison")
    if not out.is_dir():
        return
    foreign = sorted(path.name for path in out.iterdir() if path.name not in (RUNS_DIR, *REPORT_FILES))
    if foreign:
        raise SweepError(f"--out {out} holds other files ({', '.join(foreign[:3])}); choose a new or empty folder")
    recorded = out / SETTINGS_FILE
    if recorded.is_file():
        try:
            before = json.loads(recorded.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SweepError(f"cannot read {recorded} ({error}); choose a new --out") from None
        if not isinstance(before, dict):
            raise SweepError(f"{recorded} is not a comparison's settings (a JSON {type(before).__name__}, not an "
                             f"object); restore it, or choose a new --out")
        differences = [f"{key}: {before.get(key)!r} -> {value!r}" for key, value in settings.items()
                       if before.get(key) != value]
        if differences:
            raise SweepError(f"{out} holds another comparison ({'; '.join(differences)}); re-run it with its own "
                             f"command ({before.get('command')}), or choose a new --out")


def sweep_argv(args: argparse.Namespace, settings: dict, folder: Path) -> list[str]:
    """The scripts/sweep.py command line of the searches: a grid of methods × seeds, run here."""
    argv = ["--grid", f"method={','.join(settings['methods'])}", f"seed={','.join(map(str, settings['seeds']))}",
            "--out", str(folder), "--executor", "local"]
    for name in ("max_parallel", "jobs_per_gpu", "gpus", "gpus_per_job", "time"):
        if getattr(args, name) is not None:
            argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    preset = ["--preset", settings["preset"]] if settings["preset"] != "uniform" else []
    return [*argv, *preset, *settings["train_search_flags"]]
