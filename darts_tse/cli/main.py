"""``darts-tse`` / ``python -m darts_tse``: one command, its subcommands grouped by flow (``darts-tse --help``).

``darts-tse <command> [flags]`` runs ``darts_tse.cli.<module>.main(flags)`` (the table is
:data:`darts_tse.commands.COMMANDS`); ``darts-tse <command> --help`` lists that command's flags. Nothing heavy is
imported before a command's own parser has run, so every ``--help`` is fast.
"""
from __future__ import annotations

import difflib
import importlib
import sys

from .. import __version__
from ..commands import COMMANDS, FLOWS, PROGRAM, launched_as


def help_text(launcher: str = PROGRAM) -> str:
    """The usage and every installed command, one line each, grouped by flow."""
    available = [command for command in COMMANDS if command.available()]
    width = max(len(command.name) for command in available) + 2
    lines = [f"usage: {launcher} <command> [flags]      ({launcher} <command> --help: that command's flags)", "",
             "NAS on NAS-Bench-201 and the DARTS space with training-speed estimation (TSE): differentiable,",
             "one-shot and query-based search; training a found cell from scratch."]
    for flow in FLOWS:
        rows = [command for command in available if command.flow == flow]
        if rows:
            lines += ["", f"{flow}:"] + [f"  {command.name:<{width}}{command.summary}" for command in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, *, launcher: str = PROGRAM) -> int:
    """Run the subcommand named by ``argv[0]`` with the rest; 0 for ``--help``/``--version``, 2 for no or an
    unknown command (one line naming the fix)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        sys.stderr.write(help_text(launcher))
        return 2
    name, rest = argv[0], argv[1:]
    if name in ("-h", "--help", "help"):
        sys.stdout.write(help_text(launcher))
        return 0
    if name == "--version":
        print(f"{PROGRAM} {__version__}")
        return 0
    known = {command.name: command for command in COMMANDS if command.available()}
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        print(f"error: {launcher} has no command {name!r}; {hint}{launcher} --help lists them", file=sys.stderr)
        return 2
    module = importlib.import_module(known[name].module_path)
    with launched_as(launcher, name):
        return module.main(rest)


def module_main() -> int:
    """``python -m darts_tse``."""
    return main(launcher="python -m darts_tse")
