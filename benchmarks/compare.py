"""The timing gate: each benchmark's median against the committed baseline's, corrected for the
machine's speed at the time with the calibration workload timed beside it (benchmarks/calibration.py).

    python -m benchmarks.compare BASELINE.json CURRENT.json [--threshold 50] [--raw-threshold 150]
                                 [--write-regressed IDS.txt] [--only IDS.txt]

corrected ratio = (median now / baseline median) / (calibration now / baseline calibration).
A benchmark regresses when its corrected ratio is above 1 + threshold/100, or its raw ratio above
1 + raw-threshold/100 (a net for a calibration that went wrong). Exits 1 and lists them when any
does; `--write-regressed` writes their pytest node ids, so that scripts/bench_ci.sh can measure
them once more and `--only` can judge just those. Benchmarks missing from the baseline are listed
and do not fail (a new codec has no baseline yet); one listed in `--only` but not measured fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _by_name(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(Path(path).read_text())
        return {b["fullname"]: b for b in data["benchmarks"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"benchmarks.compare: cannot read pytest-benchmark results {path}: {exc}") from None


def raw_ratios(baseline: dict[str, dict], current: dict[str, dict]) -> dict[str, float]:
    return {name: current[name]["stats"]["median"] / baseline[name]["stats"]["median"]
            for name in sorted(set(baseline) & set(current))}


def corrected_ratios(baseline: dict[str, dict], current: dict[str, dict]) -> dict[str, float]:
    """name -> drift-corrected slowdown ratio, for benchmarks present in both with a calibration."""
    ratios = {}
    for name, raw in raw_ratios(baseline, current).items():
        old_cal = baseline[name]["extra_info"].get("calibration_s")
        new_cal = current[name]["extra_info"].get("calibration_s")
        if old_cal and new_cal:
            ratios[name] = raw / (new_cal / old_cal)
    return ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("current", type=Path)
    parser.add_argument("--threshold", type=float, default=50.0, help="corrected percent slower that fails")
    parser.add_argument("--raw-threshold", type=float, default=150.0, help="raw percent slower that fails")
    parser.add_argument("--write-regressed", type=Path, help="write the regressed node ids here")
    parser.add_argument("--only", type=Path, help="judge only the node ids listed in this file")
    args = parser.parse_args(argv)
    baseline, current = _by_name(args.baseline), _by_name(args.current)
    missing = []
    if args.only:
        wanted = set(args.only.read_text().split())
        missing = sorted(wanted - set(current))
        current = {name: b for name, b in current.items() if name in wanted}
    corrected, raw = corrected_ratios(baseline, current), raw_ratios(baseline, current)
    regressed = {name: (corrected.get(name, float("nan")), ratio) for name, ratio in raw.items()
                 if ratio > 1 + args.raw_threshold / 100 or corrected.get(name, 0) > 1 + args.threshold / 100}
    worst = max(corrected.values(), default=float("nan"))
    print(f"timing gate: {len(raw)} benchmark(s) compared, worst corrected {100 * (worst - 1):+.0f}%; "
          f"fail above +{args.threshold:g}% corrected or +{args.raw_threshold:g}% raw")
    for name in sorted(set(current) - set(baseline)):
        print(f"  no baseline yet: {name}")
    for name in missing:
        print(f"  NOT MEASURED: {name}")
    for name, (corrected_ratio, raw_ratio) in sorted(regressed.items(), key=lambda item: -item[1][1]):
        print(f"  REGRESSED {100 * (corrected_ratio - 1):+.0f}% corrected ({100 * (raw_ratio - 1):+.0f}% raw): {name}")
    if args.write_regressed:
        args.write_regressed.write_text("".join(f"{name}\n" for name in regressed))
    return 1 if regressed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
