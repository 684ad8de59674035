#!/usr/bin/env python
"""Print the genotype a search found: the latest finished epoch's by default, or that of --epoch (0-based, as in
metrics.jsonl), read from the run directory's genotypes.jsonl (genotype.json as a fallback).

Examples (from the repository root):
    python scripts/export_genotype.py runs/darts-tse-K100-cifar10-seed0-20250101-120000
    python scripts/export_genotype.py runs/A --epoch 9 --format json   # + NB201 numbers, probabilities, raw α
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.export_genotype import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
