#!/usr/bin/env bash
# Issue 6's checks that need the GPU machine, as one call of the device tool (a task lent one
# gets 15 minutes of device time: one machine start and one run of this fit in it), in order:
#   1. TabDDPM's fit and generate times at the paper preset on Adult (deep_baselines_gpu.py),
#      stopped after TABDDPM_LIMIT_S (400 s: the call's 600 less set-up and a margin; 180 s
#      when TABSYN_RUNS leaves step 2 something to fit),
#      in this process with synthcity from carried wheels: that machine cannot reach the package
#      registry, so it cannot build TabDDPM's environment (6.9 GB here, far over a call's carry).
#   2. TABSYN at the paper preset for the dataset:seed pairs in TABSYN_RUNS (default: none;
#      every seed of German and Diabetes is fitted on the CPU machine with the pre-norm VAE),
#      all at once on the one GPU (small models on a few hundred rows), in what is left of
#      DEADLINE_S (560 s from the start; a call may run 600). The tables are scored on the CPU
#      machine afterwards, as in RESULTS.md "Paper preset: MLE-CatBoost within 0.10 of Original".
# On the CPU machine first: bash benchmarks/device_wheels.sh   (45 MB of wheels into .whl/)
# Then the device tool's run, with carry [".whl"] and timeout_s 600:
#   bash benchmarks/device_checks.sh
# Everything comes back as $OUT/device-checks.tar.gz (tables, logs, JSON) and $OUT/summary.txt.
# Then, here: tar xzf <files_at>/device-checks.tar.gz -C /tmp/dc, and score TABSYN's tables:
#   python -m bench run --preset paper --datasets DATASETS --synthesizers original csv \
#       --param 'csv.path=/tmp/dc/tables/{dataset}-{seed}/tabsyn-{dataset}-{seed}.csv' \
#       --seeds SEEDS --metrics mle mle_catboost --out /tmp/dc/scores
#   (DATASETS and SEEDS: those of TABSYN_RUNS; with none set, step 2 is skipped)
# Rehearsed on the CPU machine in a Python 3.12 venv shaped like that machine's (torch 2.11,
# numpy 2.5, pandas 3), 421 s, figures in RESULTS.md:
#   DEVICE=cpu PRESET=quick DDPM_DATASET=diabetes DEADLINE_S=420 OUT=/tmp/out \
#   TABSYN_RUNS="german:1234 diabetes:1234 german:1235 diabetes:1235 german:1236 diabetes:1236" \
#   bash <this file>
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for the results}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-paper}
DDPM_DATASET=${DDPM_DATASET:-adult}
began=$(date +%s)
work=$(mktemp -d)
site=$(mktemp -d)
if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl; then
    echo "error: could not install the wheels in .whl/: run benchmarks/device_wheels.sh here first"
    exit 1
fi
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore OMP_NUM_THREADS=2
summary="$work/summary.txt"
{
    date -u
    command -v nvidia-smi >/dev/null && nvidia-smi -L
    python3 -c "import sys, torch, numpy, pandas; print(sys.version.split()[0], 'torch', \
torch.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__)"
} | tee "$summary"

runs=${TABSYN_RUNS:-}
ddpm_limit=400
[ -n "$runs" ] && ddpm_limit=180  # leave the TABSYN fits the rest of DEADLINE_S
start=$(date +%s)
timeout "${TABDDPM_LIMIT_S:-$ddpm_limit}" python3 benchmarks/deep_baselines_gpu.py --names tabddpm \
    --in-process --device "$DEVICE" --dataset "$DDPM_DATASET" \
    --json "$work/tabddpm-$DDPM_DATASET.json" >"$work/tabddpm.log" 2>&1
rc=$?
{
    echo "tabddpm on $DDPM_DATASET: rc $rc, $(($(date +%s) - start)) s"
    grep '^{' "$work/tabddpm.log"
} | tee -a "$summary"

tabsyn_limit=$((began + ${DEADLINE_S:-560} - $(date +%s)))
if [ -n "$runs" ]; then
    if [ "$tabsyn_limit" -le 0 ]; then
        echo "tabsyn: skipped, no time left before DEADLINE_S ($runs)" | tee -a "$summary"
    else
        start=$(date +%s)
        for run in $runs; do
            ds=${run%%:*} seed=${run##*:}
            timeout "$tabsyn_limit" python3 benchmarks/paper_tables.py --names tabsyn \
                --datasets "$ds" --device "$DEVICE" --preset "$PRESET" --seed "$seed" \
                --out "$work/tables/$ds-$seed" >"$work/tabsyn-$ds-$seed.log" 2>&1 &
        done
        wait
        {
            echo "tabsyn, $PRESET preset, fits at once ($runs): $(($(date +%s) - start)) s" \
                "(limit $tabsyn_limit s)"
            for log in "$work"/tabsyn-*.log; do
                echo "$(basename "$log"): $(tail -n 1 "$log")"
            done
        } | tee -a "$summary"
    fi
fi

cp "$summary" "$OUT/summary.txt"
tar czf "$OUT/device-checks.tar.gz" -C "$work" .
