"""``scripts/compare_hvp.py`` / ``darts-tse compare-hvp``: how far second-order DARTS' finite-difference
Hessian-vector product (ε = radius/‖v‖, DARTS: 0.01) is from the exact one (double backward), and how far the whole
unrolled α gradient moves with it, batch by batch; see :mod:`darts_tse.perf.hvp_compare`.

    python scripts/compare_hvp.py --C 16 --N 5 --batch-size 64 --image-size 32 --batches 3 -o hvp_full.json
    python scripts/compare_hvp.py --C 8 --N 1 --batch-size 16 --image-size 16 --batches 5 --radius 0.01 0.001
    python scripts/compare_hvp.py --dataset npz --data-dir ../shared/cifar10-subset/cifar10_subset.npz --train-steps 20
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..config import DATASETS, METHODS, RunConfig
from ..files import atomic_write_text, check_output_file
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import add_output_flags, deprecated_alias


def _positive(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


@cli_main
def main(argv=None) -> int:
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=3, help="batch pairs (search-train, search-valid) compared")
    p.add_argument("--train-steps", type=int, default=0, help="weight steps before the first comparison")
    p.add_argument("--dataset", choices=DATASETS, default="synthetic")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--mixing", choices=tuple(dict.fromkeys(method.mixing for method in METHODS.values())), default="softmax", help="softmax (DARTS) or dirichlet (DrNAS)")
    p.add_argument("--xi", type=_positive, default=0.025, help="ξ, the weights' learning rate in w' = w − ξ∇L_train")
    p.add_argument("--radius", type=_positive, nargs="+", default=[0.01], help="finite-difference radii (ε = radius/‖v‖)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="the network and batches in this precision (float64: the finite difference without float32 round-off)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", dest="json", type=Path, default=None, metavar="FILE.json",
                   help="write the results to this JSON file (a new file, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    deprecated_alias(p, "--json", "--out")
    add_output_flags(p)
    args = p.parse_args(argv)
    for name in ("C", "N", "batch_size", "image_size", "batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.train_steps < 0 or (args.threads is not None and args.threads < 1):
        p.error("--train-steps must be >= 0 and --threads >= 1")
    # the network's size, the image size, the seed and the data, checked as a run checks them
    RunConfig(dataset=args.dataset, data_dir=args.data_dir, C=args.C, N=args.N, batch_size=args.batch_size,
              image_size=args.image_size, seed=args.seed, threads=args.threads, wandb="disabled").validate()
    if args.json is not None:
        check_output_file(args.json, (".json",), "--out", overwrite=args.overwrite)
    from ..perf import HVPCompareConfig, compare_hvp, format_hvp_table  # after parsing: torch loads here, so --help is fast

    result = compare_hvp(HVPCompareConfig(
        C=args.C, N=args.N, batch_size=args.batch_size, image_size=args.image_size, batches=args.batches,
        train_steps=args.train_steps, dataset=args.dataset, data_dir=args.data_dir, mixing=args.mixing, xi=args.xi,
        radii=tuple(args.radius), dtype=args.dtype, device=args.device, threads=args.threads, seed=args.seed))
    print(format_hvp_table(result))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
