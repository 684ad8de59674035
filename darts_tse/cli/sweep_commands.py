"""The commands a sweep can run as its jobs, and what the sweep needs of each: its parser (the grid's axes are its
flags), its ``main`` (the job calls it), how it turns a job's flags into its config (checked with the config's own
``validate()`` before anything is submitted) and what names a configuration in W&B.

- ``search`` (``train_search.py``, the default): a differentiable search; W&B group = the method.
- ``train-genotype`` (``scripts/train_genotype.py``): a found cell trained from scratch; W&B group = ``train-<protocol>``
  (e.g. ``train-nb201``), then the other non-seed axes (e.g. ``train-nb201-genotype2066``).

The names are :mod:`darts_tse.commands`' (``sweep.json`` records the one its jobs run; an older sweep.json without it
ran searches).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Callable

from ..commands import find
from ..config import RunConfig, SearchConfig, TrainConfig
from ..sweeps import SweepError
from . import runs, search, train_genotype

SEARCH, TRAIN_GENOTYPE = "search", "train-genotype"


@dataclass(frozen=True)
class SweepCommand:
    """A command whose runs a sweep can plan, run, resume and report: `name` as in :mod:`darts_tse.commands`.

    `config(parser, argv)`: the config the command would build from `argv` (its preset or protocol applied;
    unchecked). `label(config)`: the first part of a job's W&B group. `label_settings`: the settings the label
    already says, left out of the group's other parts (with the seed, which a group spans). `from_checkpoint`: the
    flags a resume takes from the checkpoint and refuses on its command line (train_genotype.py's --genotype)."""

    name: str
    build_parser: Callable[[], argparse.ArgumentParser]
    main: Callable[[list[str] | None], int]
    config: Callable[[argparse.ArgumentParser, list[str]], RunConfig]
    label: Callable[[RunConfig], str]
    label_settings: tuple[str, ...]
    from_checkpoint: tuple[str, ...] = ()

    def resume_argv(self, argv: list[str]) -> list[str]:
        """The flags that continue the run of `argv` from its checkpoint: `argv` with ``--resume``, less the flags
        (``--flag VALUE`` or ``--flag=VALUE``) that the checkpoint holds."""
        options = list(self.build_parser()._option_string_actions)  # argparse keeps them private; cli.search reads them

        def from_checkpoint(name: str) -> bool:  # the flag as given, or abbreviated as argparse allows
            matches = [name] if name in options else [option for option in options
                                                      if name.startswith("--") and option.startswith(name)]
            return len(matches) == 1 and matches[0] in self.from_checkpoint

        kept, skip = [], False
        for token in argv:
            name, sign, _ = token.partition("=")
            if skip:
                skip = False
            elif from_checkpoint(name):
                skip = not sign
            else:
                kept.append(token)
        return [*kept, "--resume"]

    @property
    def script(self) -> str:
        """The file name of its checkout wrapper: ``train_search.py``, ``train_genotype.py``."""
        return os.path.basename(find(self.name).checkout_command().split()[-1])


def _parsed(parser: argparse.ArgumentParser, argv: list[str]) -> dict:
    values = vars(parser.parse_args(argv))
    for switch in ("resume", "overwrite", "trust_run_files"):
        values.pop(switch, None)
    return values


def _search_config(parser: argparse.ArgumentParser, argv: list[str]) -> SearchConfig:
    """The SearchConfig train_search.py would build from `argv` (its preset applied; unchecked)."""
    return SearchConfig(**_parsed(parser, argv)).resolve(set(search.given_settings(argv)))


def _train_config(parser: argparse.ArgumentParser, argv: list[str]) -> TrainConfig:
    """The TrainConfig train_genotype.py would build from `argv` (its genotype resolved, its protocol applied;
    unchecked)."""
    given = runs.given_settings(train_genotype.build_parser, argv)
    values, given = train_genotype.genotype_settings(_parsed(parser, argv), given, resume=False)
    return TrainConfig(**values).resolve(set(given))


SWEEP_COMMANDS: dict[str, SweepCommand] = {
    SEARCH: SweepCommand(SEARCH, search.build_parser, search.main, _search_config,
                         label=lambda config: config.method, label_settings=("method",)),
    TRAIN_GENOTYPE: SweepCommand(TRAIN_GENOTYPE, train_genotype.build_parser, train_genotype.main, _train_config,
                                 label=lambda config: config.method_label, label_settings=("protocol",),
                                 from_checkpoint=("--genotype",)),
}


def sweep_command(name: str) -> SweepCommand:
    """The sweepable command `name`; SweepError naming the ones there are."""
    if name not in SWEEP_COMMANDS:
        raise SweepError(f"a sweep cannot run {name!r} jobs; --command is one of: {', '.join(SWEEP_COMMANDS)}")
    return SWEEP_COMMANDS[name]
