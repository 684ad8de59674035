#!/usr/bin/env python
"""Convert an official NAS-Bench-201 .pth or a NATS-Bench topology directory into a fast CSV table.

    python scripts/export_nb201_table.py NAS-Bench-201-v1_1-096897.pth -o nb201_table.csv
    python scripts/export_nb201_table.py NATS-tss-v1_0-3ffb9-simple -o nb201_table.csv

The table has the columns of nb201_accuracy.csv and is read by ``--benchmark nb201_table.csv`` in well under a second.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.export_nb201_table import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
