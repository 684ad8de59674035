"""What the command lines that run the epoch loop share (``train_search.py``, ``scripts/train_oneshot.py``): the flags
of the data, the run, the supernet, the weight optimizer and tracking; and one ``main`` (parse → config → run_search,
resume with the checkpoint's settings, SIGTERM handled like Ctrl-C, one-line errors).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Callable

from ..config import COMPILE_MODES, DATASETS, LR_SCHEDULES, OP_LISTS, PRECISIONS, SPACES, WANDB_MODES, RunConfig
from ..trust import TRUST_FLAG, TRUST_HELP, check_recorded_sources
from .vocabulary import add_output_flags, console_echo

ParserFactory = Callable[[], argparse.ArgumentParser]


def optional_float(text: str) -> float | None:
    """A float, or None for 'none' / 'off' (a switch that turns a setting off)."""
    return None if text.strip().lower() in ("none", "off") else float(text)


def add_run_arguments(parser: argparse.ArgumentParser, defaults: RunConfig, *, out_help: str,
                      supernet: bool = True) -> None:
    """The flags of every :class:`~darts_tse.config.RunConfig` setting, in argument groups, plus --resume and
    --overwrite. `supernet=False` (a stand-alone network, whose space its genotype names) leaves out the search
    space's flags (--space, --layers, --ops, --partial-channels)."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default=defaults.dataset, help="(default %(default)s)")
    data.add_argument("--data-dir", default=defaults.data_dir,
                      help="dataset folder (default ./data; Fashion-MNIST: the Debian package's); folder: "
                           "DIR/<class>/<image>; npz: the .npz file")
    data.add_argument("--batch-size", type=int, default=defaults.batch_size, help="(default %(default)s)")
    data.add_argument("--max-train-samples", type=int, default=None,
                      help="smoke runs: keep the first n images of each half of a search's data, or of a training "
                           "run's training set")
    data.add_argument("--image-size", type=int, default=None,
                      help="folder / npz: resize (shorter side) and centre-crop images to S×S (default: folder 32, npz "
                           "the arrays' size)")
    data.add_argument("--synthetic-samples", type=int, default=defaults.synthetic_samples,
                      help="synthetic dataset size (default %(default)s)")
    data.add_argument("--synthetic-image-size", type=int, default=defaults.synthetic_image_size,
                      help="(default %(default)s)")

    run = parser.add_argument_group("run")
    run.add_argument("--epochs", type=int, default=defaults.epochs, help="(default %(default)s)")
    run.add_argument("--steps-per-epoch", type=int, default=None,
                     help="cap on training minibatches per epoch, and on search-valid evaluation batches (smoke runs)")
    run.add_argument("--seed", type=int, default=defaults.seed, help="0 .. 2^32-1 (default %(default)s)")
    run.add_argument("-o", "--out", default=None, help=out_help)
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out after its last finished epoch (settings not given are the "
                          "checkpoint's)")
    run.add_argument("--overwrite", action="store_true",
                     help="start over in an --out that holds another run's files: deletes exactly those files "
                          "(and says which) first")
    run.add_argument(TRUST_FLAG, action="store_true", default=argparse.SUPPRESS,  # absent unless given: not a setting
                     help="--resume: " + TRUST_HELP)
    run.add_argument("--device", default=defaults.device, help="auto, cpu, cuda, cuda:1 ... (default %(default)s)")
    run.add_argument("--threads", type=int, default=None,
                     help="CPU threads for torch (default: torch's choice; recorded, since exact resume needs the same)")
    run.add_argument("--deterministic", action="store_true",
                     help="deterministic kernels (torch.use_deterministic_algorithms, cuDNN deterministic, "
                          "CUBLAS_WORKSPACE_CONFIG): bit-exact reruns on one GPU, at some speed (docs/tracking.md)")
    add_output_flags(run)

    net = parser.add_argument_group("supernet" if supernet else "network")
    if supernet:
        net.add_argument("--space", choices=SPACES, default=defaults.space,
                         help="the search space: NAS-Bench-201 or DARTS' (docs/darts_space.md) (default %(default)s)")
    net.add_argument("--C", type=int, default=defaults.C, help="channels of the first stage (default %(default)s)")
    net.add_argument("--N", type=int, default=defaults.N, help="NB201: cells per stage (default %(default)s)")
    if supernet:
        net.add_argument("--layers", type=int, default=defaults.layers,
                         help="DARTS space: cells of the supernet, reductions at layers//3 and 2·layers//3 "
                              "(default %(default)s)")
        net.add_argument("--ops", choices=OP_LISTS, default=defaults.ops,
                         help="DARTS space: its 8 ops, or DrNAS' 7 without none (default %(default)s)")
        net.add_argument("--partial-channels", type=int, default=None, metavar="K",
                         help="DARTS space: PC-DARTS' channel sampling, each mixed op sees C/K channels (default off)")
    net.add_argument("--track-running-stats", action="store_true",
                     help="cell BatchNorm tracks running statistics (default off)")
    net.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="use NCHW memory format")

    fast = parser.add_argument_group("fast paths (each off by default; docs/benchmarks.md says what each measured)")
    fast.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                      help="bf16: torch.autocast(bfloat16) around every forward of the supernet (weight steps, α "
                           "passes, evaluation); losses, gradients, weights and optimizers stay float32 "
                           "(default %(default)s)")
    fast.add_argument("--compile", choices=COMPILE_MODES, default=defaults.compile, metavar="MODE",
                      help="torch.compile the supernet's mixed forward (and its backward) with this mode: "
                           f"{', '.join(COMPILE_MODES)} (reduce-overhead: CUDA graphs on CUDA); default: eager")
    fast.add_argument("--cudnn-benchmark", action="store_true",
                      help="CUDA: torch.backends.cudnn.benchmark = True (autotuned convolutions; not bit-reproducible)")
    fast.add_argument("--data-on-device", action="store_true",
                      help="copy both uint8 halves of the data to the device once and gather, augment and normalise "
                           "every batch there (the same batches, no host work per step)")

    weights = parser.add_argument_group("weight optimizer (SGD, cosine schedule)")
    weights.add_argument("--lr", type=float, default=defaults.lr, help="(default %(default)s)")
    weights.add_argument("--lr-min", type=float, default=defaults.lr_min, help="(default %(default)s)")
    weights.add_argument("--momentum", type=float, default=defaults.momentum, help="(default %(default)s)")
    weights.add_argument("--no-nesterov", dest="nesterov", action="store_false", help="plain momentum")
    weights.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="(default %(default)s)")
    weights.add_argument("--grad-clip", type=optional_float, default=defaults.grad_clip,
                         help="max gradient norm of the weights, > 0; 'none' switches clipping off (default %(default)s)")
    weights.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=defaults.lr_schedule,
                         help="epoch: the cosine steps after each epoch; step: it moves every step, as the TSE code's "
                              "one-shot supernet (default %(default)s)")

    track = parser.add_argument_group("benchmark and tracking")
    track.add_argument("--benchmark", default=None,
                       help="NB201: table CSV, official .pth or NATS-Bench directory (default: offline valid-only "
                            "data); DARTS: the NB301 surrogate model_v2.onnx (default: no benchmark numbers)")
    track.add_argument("--wandb", choices=WANDB_MODES, default=defaults.wandb,
                       help="W&B mode; WANDB_MODE overrides (default %(default)s)")
    track.add_argument("--wandb-project", default=defaults.wandb_project, help="(default %(default)s)")
    track.add_argument("--wandb-group", default=None, help="(default: the method)")
    track.add_argument("--wandb-tags", nargs="*", default=[], help="tags of the W&B run")


