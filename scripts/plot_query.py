#!/usr/bin/env python
"""The Figure-4-style plot of query-based searches: the search so far against simulated wall-clock (hours of NB201
training), one panel per dataset, one line per algorithm and fitness (mean over runs that differ only in their seed,
band ± 1 sample std). Prints each line's value at its last clock. Needs matplotlib.

Examples and every flag: python scripts/plot_query.py --help (darts_tse/cli/plot_query.py).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.plot_query import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
