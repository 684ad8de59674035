"""The flags every command shares, and old flag spellings kept working for one release.

- :func:`add_output_flags`: ``--no-progress`` (no progress bars) and ``-q/--quiet`` (no bars and no informational
  lines: only results, warnings and errors), on every command. Bars are also off by themselves when stderr is not a
  terminal (a log file, a pipe): the library's bars ask tqdm to check (``disable=None``).
- :func:`deprecated_alias`: ``--old`` still works as ``--new`` and says so in one line on stderr,
  ``note: --old is deprecated; use --new`` (CHANGELOG.md lists the renames).
- :func:`dataset_spelling`: one spelling of each NB201 dataset (``imagenet16-120``); the old one is accepted with a
  note.
"""
from __future__ import annotations

import argparse
import logging
import sys


class _Quiet(argparse.Action):
    """``-q``: progress bars off, and the informational log lines too (``logging.disable(INFO)``; the command's
    :func:`~darts_tse.cli.errors.cli_main` restores logging when it returns). Stores nothing else."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.progress = False
        logging.disable(logging.INFO)


def add_output_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--no-progress`` (``args.progress``, default True) and ``-q/--quiet`` where the parser lacks them."""
    known = parser._option_string_actions  # shared by a parser and its argument groups
    if "--no-progress" not in known:
        parser.add_argument("--no-progress", dest="progress", action="store_false",
                            help="no progress bars (they are off anyway when stderr is not a terminal)")
    if "--quiet" not in known:
        parser.add_argument("-q", "--quiet", action=_Quiet,
                            help="only results, warnings and errors: no progress bars, no informational lines")


class _DeprecatedAlias(argparse.Action):
    """An old spelling of another flag: hidden from --help, it notes the new spelling and then acts as it."""

    def __init__(self, option_strings, dest, *, target: argparse.Action, **kwargs):
        super().__init__(option_strings, dest=target.dest, nargs=target.nargs, const=target.const,
                         default=argparse.SUPPRESS, type=target.type, choices=target.choices,
                         help=argparse.SUPPRESS, metavar=target.metavar)
        self.target = target

    def __call__(self, parser, namespace, values, option_string=None):
        new = self.target.option_strings[-1]
        print(f"note: {option_string} is deprecated; use {new}", file=sys.stderr)
        self.target(parser, namespace, values, new)


def deprecated_alias(parser: argparse.ArgumentParser | argparse._ArgumentGroup, old: str, new: str) -> None:
    """Make ``old`` (e.g. ``--out-dir``) a deprecated spelling of the existing flag ``new`` (``--out``): it takes the
    same values into the same setting, is not listed by --help, and prints one ``note:`` line when used."""
    target = parser._option_string_actions.get(new)
    if target is None:
        raise ValueError(f"{new} is not a flag of this parser; add it before its deprecated alias {old}")
    if not target.required:
        parser.add_argument(old, action=_DeprecatedAlias, target=target)
        return
    # argparse counts a required flag as given only when its own action ran: the new and the old spelling become a
    # required pair, one of which is given (its error names only the new one: the old is hidden)
    target.required = False
    pair = parser.add_mutually_exclusive_group(required=True)
    pair._group_actions.append(target)
    pair.add_argument(old, action=_DeprecatedAlias, target=target)


# old spellings of NB201 dataset names -> the one spelling every command takes
OLD_DATASET_SPELLINGS = {"ImageNet16-120": "imagenet16-120"}


def dataset_spelling(value: str) -> str:
    """An argparse ``type`` for an NB201 dataset name: an old spelling (``ImageNet16-120``) becomes the one spelling
    (``imagenet16-120``), with one ``note:`` line on stderr; any other value is returned as given."""
    new = OLD_DATASET_SPELLINGS.get(value)
    if new is None:
        return value
    print(f"note: {value} is deprecated; use {new}", file=sys.stderr)
    return new


def pass_output_flags(parser: argparse.ArgumentParser) -> None:
    """For a command that hands its unknown flags to searches (sweep, compare-methods): say in --help that
    ``--no-progress`` and ``-q/--quiet`` are such flags, given to every search (the parser does not take them)."""
    parser.add_argument_group("output", "--no-progress, -q/--quiet: search flags like the others, passed to every "
                                        "search (a job's bars are off anyway: its log is not a terminal)")


# the lines of a run a quiet command still prints: what to do next, and what was deleted
KEPT_WHEN_QUIET = ("interrupted", "note:", "--overwrite:")


def is_quiet() -> bool:
    """Whether -q was given to the command running now (it disables the informational log lines)."""
    return logging.root.manager.disable >= logging.INFO


def console_echo(line: str) -> None:
    """How a run's console lines are printed: all of them, or with -q only those of :data:`KEPT_WHEN_QUIET`
    (the per-epoch lines and the start and resume lines are left out)."""
    if not is_quiet() or line.startswith(KEPT_WHEN_QUIET):
        print(line, flush=True)
