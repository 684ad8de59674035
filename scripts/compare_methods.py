#!/usr/bin/env python
"""The comparison of search methods in one command: the searches (methods x seeds, several at once), the table, the
overfitting-curve plot and a markdown report in one folder.

    python scripts/compare_methods.py --methods darts darts-tse drnas drnas-tse --seeds 0 1 2 --dataset cifar10 \
        --benchmark nb201_table.csv --out runs/compare-nb201 --preset paper

See darts_tse/cli/compare_methods.py (--help) and docs/comparison.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.compare_methods import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
