#!/usr/bin/env python
"""Time whole search epochs of every method (the per-epoch evaluation included) at a given size on a given device.

    python scripts/bench_search.py --device cuda -o search_gpu.json

See darts_tse/perf/search_bench.py for what is timed, and docs/benchmarks.md for results and the GPU commands.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.bench_search import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
