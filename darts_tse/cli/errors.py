"""The errors a user can cause with bad input, and how every command line reports them: one line, exit status 2,
never a traceback (a closed pipe, as in ``... | head``, ends the command quietly).

The error types live in their rooms (``ConfigError`` in config, ``CheckpointError`` in search, ...). They are looked
up among the modules already imported, so a reader command that never loads torch does not load it for its error
handling: an error type whose module was never imported cannot have been raised.
"""
from __future__ import annotations

import argparse
import errno
import functools
import logging
import os
import sys

from ..commands import current_prog

USER_ERROR_TYPES = {  # module -> the user errors it defines
    "darts_tse.config": ("ConfigError",),
    "darts_tse.files": ("OutputPathError", "RunLockedError"),
    "darts_tse.data.base": ("DataError",),
    "darts_tse.estimators.study": ("CurveLoadError",),
    "darts_tse.space.genotype": ("GenotypeError",),
    "darts_tse.spaces.base": ("SpaceError",),
    "darts_tse.analysis.genotype_source": ("GenotypeSourceError",),
    "darts_tse.nb201.base": ("BenchmarkError",),
    "darts_tse.darts_space.genotype": ("GenotypeError",),
    "darts_tse.nb301.surrogate": ("NB301Error",),
    "darts_tse.perf.darts_peer": ("PeerError",),
    "darts_tse.search.checkpoint": ("CheckpointError",),
    "darts_tse.search.loop": ("NonFiniteLossError", "RunWriteError"),
    "darts_tse.analysis.runs": ("RunDirError",),
    "darts_tse.analysis.plotting": ("MissingDependency",),
    "darts_tse.query.config": ("QueryError",),
    "darts_tse.sweeps.grid": ("SweepError",),
    "darts_tse.trust": ("UntrustedInputError",),
}
OS_ERRORS = (OSError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
INTERRUPTED = "interrupted: nothing was written (this command writes its output only when it ends)"


def user_errors() -> tuple[type[BaseException], ...]:
    """The user-error types that can have been raised in this process (their modules are imported), and OSError
    (a file that cannot be read or written)."""
    found = [getattr(sys.modules[module], name) for module, names in USER_ERROR_TYPES.items()
             if module in sys.modules for name in names]
    return (*found, OSError)


def one_line(error: BaseException) -> str:
    """The error's message on one line (its whitespace folded), or its type where it has none; an OSError of the
    system's own (``[Errno 13] Permission denied: 'x'``) says which file and what to check instead of errno text."""
    if type(error) in OS_ERRORS and error.strerror and error.filename is not None:
        return (f"cannot use {error.filename}: {error.strerror} ({errno.errorcode.get(error.errno, error.errno)}); "
                f"check that path and its permissions")
    return " ".join(str(error).split()) or type(error).__name__


def cli_main(main=None, *, interrupted: str = INTERRUPTED):
    """Decorate a command's ``main(argv) -> int``: a user's error prints ``error: <one line>`` and returns 2; Ctrl-C
    prints `interrupted` (one line: what is kept) and returns 130; a closed stdout (``| head``) returns 141
    (128 + SIGPIPE) without a traceback. ``@cli_main`` or ``@cli_main(interrupted="interrupted: ... is kept")``."""
    if main is None:
        return functools.partial(cli_main, interrupted=interrupted)

    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        quiet_before = logging.root.manager.disable  # -q (cli.vocabulary) raises it for this command only
        try:
            return main(argv)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python would flush into the closed pipe again at exit
            return 141
        except KeyboardInterrupt as interrupt:  # SIGTERM's subclass (cli.runs.Terminated) carries 143
            print(interrupted, file=sys.stderr)
            return getattr(interrupt, "exit_code", 130)
        except Exception as error:
            if not isinstance(error, user_errors()):
                raise
            print(f"error: {one_line(error)}", file=sys.stderr)
            return 2
        finally:
            logging.disable(quiet_before)
    return wrapped


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors (a bad flag or value) are one line, ``error: ...``, exit status 2, like
    every other user error (argparse prints the whole usage block first). Its ``prog`` is the way the user ran the
    command (``darts-tse search`` under the dispatcher) unless given."""

    def __init__(self, *args, **kwargs):
        if not args:  # prog is the first positional parameter
            kwargs.setdefault("prog", current_prog())
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {message} ({self.prog} --help lists the flags)\n")
