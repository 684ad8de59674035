#!/usr/bin/env python
"""Export the NB201 learning curves of a NATS-Bench topology directory into one curve store (.npz) for query-based NAS.

Examples and every flag: python scripts/export_nb201_curves.py --help (darts_tse/cli/export_nb201_curves.py).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout used without pip install

from darts_tse.cli.export_nb201_curves import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
