#!/usr/bin/env bash
# Issue 14's GPU measurements in one script, for a lent H100 / H200 (docs/benchmarks.md, "GPU: how to measure").
#
#   bash scripts/gpu_measure.sh CARRY OUT [STAGE ...]
#
# CARRY  what travels with the checkout, prepared on a CPU machine (docs/benchmarks.md): wheels/*.whl (packages the
#        GPU image lacks: submitit for compare), nb201_accuracy.csv (NB201 table), cifar10_subset.npz (real CIFAR-10,
#        ~10 %), fashion-mnist/*-ubyte.gz
# OUT    a folder; everything is written to a work folder and packed into OUT/gpu_results.tgz (one file) after every
#        stage, so a call killed in a later stage still brings back the stages before it
# STAGE  env tests step search fast oneshot share compare (default: env tests step search fast share); each stage
#        has its own time limit (seconds, below, each <= 540 s) so that a stage that hangs cannot eat the lease; the
#        device tool's calls are capped at 600 s, so give one stage (plus env) per call
#
# Every command is printed to commands.txt before it runs, with its exit status after it. For a dry run of the
# plumbing on a CPU machine: DEVICE=cpu STEP_SIZE="--C 2 --N 1 --batch-size 4 --image-size 8 --repeats 1 --warmup 0"
# SEARCH_SIZE="--C 2 --N 1 --batch-size 4 --image-size 8 --train-images 16 --steps-per-epoch 2" (the stages that
# need CUDA then say so); FAST_FLAGS="--precision bf16" leaves out the compile (minutes on a CPU).
set -uo pipefail
device=${DEVICE:-cuda}
step_size=(${STEP_SIZE:-})
search_size=(${SEARCH_SIZE:-})
carry=$(cd "$1" && pwd); out=$2; shift 2
stages=${*:-env tests step search fast share}
work=$(mktemp -d /tmp/gpu_measure.XXXX)
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ls "$carry"/wheels/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$carry"/wheels/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
py=python3
FAST=(${FAST_FLAGS:---precision bf16 --compile reduce-overhead --cudnn-benchmark --data-on-device})  # the fast paths
STEP_FAST=(); for flag in "${FAST[@]}"; do [[ $flag == --data-on-device ]] || STEP_FAST+=("$flag"); done  # bench_step's

pack() {  # everything so far into OUT/gpu_results.tgz, replaced atomically
    tar czf "$out/gpu_results.tgz.partial" -C "$work" --exclude='checkpoint.pt' . && mv "$out/gpu_results.tgz.partial" "$out/gpu_results.tgz"
}

run() {  # run NAME LIMIT_S COMMAND...: log to NAME.log, record the command and its exit status
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit}s): $*" >> "$work/commands.txt"
    local start=$SECONDS
    timeout "$limit" "$@" > "$work/$name.log" 2>&1
    echo "   exit $? after $((SECONDS - start)) s" >> "$work/commands.txt"
    tail -n 25 "$work/$name.log"
}

for stage in $stages; do
    case $stage in
    env)
        nvidia-smi > "$work/nvidia-smi.txt" 2>&1
        $py -c "import platform, torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn',
torch.backends.cudnn.version(), torch.cuda.get_device_name(0), 'python', platform.python_version())" \
            | tee "$work/versions.txt" ;;
    tests)  # the CUDA-only tests: device-resident batches without host syncs, cudnn.benchmark, the fast cell on CUDA,
            # compile reduce-overhead (CUDA graphs) against eager
        run pytest_cuda 420 $py -m pytest -q -p no:cacheprovider tests/test_fast_paths.py tests/test_data.py \
            tests/test_supernet.py -k "cuda or device or compiled" -rs ;;
    step)
        run bench_step_fp32 240 $py scripts/bench_step.py --device "$device" --repeats 20 --warmup 3 "${step_size[@]}" \
            --json "$work/step_fp32.json"
        run bench_step_fast 300 $py scripts/bench_step.py --device "$device" --repeats 20 --warmup 3 "${step_size[@]}" \
            "${STEP_FAST[@]}" \
            --json "$work/step_fast.json" ;;
    search)  # paper scale: C=16 N=5 b=64 32x32, 25k images per half (391 minibatches), the evaluation included
        run bench_search_fp32 540 $py scripts/bench_search.py --device "$device" --methods darts darts-tse drnas drnas-tse \
            "${search_size[@]}" --json "$work/search_fp32.json" ;;
    fast)
        run bench_search_fast 540 $py scripts/bench_search.py --device "$device" --methods darts darts-tse drnas drnas-tse \
            "${search_size[@]}" "${FAST[@]}" --json "$work/search_fast.json" ;;
    oneshot)
        run bench_search_oneshot 540 $py scripts/bench_search.py --device "$device" --methods oneshot-random oneshot-fair \
            oneshot-multipath "${search_size[@]}" --json "$work/search_oneshot.json" ;;
    share)  # k DARTS-TSE searches side by side on one GPU (100-minibatch epochs), for searches per hour
        for k in 1 2 4 8; do
            echo "== share k=$k" >> "$work/commands.txt"
            for i in $(seq "$k"); do
                timeout 125 $py scripts/bench_search.py --device "$device" --methods darts-tse --steps-per-epoch 100 \
                    "${search_size[@]}" --seed "$i" --json "$work/share_k${k}_$i.json" > "$work/share_k${k}_$i.log" 2>&1 &
            done
            wait
        done
        $py - "$work" <<'EOF' | tee "$work/share_summary.txt"
import glob, json, sys
# projected_search_minutes: 50 whole epochs (391 minibatches, 391 eval batches) at the rates of the 100-minibatch epochs
print("k  ms/minibatch (each)  projected minutes per search  searches per hour (all k)  peak MiB (each)")
for k in (1, 2, 4, 8):
    rows = [json.load(open(f))["methods"]["darts-tse"] for f in sorted(glob.glob(f"{sys.argv[1]}/share_k{k}_*.json"))]
    if not rows:
        continue
    minutes = [r["projected_search_minutes"] for r in rows]
    print(k, [round(r["ms_per_minibatch"], 1) for r in rows], [round(m, 1) for m in minutes],
          round(sum(60 / m for m in minutes), 1), [None if r["peak_mem_mb"] is None else round(r["peak_mem_mb"]) for r in rows])
EOF
        ;;
    compare)  # the comparison with the paper's network and epochs, on the real CIFAR-10 subset that travels (~10 %:
              # 41 minibatches an epoch); 12 searches side by side. Re-running the stage on the same machine continues it
        run compare_methods 540 $py scripts/compare_methods.py --methods darts darts-tse drnas drnas-tse --seeds 0 1 2 \
            --dataset npz --data-dir "$carry/cifar10_subset.npz" --benchmark "$carry/nb201_accuracy.csv" \
            --out /tmp/gpu_compare --preset paper --max-parallel 12 --jobs-per-gpu 12 --wandb disabled --no-progress
        cp -r /tmp/gpu_compare "$work/compare" ;;
    *) echo "unknown stage $stage" >> "$work/commands.txt" ;;
    esac
    pack
done
echo "packed $(du -h "$out/gpu_results.tgz" | cut -f1) into $out/gpu_results.tgz"
