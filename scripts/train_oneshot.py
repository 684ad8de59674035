#!/usr/bin/env python
"""Train a one-shot NB201 supernet by path sampling (RandNAS, FairNAS, MultiPaths); see darts_tse/cli/train_oneshot.py.

    python scripts/train_oneshot.py --sampler random --dataset cifar10 --epochs 50 --seed 0
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.train_oneshot import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
