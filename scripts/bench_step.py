#!/usr/bin/env python
"""Time one search minibatch: weights only, DARTS 1st order, DARTS-TSE joint/rollout, and xautodl's supernet.

    python scripts/bench_step.py --C 16 --N 5 --batch-size 64 --image-size 32 -o bench.json

See darts_tse/perf/step_bench.py for what is timed and how memory is measured, and docs/benchmarks.md for results.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.bench_step import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
