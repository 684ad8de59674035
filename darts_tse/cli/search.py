"""``train_search.py`` / ``darts-tse-search``: search the NAS-Bench-201 space with DARTS, DARTS-TSE, DrNAS or DrNAS-TSE.

    python train_search.py --method darts-tse --K 100
    python train_search.py --method darts --dataset fashion-mnist --epochs 2 --C 8 --N 1 --steps-per-epoch 20
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from ..config import DATASETS, DRNAS_REGULARIZERS, METHODS, TSE_MODES, WANDB_MODES, SearchConfig

DEFAULTS = SearchConfig()


def optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off", "0") else float(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    method = parser.add_argument_group("method")
    method.add_argument("--method", choices=list(METHODS), default=DEFAULTS.method, help="search method (default %(default)s)")
    method.add_argument("--K", type=int, default=DEFAULTS.K, help="TSE: training minibatches per α step (default %(default)s)")
    method.add_argument("--tse-mode", choices=TSE_MODES, default=DEFAULTS.tse_mode,
                        help="TSE: joint = paper Algorithm 3 (one pass per minibatch); rollout = released code (default %(default)s)")
    method.add_argument("--order", type=int, choices=(1, 2), default=DEFAULTS.order,
                        help="DARTS/DrNAS: 1 = first order, 2 = unrolled second order (default %(default)s)")
    method.add_argument("--arch-warmup-epochs", type=int, default=DEFAULTS.arch_warmup_epochs,
                        help="epochs with α frozen at the start (default %(default)s)")
    method.add_argument("--drnas-reg", choices=DRNAS_REGULARIZERS, default=DEFAULTS.drnas_reg,
                        help="DrNAS regulariser: l2 (α-optimizer weight decay) or kl (KL to Dir(1) instead) (default %(default)s)")
    method.add_argument("--kl-weight", type=float, default=DEFAULTS.kl_weight, help="scale of the KL term (default %(default)s)")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default=DEFAULTS.dataset, help="(default %(default)s)")
    data.add_argument("--data-dir", default=DEFAULTS.data_dir, help="dataset folder (default ./data; Fashion-MNIST: the Debian package's); folder: DIR/<class>/<image>; "
                           "npz: the .npz file")
    data.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="(default %(default)s)")
    data.add_argument("--max-train-samples", type=int, default=None, help="keep the first n images of each half (smoke runs)")
    data.add_argument("--image-size", type=int, default=None,
                      help="folder / npz: resize (shorter side) and centre-crop images to S×S (default: folder 32, npz "
                           "the arrays' size)")
    data.add_argument("--synthetic-samples", type=int, default=DEFAULTS.synthetic_samples, help="synthetic dataset size (default %(default)s)")
    data.add_argument("--synthetic-image-size", type=int, default=DEFAULTS.synthetic_image_size, help="(default %(default)s)")

    run = parser.add_argument_group("run")
    run.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="(default %(default)s)")
    run.add_argument("--steps-per-epoch", type=int, default=None,
                     help="cap on training minibatches per epoch, and on search-valid evaluation batches (smoke runs)")
    run.add_argument("--seed", type=int, default=DEFAULTS.seed, help="(default %(default)s)")
    run.add_argument("--out", default=None, help="run directory (default runs/<method>[-K<K>]-<dataset>-seed<seed>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue the search in --out after its last finished epoch (settings not given are the checkpoint's)")
    run.add_argument("--device", default=DEFAULTS.device, help="auto, cpu, cuda, cuda:1 ... (default %(default)s)")
    run.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bars")

    net = parser.add_argument_group("supernet")
    net.add_argument("--C", type=int, default=DEFAULTS.C, help="channels of the first stage (default %(default)s)")
    net.add_argument("--N", type=int, default=DEFAULTS.N, help="cells per stage (default %(default)s)")
    net.add_argument("--track-running-stats", action="store_true", help="cell BatchNorm tracks running statistics (default off)")
    net.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="use NCHW memory format")

    weights = parser.add_argument_group("weight optimizer (SGD, cosine schedule)")
    weights.add_argument("--lr", type=float, default=DEFAULTS.lr, help="(default %(default)s)")
    weights.add_argument("--lr-min", type=float, default=DEFAULTS.lr_min, help="(default %(default)s)")
    weights.add_argument("--momentum", type=float, default=DEFAULTS.momentum, help="(default %(default)s)")
    weights.add_argument("--no-nesterov", dest="nesterov", action="store_false", help="plain momentum")
    weights.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay, help="(default %(default)s)")
    weights.add_argument("--grad-clip", type=optional_float, default=DEFAULTS.grad_clip,
                         help="max gradient norm of the weights; 'none' disables (default %(default)s)")

    arch = parser.add_argument_group("α optimizer (Adam)")
    arch.add_argument("--arch-lr", type=float, default=DEFAULTS.arch_lr, help="(default %(default)s)")
    arch.add_argument("--arch-beta1", type=float, default=DEFAULTS.arch_beta1, help="(default %(default)s)")
    arch.add_argument("--arch-beta2", type=float, default=DEFAULTS.arch_beta2, help="(default %(default)s)")
    arch.add_argument("--arch-weight-decay", type=float, default=DEFAULTS.arch_weight_decay,
                      help="L2 on α (default 1e-3; 0 for DrNAS with --drnas-reg kl, where the KL term replaces it)")

    track = parser.add_argument_group("NB201 and tracking")
    track.add_argument("--benchmark", default=None,
                       help="NB201 table CSV, official .pth or NATS-Bench directory (default: offline valid-only data)")
    track.add_argument("--wandb", choices=WANDB_MODES, default=DEFAULTS.wandb, help="W&B mode; WANDB_MODE overrides (default %(default)s)")
    track.add_argument("--wandb-project", default=DEFAULTS.wandb_project, help="(default %(default)s)")
    track.add_argument("--wandb-group", default=None, help="(default: the method)")
    track.add_argument("--wandb-tags", nargs="*", default=[], help="tags of the W&B run")
    del add
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (e.g. a pre-empted job): handled like Ctrl-C, so the W&B run is closed and the exit is clean."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def given_settings(argv: list[str] | None) -> dict:
    """Only the settings the command line names (no argparse defaults): what a resume takes over the checkpoint's."""
    parser = build_parser()
    for action in parser._actions:  # argparse has no public way to tell a given flag from its default
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    given.pop("resume", None)
    return given


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    resume = args.pop("resume")
    if resume and not args["out"]:
        print("error: --resume needs --out, the run directory to continue", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ..search import resumed_config, run_search  # imported late so --help stays fast
    from .errors import USER_ERRORS

    previous = signal.signal(signal.SIGTERM, _raise_terminated) if _in_main_thread() else None
    try:
        run_search(resumed_config(args["out"], given_settings(argv)) if resume else SearchConfig(**args), resume=resume)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        return 143 if isinstance(interrupt, Terminated) else 130  # 128 + SIGTERM / SIGINT, as a shell reports them
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
