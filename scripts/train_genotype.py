#!/usr/bin/env python
"""Train a found cell (NB201 or DARTS space) from scratch under a protocol; see darts_tse/cli/train_genotype.py.

    python scripts/train_genotype.py runs/<search run>
    python scripts/train_genotype.py --genotype '|nor_conv_3x3~0|+|...' --protocol nb201 --dataset cifar10 --seed 0
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.train_genotype import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
