#!/usr/bin/env python
"""Rank subnetworks of one-shot supernets by TSE and other estimators on inherited weights (the TSE paper's Table 2);
see darts_tse/cli/rank_subnets.py.

    python scripts/rank_subnets.py runs/<one-shot run> --subnets 200 --B 100 200 300 --benchmark nb201_table.csv
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.rank_subnets import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
