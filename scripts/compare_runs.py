#!/usr/bin/env python
"""Compare methods over search seeds: one row per group of runs that differ only in their seed.

Runs with the same search settings (config.json without the seed, --out, device, threads, W&B and the other settings
that do not change what a search computes, and without the settings their method does not use) form a group. For each group, at the last epoch all of its seeds finished
(or --epoch), the table gives the mean ± sample std over its search seeds of: the derived genotype's NB201 accuracy
(default cifar10 test, else cifar10-valid valid, as plot_curves chooses), the skip_connect count, and the supernet's
search-train and search-valid losses (with "(n=k)" where only k seeds have the number); and the genotype, when every
seed derived the same one. Seeds that have not finished their planned epochs are named in the epoch column.

Examples (from the repository root):
    python scripts/compare_runs.py runs/darts-cifar10-seed* runs/darts-tse-K100-cifar10-seed*
    python scripts/compare_runs.py runs/* --nb201-dataset cifar100 --nb201-split test -o summary.json
    python scripts/plot_curves.py runs/* --mean-over-seeds -o curves.png      # the same groups, as curves
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.compare_runs import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
