#!/usr/bin/env python
"""Many searches at once: a grid of train_search.py flags as submitit jobs, locally or on SLURM (``--help``).

Examples (from the repository root):
    python scripts/sweep.py --grid method=darts,darts-tse,drnas,drnas-tse seed=0,1,2 K=100 --dataset cifar10 \\
        --executor slurm --partition gpu --gpus-per-job 1 --time 120 --out runs/sweep-nb201
    python scripts/sweep.py --status runs/sweep-nb201
    python scripts/compare_runs.py runs/sweep-nb201/*/
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.sweep import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
