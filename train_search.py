#!/usr/bin/env python
"""Search the NAS-Bench-201 space with DARTS, DARTS-TSE, DrNAS or DrNAS-TSE (``python train_search.py --help``).

The command line lives in :mod:`darts_tse.cli.search`; installed, the same command is ``darts-tse search``.
"""
import sys

from darts_tse.cli.search import build_parser, given_settings, main  # noqa: F401  (the public names of this CLI)

if __name__ == "__main__":
    sys.exit(main())
