"""The jobs of a sweep, checked before anything is submitted with the jobs' command's own parser and its config's
``validate()`` (no second list of flags): ``train_search.py``'s and ``SearchConfig``, or, for ``--command
train-genotype``, ``train_genotype.py``'s and ``TrainConfig`` (:mod:`darts_tse.cli.sweep_commands`). One job per
combination of the grid's values, each with its own ``--out`` under the sweep folder, a W&B group per configuration
(the method, or ``train-<protocol>``, and the other non-seed axes, e.g. ``darts-tse-K100``,
``train-nb201-genotype2066``, so that W&B shows a configuration's seeds together) and a sweep tag (unless the flags fix
them). Paths in the flags (``--data-dir``, ``--benchmark``, a ``--genotype`` that names a file or run directory) are
made absolute when the sweep is planned: a job runs, and is resubmitted, from wherever the scheduler starts it."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..commands import invocation
from ..config import RunConfig, SearchConfig
from ..sweeps import Axis, Job, SweepError, combinations, folder_name
from .errors import user_errors
from .runs import given_settings
from .sweep_commands import SEARCH, SWEEP_COMMANDS, SweepCommand

SWEEP_SETS = {"out": "each job's --out is <sweep folder>/<job name>; give the sweep folder as --out",
              "resume": "the sweep passes --resume itself to every job that has a checkpoint",
              "overwrite": "a sweep never deletes a job's files; it sets an unfinished start aside and starts again",
              "trust_run_files": "each job names its paths on its own command line; give it as a fixed flag if at all",
              "help": "it is not a setting"}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
PATH_SETTINGS = ("data_dir", "benchmark")  # the settings that name a file or folder (--out is the sweep's)
MAYBE_PATH_SETTINGS = ("genotype",)  # settings that name a file or folder when one exists (else a genotype's text)
WANDB_GROUP_LENGTH = 128  # W&B's limit on a group name


def strict_parser(command: SweepCommand = SWEEP_COMMANDS[SEARCH]) -> argparse.ArgumentParser:
    """The command's parser (train_search.py's by default), raising SweepError with argparse's message instead of
    printing usage and exiting."""
    parser = command.build_parser()

    def error(message: str):
        raise SweepError(message)

    parser.error = error  # argparse documents error() as the method to override
    return parser


def search_config(parser: argparse.ArgumentParser, argv: list[str]) -> SearchConfig:
    """The SearchConfig train_search.py would build from `argv` (its preset applied; unchecked)."""
    return SWEEP_COMMANDS[SEARCH].config(parser, argv)


def absolute(dest: str, value: str) -> str:
    """`value` of setting `dest`, absolute if it names a path (always for PATH_SETTINGS; for MAYBE_PATH_SETTINGS
    when such a file or folder exists)."""
    if dest in PATH_SETTINGS or (dest in MAYBE_PATH_SETTINGS and os.path.exists(value)):
        return os.path.abspath(value)
    return value


class GridFlags:
    """The grid's axes as flags of the jobs' command: which flag each axis is, its tokens for a value, its name
    part."""

    def __init__(self, parser: argparse.ArgumentParser, axes: list[Axis], fixed_dests: set[str],
                 runner: SweepCommand):
        options = {option.lstrip("-"): action for action in parser._actions for option in action.option_strings
                   if option.startswith("--")}  # argparse keeps its actions private; cli.search reads them too
        self.actions: dict[str, argparse.Action] = {}
        for axis in axes:
            action = options.get(axis.name)
            if action is None:
                raise SweepError(f"grid axis {axis.name} is not a flag of {runner.script} ({invocation(runner.name)} "
                                 f"--help lists them; write it without dashes, e.g. seed=0,1,2)")
            if action.dest in SWEEP_SETS:
                raise SweepError(f"--{axis.name} cannot be a grid axis: {SWEEP_SETS[action.dest]}")
            if action.dest in fixed_dests:
                raise SweepError(f"--{axis.name} is both a grid axis and a fixed flag; keep one of them")
            self.actions[axis.name] = action

    def dest(self, axis: str) -> str:
        return self.actions[axis].dest

    def tokens(self, axis: str, value: str) -> list[str]:
        """The command-line tokens for one axis value (a switch: the flag for true, nothing for false; a path made
        absolute)."""
        flag = f"--{axis}"
        if self.actions[axis].nargs != 0:
            return [flag, absolute(self.dest(axis), value)]
        if value.lower() not in TRUE + FALSE:
            raise SweepError(f"grid axis {axis}: {value!r} is not true or false ({flag} is a switch)")
        return [flag] if value.lower() in TRUE else []

    def part(self, axis: str, value: str) -> str:
        """How the value shows in a job's folder name: 'darts-tse' (a choice), 'seed0', 'track-running-stats-on'."""
        action = self.actions[axis]
        if action.nargs == 0:
            return f"{axis}-{'on' if value.lower() in TRUE else 'off'}"
        return value if action.choices else f"{axis}{value}"


