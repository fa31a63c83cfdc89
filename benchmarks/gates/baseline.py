"""A timing baseline from several runs of the suite: each benchmark's entry from its median run.

    python -m benchmarks.gates.baseline OUT.json RUN.json RUN.json [RUN.json ...]
    python -m benchmarks.gates.baseline --add-to BASELINE.json RUN.json RUN.json [RUN.json ...]

`--add-to` puts the benchmarks the baseline lacks (a new codec's, timed with `-k`) into it, each from
its median run, and leaves every entry it has as it is: no re-recording of the whole suite.

One recording can catch a benchmark in an unusually fast moment of a shared machine, and every later
run then reads slow against it (measured: docs/gates.md). Taking, for each benchmark, the run whose calibrated time
(benchmarks.gates.compare.best_times) is the median centres the baseline in that noise. Each entry is kept
whole, so pytest-benchmark's own comparison still reads one real measurement. The rest of the file
(machine info, commit) is the first run's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .compare import best_times, read_results


def median_entries(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """name -> the entry, among the runs that measured it, whose calibrated time is the median (the
    lower middle for an even count)."""
    merged = {}
    for name in sorted(set().union(*runs)):
        entries = [run[name] for run in runs if name in run and best_times(run[name])]
        if not entries:
            continue
        entries.sort(key=lambda entry: best_times(entry)[1])
        merged[name] = entries[(len(entries) - 1) // 2]
    return merged


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    adding = args[0] == "--add-to"
    if adding:
        args = args[1:]
    out, paths = Path(args[0]), [Path(p) for p in args[1:]]
    merged = median_entries([read_results(path) for path in paths])
    if adding:
        document = json.loads(out.read_text())
        have = read_results(out)
        new = {name: entry for name, entry in merged.items() if name not in have}
        document["benchmarks"] = sorted([*have.values(), *new.values()], key=lambda entry: entry["fullname"])
        print(f"baseline: {len(new)} benchmarks added ({', '.join(new) or 'none new'}), each from the median of "
              f"{len(paths)} runs -> {out}")
    else:
        document = json.loads(paths[0].read_text())
        document["benchmarks"] = list(merged.values())
        print(f"baseline: {len(merged)} benchmarks, each from the median of {len(paths)} runs -> {out}")
    out.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