class Terminated(KeyboardInterrupt):
    """SIGTERM (e.g. a pre-empted job): handled like Ctrl-C, so the W&B run is closed and the exit is clean."""

    exit_code = 143  # 128 + SIGTERM


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def given_settings(build_parser: ParserFactory, argv: list[str] | None) -> dict:
    """Only the settings the command line names (no argparse defaults): what a resume takes over the checkpoint's."""
    parser = build_parser()
    for action in parser._actions:  # argparse has no public way to tell a given flag from its default
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    for switch in ("resume", "overwrite", "trust_run_files"):
        given.pop(switch, None)
    return given


def run_main(build_parser: ParserFactory, kind: type[RunConfig], argv: list[str] | None, *, command: str,
             prepare: Callable[[dict, dict, bool], tuple[dict, dict]] | None = None) -> int:
    """Parse `argv`, build the config (or, with --resume, the checkpoint's with the given flags on top) and run it.
    `prepare(args, given, resume)`, where given, turns the parsed flags (all, and those named) into settings first
    (e.g. a genotype's source into the genotype). Exit codes: 0 done, 130 Ctrl-C, 143 SIGTERM (the checkpoint is
    kept either way); a user's error propagates to the command's :func:`~darts_tse.cli.errors.cli_main` (one line,
    exit 2)."""
    args = vars(build_parser().parse_args(argv))
    resume, overwrite, trusted = args.pop("resume"), args.pop("overwrite"), args.pop("trust_run_files", False)
    if resume and not args["out"]:
        print("error: --resume needs --out, the run directory to continue", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ..search import resumed_config, run_search  # imported late so --help stays fast

    previous = signal.signal(signal.SIGTERM, _raise_terminated) if _in_main_thread() else None
    try:
        given = given_settings(build_parser, argv)
        if prepare is not None:
            args, given = prepare(args, given, resume)
        config = resumed_config(args["out"], given, kind) if resume else kind(**args).resolve(set(given))
        if resume:  # what only the checkpoint names is not unpickled (docs/tracking.md)
            check_recorded_sources(config.to_dict(), set(given), trusted=trusted,
                                   where=f"the checkpoint in {args['out']}")
        if not isinstance(config, kind):
            print(f"error: {args['out']} holds a {config.kind} run, not a {kind.kind} run; resume it with the command "
                  f"that started it", file=sys.stderr)
            return 2
        run_search(config, resume=resume, overwrite=overwrite, resume_command=f"{command} --resume --out {{out}}",
                   echo=console_echo)
    except KeyboardInterrupt as interrupt:
        return 143 if isinstance(interrupt, Terminated) else 130  # 128 + SIGTERM / SIGINT, as a shell reports them
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
