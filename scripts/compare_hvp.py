#!/usr/bin/env python
"""Second-order DARTS: how far the finite-difference Hessian-vector product is from the exact one (double backward).

    python scripts/compare_hvp.py --C 16 --N 5 --batch-size 64 --image-size 32 --batches 3

See darts_tse/perf/hvp_compare.py, and docs/benchmarks.md for results.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.compare_hvp import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
