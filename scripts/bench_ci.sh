#!/usr/bin/env bash
# Regression gates in quick mode (what CI runs after the unit tests):
#   1. sizes and quality: every configuration against benchmarks/golden.json;
#   2. times, against the committed baseline of this kind of machine (.benchmarks/<kind>/):
#      a. drift-corrected: each median relative to a calibration workload timed beside it
#         (benchmarks/compare.py), failing above BENCH_THRESHOLD percent slower (default 50);
#      b. pytest-benchmark's own --benchmark-compare-fail on the raw median, failing above
#         BENCH_RAW_THRESHOLD percent (default 150): the raw medians of an unchanged tree swing by up
#         to +103% on these shared machines, so this one only catches gross regressions.
#      With no baseline for this machine kind, the timings are only recorded.
#
#   bash scripts/bench_ci.sh                  # the gates
#   bash scripts/bench_ci.sh --save-baseline  # record this machine kind's baseline (commit it)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_QUICK=1
PY=.venv/bin/python
kind="$(uname -m)-$(nproc)cpu-py$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
storage=".benchmarks/$kind"
mkdir -p "$storage"

$PY -m pytest -q benchmarks/test_golden.py

args=(-m pytest -q -o addopts="" benchmarks/test_codec_speed.py --benchmark-only
      --benchmark-storage="file://$storage" --benchmark-columns=min,median,rounds --benchmark-sort=name
      --benchmark-json="$storage/last-run.json")
if [ "${1:-}" = "--save-baseline" ]; then
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
$PY "${args[@]}" --benchmark-compare=0001 --benchmark-compare-fail="median:${BENCH_RAW_THRESHOLD:-150}%" || status=$?
$PY -m benchmarks.compare "$baseline" "$storage/last-run.json" --threshold "${BENCH_THRESHOLD:-50}" || status=1
exit $status
