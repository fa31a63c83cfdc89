"""The timing gate: each benchmark's calibrated time against the committed baseline's.

    python -m benchmarks.gates.compare BASELINE.json CURRENT.json [MORE.json ...] [--threshold 50]
                                 [--raw-threshold 200] [--write-regressed IDS.txt] [--only IDS.txt]

A benchmark's calibrated time is its best round's time per call over the best of the calibration
workloads timed before its rounds (benchmarks/gates/test_codec_speed.py records both): the calibration
cancels how fast the shared machine runs while the benchmark runs, the best of each drops the rounds
that a neighbour slowed down. (The best of per-round ratios would reward a calibration that a
neighbour slowed: measured, it read one unchanged benchmark -49%.) Its ratio is calibrated time now
/ in the baseline, divided by the suite's median ratio when at least SUITE_MIN benchmarks are
compared: what the whole suite reads slower is the machine (another CPU, another libc), not one
codec.

A benchmark regresses when that ratio is above 1 + threshold/100, or its raw ratio (best round, no
calibration) above 1 + raw-threshold/100, a net for a calibration that went wrong. A 2x slowdown
fails at the default +50%, but an unchanged codec can read nearly as much for a while on these
shared machines, which is why scripts/bench_ci.sh measures a flagged benchmark again before it
fails (the measured noise: docs/gates.md). Exits 1 and lists the
regressed ones; `--write-regressed` writes their pytest node ids, so that scripts/bench_ci.sh can
measure them again, pass that run after the first one and judge `--only` them (later files
replace earlier ones' entries). Benchmarks missing from the baseline are listed and do not fail (a
new codec has no baseline yet); one listed in `--only` but not measured fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

#: Fewer benchmarks than this say too little about the machine to correct for it.
SUITE_MIN = 20


def read_results(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(Path(path).read_text())
        return {b["fullname"]: b for b in data["benchmarks"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"benchmarks.gates.compare: cannot read pytest-benchmark results {path}: {exc}") from None


def best_times(bench: dict) -> tuple[float, float] | None:
    """(best seconds per call, that over the best calibration) of one benchmark, or None where the
    file has no per-round times."""
    info = bench.get("extra_info", {})
    rounds, calibrations = info.get("rounds_s"), info.get("calibrations_s")
    if not rounds or not calibrations:
        return None
    best = min(rounds)
    return best, best / min(calibrations)


def ratios(baseline: dict[str, dict], current: dict[str, dict]) -> tuple[dict[str, tuple[float, float]], float]:
    """name -> (suite-relative calibrated ratio, raw ratio), and the suite factor divided out."""
    pairs = {}
    for name in sorted(set(baseline) & set(current)):
        old, new = best_times(baseline[name]), best_times(current[name])
        if old and new:
            pairs[name] = (new[1] / old[1], new[0] / old[0])
    suite = statistics.median(c for c, _ in pairs.values()) if len(pairs) >= SUITE_MIN else 1.0
    return {name: (calibrated / suite, raw) for name, (calibrated, raw) in pairs.items()}, suite


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("current", type=Path, nargs="+", help="results; later files replace earlier entries")
    parser.add_argument("--threshold", type=float, default=50.0, help="calibrated percent slower that fails")
    parser.add_argument("--raw-threshold", type=float, default=200.0, help="raw percent slower that fails")
    parser.add_argument("--write-regressed", type=Path, help="write the regressed node ids here")
    parser.add_argument("--only", type=Path, help="judge only the node ids listed in this file")
    args = parser.parse_args(argv)
    baseline = read_results(args.baseline)
    current = {}
    for path in args.current:
        current.update(read_results(path))
    if baseline and not any(best_times(b) for b in baseline.values()):
        print(f"timing gate: {args.baseline} has no per-round times (recorded by an older suite); "
              "re-record it with scripts/bench_ci.sh --save-baseline")
        return 1
    judged, suite = ratios(baseline, current)
    wanted = set(args.only.read_text().split()) if args.only else set(current)
    missing = sorted(wanted - set(current))
    regressed = {name: pair for name, pair in judged.items() if name in wanted and
                 (pair[0] > 1 + args.threshold / 100 or pair[1] > 1 + args.raw_threshold / 100)}
    shown = [pair[0] for name, pair in judged.items() if name in wanted]
    print(f"timing gate: {len(shown)} benchmark(s) judged, worst {100 * (max(shown, default=1) - 1):+.0f}%, "
          f"best {100 * (min(shown, default=1) - 1):+.0f}% (calibrated, relative to the suite, which reads "
          f"{100 * (suite - 1):+.0f}% on this machine); fail above +{args.threshold:g}% or "
          f"+{args.raw_threshold:g}% raw")
    for name in sorted(wanted & set(current) - set(judged)):
        print(f"  no baseline yet: {name}")
    for name in missing:
        print(f"  NOT MEASURED: {name}")
    for name, (calibrated, raw) in sorted(regressed.items(), key=lambda item: -item[1][0]):
        print(f"  REGRESSED {100 * (calibrated - 1):+.0f}% calibrated ({100 * (raw - 1):+.0f}% raw): {name}")
    if args.write_regressed:
        args.write_regressed.write_text("".join(f"{name}\n" for name in regressed))
    return 1 if regressed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
