#!/usr/bin/env python
"""Rank correlation of the TSE estimators (and baselines) with final test accuracy, for budgets T = 1..T_max.

Examples (from the repository root):
    python scripts/rank_estimators.py --nats-dir ../shared/nb201/nats-fake/NATS-tss-v1_0-3ffb9-simple \
        --nb201-dataset cifar10-valid --hp 200 --max-epochs 20 --plot rank.png -o rank.json
    python scripts/rank_estimators.py --curves curves.json
See docs/estimators.md for the formulas and the curves file formats.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.rank_estimators import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
