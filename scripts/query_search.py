#!/usr/bin/env python
"""Query-based NAS on NB201 learning curves: random search, regularised evolution or TPE, scored by TSE-EMA, TSE-E
or validation accuracy after T epochs, on a simulated clock that charges the benchmark's training time.

Examples and every flag: python scripts/query_search.py --help (darts_tse/cli/query_search.py).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.query_search import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
