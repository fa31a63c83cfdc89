#!/usr/bin/env bash
# Regression gates in quick mode (what CI runs after the unit tests):
#   1. sizes and quality: every configuration against benchmarks/golden.json;
#   2. times: pytest-benchmark against the committed baseline of this kind of machine, failing when a
#      median is more than BENCH_THRESHOLD percent (default 25) slower. With no baseline for this
#      machine kind, the timings are only recorded.
#
#   bash scripts/bench_ci.sh                  # the gates
#   bash scripts/bench_ci.sh --save-baseline  # record this machine kind's baseline (commit it)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_QUICK=1
PY=.venv/bin/python
kind="$(uname -m)-$(nproc)cpu-py$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
storage=".benchmarks/$kind"

$PY -m pytest -q benchmarks/test_golden.py

args=(-m pytest -q -o addopts="" benchmarks/test_codec_speed.py --benchmark-only
      --benchmark-storage="file://$storage" --benchmark-columns=min,median,rounds --benchmark-sort=name)
if [ "${1:-}" = "--save-baseline" ]; then
    rm -rf "$storage"
    exec $PY "${args[@]}" --benchmark-save=baseline
fi
baseline=$(ls "$storage"/*/0001_baseline.json 2>/dev/null | head -n 1 || true)
if [ -n "$baseline" ]; then
    echo "comparing with $baseline (fail above +${BENCH_THRESHOLD:-25}% median)"
    exec $PY "${args[@]}" --benchmark-compare=0001 --benchmark-compare-fail="median:${BENCH_THRESHOLD:-25}%"
fi
echo "no timing baseline for machine kind $kind: recording timings only"
exec $PY "${args[@]}"
