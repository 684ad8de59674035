"""Print the genotype a search found (or write it to -o/--out FILE): the latest finished epoch's by default, or that
of --epoch (0-based, as in metrics.jsonl), read from the run directory's genotypes.jsonl (genotype.json as a fallback).

Examples (from the repository root):
    python scripts/export_genotype.py runs/darts-tse-K100-cifar10-seed0-20250101-120000
    python scripts/export_genotype.py runs/A --epoch 9 --format json   # + benchmark numbers, probabilities, raw α
    python scripts/export_genotype.py runs/<darts-space run> --format darts   # pastes into DARTS' genotypes.py
    python scripts/export_genotype.py runs/A --format json -o genotype-A.json
"""
from __future__ import annotations

import argparse

from ..files import atomic_write_text, check_output_file
from ..analysis import GENOTYPE_FORMATS, format_genotype, genotype_entry
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN_DIR", help="run directory (the --out of train_search.py)")
    parser.add_argument("--epoch", type=int, default=None, help="0-based epoch (default: the latest finished one)")
    parser.add_argument("--format", choices=GENOTYPE_FORMATS, default=None,
                        help="nb201: the NB201 string; darts: DARTS' Genotype(...) literal (pastes into DARTS' "
                             "genotypes.py); json: epoch, genotype, benchmark numbers, probabilities, raw α, the cell "
                             "with its edges and ops named (default: the run's space's own form)")
    parser.add_argument("-o", "--out", default=None, metavar="FILE",
                        help="the file to write (.txt for --format nb201 or darts, .json for json; default: print to "
                             "stdout)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_output_flags(parser)
    return parser


# the file names -o/--out takes for each --format (None: the run's space's own text form)
SUFFIXES = {"nb201": (".txt",), "darts": (".txt", ".py"), "json": (".json",), None: (".txt", ".py")}


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = None if args.out is None else check_output_file(args.out, SUFFIXES[args.format], "--out",
                                                             overwrite=args.overwrite)
    text = format_genotype(genotype_entry(args.run, args.epoch), args.format)
    if out is None:
        print(text)
    else:
        atomic_write_text(out, text + "\n")
        print(f"wrote {out}")
    return 0
