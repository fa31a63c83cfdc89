#!/usr/bin/env bash
# Regression gates in quick mode (what CI runs after the unit tests):
#   1. sizes and quality: every configuration against benchmarks/gates/golden.json;
#   2. times, against the committed baseline of this kind of machine (.benchmarks/<kind>/), by
#      benchmarks/gates/compare.py: the best round's time over the best of a calibration workload timed
#      before the rounds (the machine's speed right then), relative to the whole suite's median ratio
#      (another CPU), more than BENCH_THRESHOLD percent (default 50) slower, or the best round more
#      than BENCH_RAW_THRESHOLD percent (default 200) slower as it is. pytest-benchmark's own
#      comparison table is printed beside it. The regressed benchmarks are measured again, up to
#      BENCH_RETRIES (3) times, and fail only if they keep regressing: on these shared machines a
#      benchmark of an unchanged tree can run twice as slowly for a while (measured), a real
#      regression repeats.
#      With no baseline for this machine kind, the timings are only recorded.
#
#   bash scripts/bench_ci.sh                  # the gates
#   bash scripts/bench_ci.sh --save-baseline  # record this machine kind's baseline (commit it): the
#                                             # median of BENCH_BASELINE_RUNS (3) timing runs, 15 min
#   bash scripts/bench_ci.sh [--save-baseline] -k gzip   # more arguments go to pytest
#   BENCH_STORAGE=DIR                         # keep baselines and results in DIR instead
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_QUICK=1
PY=.venv/bin/python
# Times compare only on the same kind of machine (architecture, cores, CPU model and numbers, Python:
# benchmarks/gates/machine.py says why).
kind=$($PY -m benchmarks.gates.machine)
echo "timing gate: machine kind $kind"
storage="${BENCH_STORAGE:-.benchmarks/$kind}"
mkdir -p "$storage"

save=""
if [ "${1:-}" = "--save-baseline" ]; then save=1; shift; fi

$PY -c 'from benchmarks.gates.conftest import run_description; print(run_description())'
# One pytest process for both gates: each codec is fitted once for the golden check and its timings.
args=(-m pytest -q -o addopts="" benchmarks/gates/test_golden.py benchmarks/gates/test_codec_speed.py
      --benchmark-storage="file://$storage" --benchmark-columns=min,median,rounds --benchmark-sort=name
      --benchmark-json="$storage/last-run.json" --durations=15 "$@")
if [ -n "$save" ]; then
    # The first run checks the golden file too; the baseline is each benchmark's median run.
    runs="${BENCH_BASELINE_RUNS:-3}"
    rm -rf "$storage"/*/ "$storage"/run-*.json
    $PY "${args[@]}" --benchmark-save=baseline
    cp "$storage/last-run.json" "$storage/run-1.json"
    for i in $(seq 2 "$runs"); do
        echo "baseline: timing run $i of $runs"
        $PY -m pytest -q -o addopts="" benchmarks/gates/test_codec_speed.py --benchmark-only \
            --benchmark-storage="file://$storage" --benchmark-json="$storage/run-$i.json" "$@" | tail -n 1
    done
    saved=$(ls "$storage"/*/0001_baseline.json)
    exec $PY -m benchmarks.gates.baseline "$saved" $(seq -f "$storage/run-%g.json" 1 "$runs")
fi
baseline=$(ls "$storage"/*/0001_baseline.json 2>/dev/null | head -n 1 || true)
if [ -z "$baseline" ]; then
    echo "no timing baseline for machine kind $kind: recording timings only"
    exec $PY "${args[@]}"
fi
echo "comparing with $baseline"
status=0
$PY "${args[@]}" --benchmark-compare=0001 || status=$?
gate=($PY -m benchmarks.gates.compare "$baseline" --threshold "${BENCH_THRESHOLD:-50}"
      --raw-threshold "${BENCH_RAW_THRESHOLD:-200}")
# A slow spell of a shared machine lasts seconds to minutes and slows some codecs more than the
# calibration (measured: JPEG decode +60..+120% while the calibration read +20..+30%), so a flagged
# benchmark is measured again, up to BENCH_RETRIES times a little later; a real regression repeats.
retries="${BENCH_RETRIES:-3}"
timing=0
rm -f "$storage/regressed.txt"
if ! "${gate[@]}" "$storage/last-run.json" --write-regressed "$storage/regressed.txt"; then
    timing=1
    for attempt in $(seq 1 "$retries"); do
        mapfile -t regressed < <(cat "$storage/regressed.txt" 2>/dev/null)
        [ "${#regressed[@]}" -gt 0 ] || break  # the gate failed on something that measuring again cannot fix
        echo "measuring the regressed benchmarks again ($attempt of $retries)"
        sleep "${BENCH_RETRY_PAUSE:-30}"
        $PY -m pytest -q -o addopts="" "${regressed[@]}" --benchmark-only --benchmark-storage="file://$storage" \
            --benchmark-json="$storage/confirm.json" > "$storage/confirm.log" 2>&1 || { cat "$storage/confirm.log"; break; }
        cp "$storage/regressed.txt" "$storage/judged.txt"
        if "${gate[@]}" "$storage/last-run.json" "$storage/confirm.json" --only "$storage/judged.txt" \
                --write-regressed "$storage/regressed.txt"; then
            timing=0
            break
        fi
    done
fi
exit $((status || timing))
