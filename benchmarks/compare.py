"""The drift-corrected timing gate: each benchmark's median against the baseline's, relative to the
calibration workload timed beside it (see benchmarks/calibration.py).

    python -m benchmarks.compare BASELINE.json CURRENT.json [--threshold 50]

ratio = (median now / median in the baseline) / (calibration now / calibration in the baseline).
Exits 1, listing them, when a benchmark's ratio is above 1 + threshold/100; benchmarks missing from
either side are listed and do not fail (a new codec has no baseline yet).
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


def corrected_ratios(baseline: dict[str, dict], current: dict[str, dict]) -> dict[str, float]:
    """name -> drift-corrected slowdown ratio, for benchmarks present in both with a calibration."""
    ratios = {}
    for name in sorted(set(baseline) & set(current)):
        old, new = baseline[name], current[name]
        old_cal, new_cal = old["extra_info"].get("calibration_s"), new["extra_info"].get("calibration_s")
        if not old_cal or not new_cal:
            continue
        ratios[name] = (new["stats"]["median"] / old["stats"]["median"]) / (new_cal / old_cal)
    return ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("current", type=Path)
    parser.add_argument("--threshold", type=float, default=50.0, help="percent slower that fails (default 50)")
    args = parser.parse_args(argv)
    baseline, current = _by_name(args.baseline), _by_name(args.current)
    ratios = corrected_ratios(baseline, current)
    limit = 1 + args.threshold / 100
    slower = {name: r for name, r in ratios.items() if r > limit}
    unpaired = sorted(set(baseline) ^ set(current))
    worst = max(ratios.values(), default=float("nan"))
    print(f"drift-corrected timing gate: {len(ratios)} benchmark(s) compared, worst {100 * (worst - 1):+.0f}%, "
          f"fail above +{args.threshold:g}%")
    for name in unpaired:
        print(f"  not compared (only in {'baseline' if name in baseline else 'this run'}): {name}")
    for name, ratio in sorted(slower.items(), key=lambda item: -item[1]):
        print(f"  REGRESSED {100 * (ratio - 1):+.0f}%: {name}")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
