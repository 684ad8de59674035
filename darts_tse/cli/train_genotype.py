"""``scripts/train_genotype.py`` / ``darts-tse-train-genotype``: train a found cell from scratch under a protocol.

    python scripts/train_genotype.py runs/<search run>                  # its final genotype, space and dataset
    python scripts/train_genotype.py --genotype '|nor_conv_3x3~0|+|...' --protocol nb201 --dataset cifar10 --seed 0
    python scripts/train_genotype.py --genotype genotype.json --protocol darts --dataset folder --data-dir my_images/
    python scripts/train_genotype.py --genotype 'Genotype(normal=[...], ...)' --protocol darts --epochs 600 --seed 1
    python scripts/train_genotype.py --resume --out runs/<train run>

A genotype is a run directory, a file (genotype.json, export_genotype.py's output), an NB201 string or index, or a
DARTS Genotype(...) literal (or DARTS_V1 / DARTS_V2). --protocol nb201 | darts | nb301 (default: the genotype's
space's own) sets every setting not named on the command line (docs/train_genotype.md lists them with their
sources); the defaults printed below are the flags' own, which the protocol replaces. The whole training set trains;
the test split (CIFAR's test set; an npz's x_test/y_test; a folder's DIR/test/) is evaluated after every epoch and
only reported. The run directory, checkpoints, exact resume, metrics.jsonl and W&B are a search's.
"""
from __future__ import annotations

import argparse
import functools
from pathlib import Path

from ..analysis import resolve_genotype
from ..config import TRAIN_PROTOCOLS, ConfigError, TrainConfig
from ..files import CHECKPOINT_FILE
from . import runs
from .errors import OneLineArgumentParser, cli_main

DEFAULTS = TrainConfig()
COMMAND = "python scripts/train_genotype.py"


def build_parser() -> argparse.ArgumentParser:
    """The genotype, the protocol and its regularisers, then the flags every run has."""
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cell = parser.add_argument_group("the cell and its protocol")
    cell.add_argument("source", nargs="?", default=None, metavar="GENOTYPE",
                      help="a run directory, a genotype file, an NB201 string or index, or a DARTS literal (or use "
                           "--genotype)")
    cell.add_argument("--genotype", default=None, help="the same as GENOTYPE")
    cell.add_argument("--protocol", choices=list(TRAIN_PROTOCOLS), default=None,
                      help="nb201: NB201's 200-epoch protocol; darts: DARTS' 600-epoch NetworkCIFAR; nb301: NB301's "
                           "8-cell, 100-epoch one (default: the genotype's space's own)")
    cell.add_argument("--layers", type=int, default=DEFAULTS.layers,
                      help="DARTS space: cells in the network (darts 20, nb301 8)")
    cell.add_argument("--cutout", type=int, default=DEFAULTS.cutout,
                      help="side of the cutout square in pixels on training images, 0: off (darts, nb301: 16)")
    cell.add_argument("--mixup", type=float, default=DEFAULTS.mixup,
                      help="MixUp's Beta(a, a) on training batches, 0: off (nb301: 0.2)")
    cell.add_argument("--drop-path", type=float, default=DEFAULTS.drop_path,
                      help="DARTS space: final drop-path probability, ramped linearly from 0 (darts, nb301: 0.2)")
    cell.add_argument("--auxiliary-weight", type=float, default=DEFAULTS.auxiliary_weight,
                      help="DARTS space: weight of the auxiliary head's loss, 0: no head (darts, nb301: 0.4)")
    runs.add_run_arguments(parser, DEFAULTS,
                           out_help="run directory (default runs/train-<protocol>-<dataset>-seed<seed>-<time>-<6 hex>)",
                           supernet=False)
    return parser


def genotype_settings(args: dict, given: dict, resume: bool, report=None) -> tuple[dict, dict]:
    """Turn GENOTYPE / --genotype into the settings genotype, space and genotype_source (and, from a run directory,
    its data settings where the command line names none; from a training run's directory also its training settings,
    unless the command line names another protocol). `report(line)`, when given, hears which settings were taken."""
    source, flag = args.pop("source"), args.pop("genotype")
    given.pop("source", None)
    given.pop("genotype", None)
    if source is not None and flag is not None:
        raise ConfigError("give the genotype once: as GENOTYPE or as --genotype")
    text = source if source is not None else flag
    if resume:
        if text is not None:
            raise ConfigError("--resume trains the checkpoint's genotype; drop GENOTYPE / --genotype")
        if not (Path(args["out"]) / CHECKPOINT_FILE).is_file():  # say so before the settings it would have held
            from ..search.checkpoint import missing_checkpoint_error  # imported late so --help stays fast

            raise missing_checkpoint_error(Path(args["out"]) / CHECKPOINT_FILE)
        return args, given
    if text is None:
        raise ConfigError("no genotype: give a run directory, a genotype file, an NB201 string or index, or a DARTS "
                          "Genotype(...) literal, as GENOTYPE or --genotype")
    found = resolve_genotype(text)
    settings = {"genotype": found.genotype, "space": found.space, "genotype_source": found.source}
    training = found.training
    other_protocol = "protocol" in given and training.get("protocol") not in (None, given["protocol"])
    if other_protocol:
        training = {}
    inherited = {key: value for key, value in (found.data | training).items() if key not in given and key in args}
    if report is not None and (found.data or found.training):  # the source is a run directory
        report(_inherited_line(found, inherited, given.get("protocol") if other_protocol else None))
    return args | inherited | settings, given | settings | inherited


def _inherited_line(found, inherited: dict, other_protocol: str | None) -> str:
    """One line: the genotype's source and the settings taken from its run directory."""
    taken = ", ".join(f"{key}={value}" for key, value in inherited.items()) or "none"
    line = f"genotype from {found.source}; settings taken from it: {taken}"
    if other_protocol is not None:
        line += (f" (its training settings are not: --protocol {other_protocol} differs from its protocol "
                 f"{found.training['protocol']})")
    return line


@cli_main
def main(argv: list[str] | None = None) -> int:
    """Train or resume a genotype's stand-alone network; 0 done, 2 a user's error, 130 Ctrl-C, 143 SIGTERM."""
    return runs.run_main(build_parser, TrainConfig, argv, command=COMMAND,
                         prepare=functools.partial(genotype_settings, report=print))
