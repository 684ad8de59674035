#!/usr/bin/env python
"""Overfitting curves of one or more searches, from each run directory's metrics.jsonl alone.

Three panels, one colour per run (labelled method / K / seed from config.json): the NB201 accuracy of the derived
genotype by epoch (cifar10 test when every run has it, else cifar10-valid valid; the axis says which), the supernet's
search-train vs search-valid loss, and the number of skip_connect edges. With --mean-over-seeds, one colour per
group of runs that differ only in their seed: the mean over its seeds and a band of ± one sample std. Needs matplotlib.

Examples (from the repository root):
    python scripts/plot_curves.py runs/darts-tse-K100-cifar10-seed0-* runs/darts-cifar10-seed0-* -o curves.png
    python scripts/plot_curves.py runs/A runs/B --nb201-dataset cifar100 --nb201-split test -o c100.png
    python scripts/plot_curves.py runs/darts-cifar10-seed* runs/darts-tse-K100-cifar10-seed* --mean-over-seeds
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.plot_curves import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
