#!/usr/bin/env python
"""The mixing probabilities of one search by epoch: one panel per edge of the cell, one line per op.

Read from the run directory's genotypes.jsonl (softmax(α) for darts / darts-tse, the Dirichlet mean for drnas /
drnas-tse, as logged after every epoch). Shows how the search drifts, e.g. towards skip_connect. Needs matplotlib.

Example (from the repository root):
    python scripts/plot_alpha.py runs/darts-cifar10-seed0-20250101-120000 -o alpha.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.plot_alpha import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