def absolute_paths(parser: argparse.ArgumentParser, tokens: list[str]) -> list[str]:
    """`tokens` with the value of every path flag (PATH_SETTINGS, and MAYBE_PATH_SETTINGS that name a path;
    ``--flag VALUE`` or ``--flag=VALUE``, abbreviated as argparse allows) made absolute against the current folder."""
    actions = {option: action for action in parser._actions for option in action.option_strings}  # private, as above
    out, tokens = [], list(tokens)
    while tokens:
        token = tokens.pop(0)
        name, sign, value = token.partition("=")
        matches = [action for option, action in actions.items() if option == name] or \
            list({id(a): a for option, a in actions.items() if name.startswith("--") and option.startswith(name)}.values())
        if len(matches) == 1 and matches[0].dest in PATH_SETTINGS + MAYBE_PATH_SETTINGS:
            if sign:
                token = f"{name}={absolute(matches[0].dest, value)}"
            elif tokens and not tokens[0].startswith("-"):
                out.append(token)
                token = absolute(matches[0].dest, tokens.pop(0))
        out.append(token)
    return out


def wandb_group(label: str, flags: GridFlags, used: dict[str, str], label_settings: tuple[str, ...] = ("method",)
                ) -> str:
    """The W&B group of a job: its label (a search's method, a training run's train-<protocol>) and the values of
    its other non-seed axes ('darts-tse-K100', 'train-nb201-genotype2066'), so that W&B shows the seeds of one
    configuration together."""
    parts = [label] + [flags.part(axis, value) for axis, value in used.items()
                       if flags.dest(axis) not in ("seed", *label_settings)]
    return folder_name(parts)[:WANDB_GROUP_LENGTH]


def plan_jobs(folder: Path, axes: list[Axis], fixed: list[str], command: str = SEARCH) -> tuple[list[Job], list[str]]:
    """Every job of the grid of `command` runs (checked), and notes on the axes some configurations do not use (left
    out of their jobs, so a darts job does not repeat for each K). SweepError naming the bad flag, axis value or
    job."""
    runner = SWEEP_COMMANDS[command]
    parser = strict_parser(runner)
    try:
        given = vars(parser.parse_args(fixed))
    except SweepError as error:
        raise SweepError(f"{runner.script} flags of the sweep: {error}") from None
    fixed = absolute_paths(parser, fixed)
    for dest in ("out", "resume", "overwrite"):
        if given[dest]:
            raise SweepError(f"--{dest} is not a flag for the jobs: {SWEEP_SETS[dest]}")
    if given.get("source") is not None:  # train_genotype.py's positional GENOTYPE
        raise SweepError(f"{given['source']!r} is not a flag: in a sweep give the genotype as --genotype VALUE, or "
                         f"as a grid axis genotype=V1,V2")
    fixed_dests = set(given_settings(runner.build_parser, fixed))
    flags = GridFlags(parser, axes, fixed_dests, runner)
    for axis in axes:
        for value in axis.values:
            tokens = flags.tokens(axis.name, value)
            try:
                parser.parse_args([*fixed, *tokens])
            except SweepError as error:
                raise SweepError(f"grid axis {axis.name}: bad value {value!r}: {error}") from None
    named = [axis for axis in axes if axis.varies] or axes
    jobs: dict[str, Job] = {}
    notes: list[str] = []
    for combo in combinations(axes):
        config = _checked(runner, parser, fixed, flags, combo)
        label = runner.label(config)
        unused = config.unused_settings()
        used = {axis: value for axis, value in combo.items() if flags.dest(axis) not in unused}
        for axis in combo.keys() - used.keys():
            note = f"{axis} is not used by {label} ({unused[flags.dest(axis)]}): its {label} jobs leave it out"
            notes += [note] if note not in notes else []
        name = folder_name(flags.part(axis.name, used[axis.name]) for axis in named if axis.name in used)
        argv = [*fixed, *(token for axis, value in used.items() for token in flags.tokens(axis, value)),
                "--out", str(folder.absolute() / name)]
        if "wandb_group" not in fixed_dests and "wandb-group" not in combo:
            argv += ["--wandb-group", wandb_group(label, flags, used, runner.label_settings)]
        if "wandb_tags" not in fixed_dests and "wandb-tags" not in combo:
            argv += ["--wandb-tags", f"sweep:{folder.name}"[:64]]
        if name in jobs and jobs[name].argv != argv:
            raise SweepError(f"two jobs of the grid would share the folder {name}; give values that differ in "
                             f"letters or digits")
        jobs[name] = Job(name, used, argv)
    return list(jobs.values()), notes


def _checked(runner: SweepCommand, parser, fixed: list[str], flags: GridFlags, combo: dict[str, str]) -> RunConfig:
    """The validated config of one combination (a SearchConfig, a TrainConfig); SweepError naming the combination."""
    argv = [*fixed, *(token for axis, value in combo.items() for token in flags.tokens(axis, value))]
    try:
        config = runner.config(parser, argv).validate()
    except user_errors() as error:  # ConfigError, a bad genotype (GenotypeSourceError), SweepError ...
        values = " ".join(f"{axis}={value}" for axis, value in combo.items())
        raise SweepError(f"grid job {values}: {error}") from None
    for name in PATH_SETTINGS:  # a job that would fail at once on a missing path is not submitted
        value = getattr(config, name)
        if value is not None and not Path(value).exists():
            raise SweepError(f"--{name.replace('_', '-')} {value} does not exist; every job would fail on it: give "
                             f"the path of existing {'data' if name == 'data_dir' else 'benchmark'} files")
    return config
