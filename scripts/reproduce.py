#!/usr/bin/env python
"""The paper's experiments, one command each: Table 2 (one-shot ranking) and Figure 4 (query-based NAS); see
darts_tse/cli/reproduce.py.

    python scripts/reproduce.py table2 --supernets runs/oneshot-* --benchmark nb201_table.csv
    python scripts/reproduce.py figure4 --curves nb201_curves.npz
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.reproduce import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
