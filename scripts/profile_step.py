#!/usr/bin/env python
"""Where a search step's CPU time goes: per-op self time of weights-only vs DARTS-TSE joint (or other cases).

    python scripts/profile_step.py --C 16 --N 5 --batch-size 64 --cases weights_only darts_tse_joint --rounds 3

See darts_tse/perf/step_profile.py for how it is measured and docs/benchmarks.md for a reading of the output.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.profile_step import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
