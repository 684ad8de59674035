"""``scripts/sweep.py`` / ``darts-tse sweep``: many searches at once, a grid of train_search.py flags, or (``--command
train-genotype``) many training runs of found cells, a grid of train_genotype.py flags, as submitit jobs on this
machine (``--executor local``) or on SLURM (``--executor slurm``); pre-emption safe, resumable, one W&B group per
configuration (a search's method; a training run's train-<protocol> and genotype).

    python scripts/sweep.py --grid method=darts,darts-tse,drnas,drnas-tse seed=0,1,2 K=100 --dataset cifar10 \\
        --executor slurm --partition gpu --gpus-per-job 1 --time 120 --out runs/sweep-nb201
    python scripts/sweep.py --grid method=darts,darts-tse seed=0,1 --epochs 10 --executor local --max-parallel 2 \\
        --out runs/sweep-local                                  # one job per GPU, here two at a time
    python scripts/sweep.py --status runs/sweep-nb201           # queued / running epoch e / done / failed (why)
    python scripts/sweep.py --resubmit-failed runs/sweep-nb201 --trust-run-files  # the failed jobs, from checkpoints
    python scripts/compare_runs.py runs/sweep-nb201/*/          # mean ± std over seeds
    python scripts/sweep.py --command train-genotype --grid genotype=2066,5181,87 seed=0,1,2 --protocol nb201 \
        --C 8 --N 1 --epochs 10 --dataset npz --data-dir data.npz --max-parallel 2 --out runs/sweep-train
    python scripts/compare_runs.py runs/sweep-train/*/          # test accuracy, mean ± std over seeds, per genotype

Each grid axis is a flag of the jobs' command without its dashes (NAME=V1,V2,...): train_search.py's (--command
search, the default) or train_genotype.py's (--command train-genotype; genotype=V1,V2 gives NB201 indices or strings,
DARTS names, files or run directories without commas); every other flag of that command is passed to every job. Each job's run directory is <--out>/<its axis values>; sweep.json records the grid, each job's
command and its job ids. Re-running the same command skips the jobs that are done (or queued, or running) and
continues the others from their checkpoints; nothing in the folder is deleted or overwritten.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import darts_tse

from ..commands import invocation
from ..cpus import threads_per_job
from ..files import LOCK_FILE, lock_held
from ..trust import TRUST_FLAG, check_recorded_commands
from ..sweeps import (
    DONE_STATE,
    FAILED,
    NOT_SUBMITTED,
    RESTARTED_DIR,
    SWEEP_FILE,
    LocalOptions,
    LocalPool,
    SlurmOptions,
    Sweep,
    SweepError,
    format_status,
    job_status,
    load_sweep,
    parse_axes,
    pythonpath,
    pythonpath_setup,
    require_slurm,
    sbatch_script,
    submit_slurm,
    sweep_lock,
    sweep_status,
    this_process,
    visible_gpus,
)
from .sweep_commands import SEARCH, SWEEP_COMMANDS, sweep_command
from .sweep_job import SweepJob
from .sweep_plan import plan_jobs
from .errors import OneLineArgumentParser, cli_main
from .vocabulary import pass_output_flags

ROOT = Path(darts_tse.__file__).resolve().parents[1]  # jobs import the darts_tse this command imported
DEFAULT_CPUS_PER_JOB = 2  # SLURM: the search's Python loop and W&B's writer process (no data-loader workers)
LOCAL_ONLY, SLURM_ONLY = ("max_parallel", "gpus", "jobs_per_gpu"), ("partition", "account", "cpus_per_job", "mem_gb",
                                                     "array_parallelism", "sbatch")
OPTIONS = ("executor", "gpus_per_job", "time", "setup", "max_timeouts", *LOCAL_ONLY, *SLURM_ONLY)


def _at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _gpu_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be GPU numbers separated by commas (e.g. 0,1,2,3), got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False,  # an abbreviated flag of the jobs must not match ours
                                     usage="%(prog)s [--command search|train-genotype] --grid AXIS=V1,V2 [AXIS=...] "
                                           "--out DIR [the command's flags] [executor options] | --status DIR | "
                                           "--resubmit-failed DIR")
    what = parser.add_argument_group("what to do")
    what.add_argument("--command", choices=list(SWEEP_COMMANDS), default=None,
                      help="what each job runs: search (train_search.py; the default for a new sweep) or "
                           "train-genotype (scripts/train_genotype.py); a re-run takes the sweep's own")
    what.add_argument("--grid", nargs="+", metavar="AXIS=V1,V2", help="the axes: flags of the command without dashes")
    what.add_argument("-o", "--out", help="the sweep folder (one run directory per job inside it)")
    what.add_argument("--dry-run", action="store_true", help="print the jobs and the job script; submit nothing")
    what.add_argument("--status", metavar="DIR", help="print each job's state and the W&B sync command")
    what.add_argument("--resubmit-failed", metavar="DIR", help="submit the failed jobs of sweep DIR again")
    what.add_argument(TRUST_FLAG, action="store_true",
                      help="run what sweep.json records and this command line does not give again: the job flags "
                           "(--resubmit-failed) and the --setup / --sbatch lines; read them first (a sweep folder "
                           "from someone else could run anything)")

    run = parser.add_argument_group("executor (re-runs and --resubmit-failed reuse the recorded ones)")
    run.add_argument("--executor", choices=("local", "slurm"), default=None, help="(default local)")
    run.add_argument("--gpus-per-job", type=int, choices=(0, 1), default=None,
                     help="a job uses one device: 1 GPU (default on slurm, and here where GPUs are visible) or 0 (CPU)")
    run.add_argument("--time", type=_at_least(1), default=None,
                     help="minutes per job before it is requeued (slurm default 120; local default: no limit)")
    run.add_argument("--setup", action="append", default=None, metavar="LINE",
                     help="a shell line run before each job, e.g. 'module load cuda' (repeatable)")
    run.add_argument("--max-timeouts", type=_at_least(0), default=None,
                     help="how often a job that reached --time is requeued (default 3; pre-emptions do not count)")
    local = parser.add_argument_group("--executor local (this machine)")
    local.add_argument("--max-parallel", type=_at_least(1), default=None,
                       help="jobs at once (default: one per GPU, 1 on the CPU)")
    local.add_argument("--gpus", type=_gpu_list, default=None, metavar="0,1,...",
                       help="the GPUs to give jobs, one each (default: CUDA_VISIBLE_DEVICES, else nvidia-smi's)")
    local.add_argument("--jobs-per-gpu", type=_at_least(1), default=None,
                       help="jobs sharing one GPU at once, for runs that fit side by side (default 1; "
                            "how many fit: scripts/bench_search.py's peak memory, docs/benchmarks.md)")
    slurm = parser.add_argument_group("--executor slurm (sbatch)")
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--account", default=None)
    slurm.add_argument("--cpus-per-job", type=_at_least(1), default=None,
                       help=f"CPU cores per job (default {DEFAULT_CPUS_PER_JOB}: the run's loop and W&B's writer; "
                            f"more for --gpus-per-job 0, with --threads)")
    slurm.add_argument("--mem-gb", type=_positive_float, default=None)
    slurm.add_argument("--array-parallelism", type=_at_least(1), default=None,
                       help="jobs of the array running at once (default: all)")
    slurm.add_argument("--sbatch", action="append", default=None, metavar="KEY=VALUE",
                       help="an extra #SBATCH --KEY=VALUE line, e.g. qos=high or constraint=a100 (repeatable)")
    pass_output_flags(parser)
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args, fixed = build_parser().parse_known_args(argv)
    modes = [flag for flag, given in (("--grid", args.grid), ("--status", args.status),
                                      ("--resubmit-failed", args.resubmit_failed)) if given]
    if len(modes) != 1:
        raise SweepError("give one of --grid AXIS=V1,V2 ... --out DIR, --status DIR or --resubmit-failed DIR"
                         if not modes else f"{' and '.join(modes)} do not go together; give one of them")
    if args.command and not args.grid:
        raise SweepError(f"--command goes with --grid; {modes[0]} takes the sweep's own (its {SWEEP_FILE})")
    if args.status:
        if fixed or args.trust_run_files:
            raise SweepError(f"--status takes no other flags (got {' '.join(fixed) or TRUST_FLAG})")
        sweep = load_sweep(args.status)
        print(format_status(sweep, sweep_status(sweep)))
        return 0
    if args.resubmit_failed:
        if fixed:
            raise SweepError(f"--resubmit-failed takes the recorded jobs; job flags such as {fixed[0]} need a new "
                             f"sweep")
        return resubmit_failed(Path(args.resubmit_failed), args)
    return run_grid(args, fixed)


def run_grid(args: argparse.Namespace, fixed: list[str]) -> int:
    """Plan and check every job, then submit the ones not done, queued or running (or, with --dry-run, show them)."""
    if not args.out:
        raise SweepError("a sweep needs --out DIR, its folder (re-running the same command continues it)")
    folder = Path(args.out)
    stray = [token for token in fixed if "=" in token and not token.startswith("-")]
    if stray:
        raise SweepError(f"{stray[0]} looks like a grid axis after other flags; list every axis right after --grid")
    axes = parse_axes(args.grid)
    recorded = load_sweep(folder) if (folder / SWEEP_FILE).is_file() else None
    command = args.command or (recorded.command if recorded else SEARCH)
    if recorded and recorded.command != command:
        raise SweepError(f"{folder} holds a sweep of {recorded.command} jobs, not {command} jobs; re-run it with "
                         f"--command {recorded.command}, or choose a new --out")
    jobs, notes = plan_jobs(folder, axes, fixed, sweep_command(command).name)
    for note in notes:
        print(f"note: {note}")
    planned = Sweep(folder, {axis.name: list(axis.values) for axis in axes}, fixed, jobs, command=command)
    options, record = resolve_options(args, recorded.executor if recorded else {}, folder)
    if args.dry_run:
        print(dry_run_text(planned, options))
        return 0
    if isinstance(options, SlurmOptions):
        require_slurm()
    if folder.exists() and not folder.is_dir():
        raise SweepError(f"--out {folder} is a file; give a folder for the sweep")
    if recorded is None and folder.is_dir() and any(path.name != LOCK_FILE for path in folder.iterdir()):
        raise SweepError(f"--out {folder} holds files but no {SWEEP_FILE}; the sweep will not mix its jobs with them: "
                         f"choose a new --out")
    folder.mkdir(parents=True, exist_ok=True)
    with sweep_lock(folder):
        sweep = load_sweep(folder) if (folder / SWEEP_FILE).is_file() else planned
        differences = sweep.differences(planned)
        if differences:
            raise SweepError(f"{folder} holds another sweep ({'; '.join(differences[:3])}); re-run it with its own "
                             f"grid and flags (see {folder / SWEEP_FILE}), or choose a new --out")
        return submit(sweep, options, record, lambda status: status.state in (NOT_SUBMITTED, FAILED))


def resubmit_failed(folder: Path, args: argparse.Namespace) -> int:
    """Submit the failed jobs of the sweep in `folder` again (they continue from their checkpoints)."""
    load_sweep(folder)  # a one-line error for a folder that is not a sweep, before taking its lock
    with sweep_lock(folder):
        sweep = load_sweep(folder)
        options, record = resolve_options(args, sweep.executor, folder)
        return submit(sweep, options, record, lambda status: status.state == FAILED,
                      recorded_jobs=not args.trust_run_files)


def resolve_options(args: argparse.Namespace, recorded: dict, folder: Path) -> tuple[LocalOptions | SlurmOptions, dict]:
    """The executor options: those given, else those recorded in sweep.json (for the same executor), else the
    defaults; and the values to record for the next run."""
    executor = args.executor or recorded.get("executor") or "local"
    if recorded.get("executor") != executor:
        recorded = {}
    values = {name: getattr(args, name) if getattr(args, name) is not None else recorded.get(name) for name in OPTIONS}
    values["executor"] = executor
    recorded_lines = [*(f"setup: {line}" for line in recorded.get("setup") or [] if args.setup is None),
                      *(f"sbatch: {line}" for line in recorded.get("sbatch") or [] if args.sbatch is None)]
    check_recorded_commands(recorded_lines, trusted=args.trust_run_files or args.dry_run, where=str(folder / SWEEP_FILE),
                            what="executor lines (--setup runs in a shell before each job)")
    wrong = [name for name in (SLURM_ONLY if executor == "local" else LOCAL_ONLY) if values[name] is not None]
    if wrong:
        other = "slurm" if executor == "local" else "local"
        raise SweepError(f"--{wrong[0].replace('_', '-')} is an option of --executor {other}; this sweep uses "
                         f"--executor {executor}")
    setup = list(values["setup"] or [])
    max_timeouts = 3 if values["max_timeouts"] is None else values["max_timeouts"]
    if executor == "slurm":
        options = SlurmOptions(time_min=values["time"] or 120, partition=values["partition"],
                               gpus_per_job=1 if values["gpus_per_job"] is None else values["gpus_per_job"],
                               cpus_per_job=values["cpus_per_job"] or DEFAULT_CPUS_PER_JOB, mem_gb=values["mem_gb"],
                               account=values["account"], array_parallelism=values["array_parallelism"],
                               sbatch=_sbatch(values["sbatch"] or []), setup=[pythonpath_setup(ROOT), *setup],
                               job_name=folder.name or "darts-tse-sweep", max_timeouts=max_timeouts)
    else:
        gpus = values["gpus"] if values["gpus"] is not None else visible_gpus()
        gpus_per_job = values["gpus_per_job"] if values["gpus_per_job"] is not None else int(bool(gpus))
        if gpus_per_job and not gpus:
            raise SweepError("--gpus-per-job 1, but this machine shows no GPU (CUDA_VISIBLE_DEVICES, nvidia-smi); "
                             "give --gpus 0,1,... or --gpus-per-job 0 to run the jobs on the CPU")
        slots = gpus if gpus_per_job else []
        # the jobs import this darts_tse through the environment submitit copies: no shell that cancel() cannot reach
        per_gpu = values["jobs_per_gpu"] or 1
        options = LocalOptions(max_parallel=values["max_parallel"] or len(slots) * per_gpu or 1, gpus=slots,
                               jobs_per_gpu=per_gpu, time_min=values["time"], setup=setup, max_timeouts=max_timeouts,
                               pythonpath=pythonpath(ROOT))
    return options, values


def _sbatch(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sign, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise SweepError(f"--sbatch {item!r} is not KEY=VALUE (e.g. --sbatch qos=high)")
        pairs[key] = value if sign else True  # a flag without a value: #SBATCH --KEY
    return pairs


def dry_run_text(sweep: Sweep, options: LocalOptions | SlurmOptions) -> str:
    """The jobs and their commands, and what the executor would run them with (nothing is written)."""
    width = max(len(job.name) for job in sweep.jobs)
    lines = [f"{len(sweep.jobs)} jobs in {sweep.folder} (dry run: nothing submitted or written)", ""]
    lines += [f"{job.name:<{width}}  {job.command}" for job in sweep.jobs]
    lines.append("")
    if isinstance(options, SlurmOptions):
        lines.append(f"--executor slurm: one array of {len(sweep.jobs)} jobs (array task i runs the i-th job above, "
                     f"with --resume once it has a checkpoint); its sbatch script:")
        lines += ["", sbatch_script(sweep.submitit_folder.absolute(), options, len(sweep.jobs))]
    else:
        share = "one each" if options.jobs_per_gpu == 1 else f"up to {options.jobs_per_gpu} jobs on each"
        where = f"GPU {', '.join(map(str, options.gpus))} ({share})" if options.gpus else "the CPU"
        lines.append(f"--executor local: {options.max_parallel} at a time, on {where}; time limit "
                     f"{f'{options.time_min} min' if options.time_min else 'none'}; "
                     f"{threads_per_job(options.max_parallel)} CPU thread(s) each (unless --threads or OMP_NUM_THREADS say otherwise)")
    return "\n".join(lines)


def submit(sweep: Sweep, options: LocalOptions | SlurmOptions, record: dict, chosen, *,
           recorded_jobs: bool = False) -> int:
    """Submit the jobs whose status `chosen` accepts (`record`: the executor options sweep.json keeps); a local
    sweep runs them here and returns when they end. `recorded_jobs`: their flags come from sweep.json, not from
    this command line, and are refused (shown) until the user confirms them with --trust-run-files."""
    runner = sweep_command(sweep.command)
    statuses = sweep_status(sweep)
    todo = [job for job, status in zip(sweep.jobs, statuses) if chosen(status)]
    check_recorded_commands([shlex.join([runner.script, *sweep.job_argv(job)]) for job in todo],
                            trusted=not recorded_jobs, where=str(sweep.path), what="job commands")
    for status in statuses:
        if not chosen(status):
            print(f"skip {status.name}: {status.state}{f' ({status.detail})' if status.detail else ''}")
    if not todo:
        print(f"nothing to submit; {invocation('sweep')} --status {sweep.folder} shows where each job stands")
        return 0
    sweep.executor = record
    work = [(job.name, SweepJob(job.name, sweep.job_argv(job), str(sweep.folder.absolute() / RESTARTED_DIR),
                                runner.name)) for job in todo]
    if isinstance(options, SlurmOptions):
        return submit_to_slurm(sweep, options, work)
    return run_here(sweep, options, work)


def submit_to_slurm(sweep: Sweep, options: SlurmOptions, work: list[tuple[str, SweepJob]]) -> int:
    """Submit the jobs as one SLURM array and record their job ids."""
    job_ids = submit_slurm(sweep.submitit_folder, options, [function for _, function in work])
    for (name, _), job_id in zip(work, job_ids):
        sweep.job(name).add_submission(job_id, "slurm")
    sweep.save()
    print(f"submitted {len(work)} jobs to SLURM (job ids {job_ids[0]} ... {job_ids[-1]}); "
          f"{invocation('sweep')} --status {sweep.folder} shows where each stands")
    return 0


def run_here(sweep: Sweep, options: LocalOptions, work: list[tuple[str, SweepJob]]) -> int:
    """Run the jobs on this machine until they end; 0 when all are done, 1 when some failed, 130 on Ctrl-C."""
    sweep.launcher = this_process()
    sweep.save()
    print(f"running {len(work)} jobs here, {options.max_parallel} at a time (Ctrl-C stops them; re-running the "
          f"command continues them)")

    def started(name: str, job_id: str, extra: dict) -> None:
        sweep.record_submission(sweep.job(name), job_id, "local", **extra)
        gpu = "" if extra["gpu"] is None else f", GPU {extra['gpu']}"
        print(f"started {name} (job {job_id}{gpu})")

    def ended(name: str, job) -> None:
        status = job_status(sweep, sweep.job(name))
        print(f"{status.state} {name}{f': {status.detail}' if status.detail else ''}")

    try:
        LocalPool(sweep.submitit_folder, options).run(work, started, ended,
                                                      busy=lambda name: lock_held(sweep.run_dir(sweep.job(name))))
    except KeyboardInterrupt:
        print("interrupted: the running jobs were stopped and keep the checkpoints of their last finished epochs; "
              "re-run the same command to continue them")
        return 130
    finally:
        sweep.launcher = None
        sweep.save()
    print(format_status(sweep, sweep_status(sweep)))
    return 0 if all(job_status(sweep, sweep.job(name)).state == DONE_STATE for name, _ in work) else 1
