#!/usr/bin/env bash
# Regression gates in quick mode (what CI runs after the unit tests):
#   1. sizes and quality: every configuration against benchmarks/golden.json;
#   2. times, against the committed baseline of this kind of machine (.benchmarks/<kind>/), by
#      benchmarks/compare.py: a median more than BENCH_THRESHOLD percent (default 50) slower once
#      divided by a calibration workload timed before each round (the machine's speed right then),
#      or more than BENCH_RAW_THRESHOLD percent (default 150) slower as it is. pytest-benchmark's own
#      comparison table is printed beside it. The regressed benchmarks are measured once more and
#      fail only if they regress again: on these shared machines a benchmark of an unchanged tree
#      can run twice as slowly for a moment (measured), a real regression repeats.
#      With no baseline for this machine kind, the timings are only recorded.
#
#   bash scripts/bench_ci.sh                  # the gates
#   bash scripts/bench_ci.sh --save-baseline  # record this machine kind's baseline (commit it)
#   bash scripts/bench_ci.sh [--save-baseline] -k gzip   # more arguments go to pytest
#   BENCH_STORAGE=DIR                         # keep baselines and results in DIR instead
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_QUICK=1
PY=.venv/bin/python
kind="$(uname -m)-$(nproc)cpu-py$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
storage="${BENCH_STORAGE:-.benchmarks/$kind}"
mkdir -p "$storage"

save=""
if [ "${1:-}" = "--save-baseline" ]; then save=1; shift; fi

$PY -c 'from benchmarks.conftest import run_description; print(run_description())'
# One pytest process for both gates: each codec is fitted once for the golden check and its timings.
args=(-m pytest -q -o addopts="" benchmarks/test_golden.py benchmarks/test_codec_speed.py
      --benchmark-storage="file://$storage" --benchmark-columns=min,median,rounds --benchmark-sort=name
      --benchmark-json="$storage/last-run.json" "$@")
if [ -n "$save" ]; then
    rm -rf "$storage"/*/
    exec $PY "${args[@]}" --benchmark-save=baseline
fi
baseline=$(ls "$storage"/*/0001_baseline.json 2>/dev/null | head -n 1 || true)
if [ -z "$baseline" ]; then
    echo "no timing baseline for machine kind $kind: recording timings only"
    exec $PY "${args[@]}"
fi
echo "comparing with $baseline"
status=0
$PY "${args[@]}" --benchmark-compare=0001 || status=$?
gate=($PY -m benchmarks.compare "$baseline" --threshold "${BENCH_THRESHOLD:-50}"
      --raw-threshold "${BENCH_RAW_THRESHOLD:-150}")
if ! "${gate[@]}" "$storage/last-run.json" --write-regressed "$storage/regressed.txt"; then
    echo "measuring the regressed benchmarks once more"
    mapfile -t regressed < "$storage/regressed.txt"
    $PY -m pytest -q -o addopts="" "${regressed[@]}" --benchmark-only --benchmark-storage="file://$storage" \
        --benchmark-json="$storage/confirm.json" || status=$?
    "${gate[@]}" "$storage/confirm.json" --only "$storage/regressed.txt" || status=1
fi
exit $status
