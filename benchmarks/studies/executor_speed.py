"""Wall time of one suite's cells under the local executor and on a local Ray instance, side by side
(feeds docs/results.md, "On a cluster").

    python benchmarks/studies/executor_speed.py --suite main --profile smoke --split all --rounds 1

Each round runs the same planned cells once per executor, each from an empty model cache and into an
empty results folder (so training and the judge are timed too), in alternating order (local first in
even rounds, Ray first in odd ones). Printed per run: wall seconds (Ray's includes starting its local
instance, about 3 s here), rows, failed rows; then the Ray/local ratio of the best walls and whether
which cells' payload bytes differ between the two (learned
models trained with another thread count or order may differ in their last bits). The local executor is `bench run`'s default
(`--jobs`, one worker per core); Ray gets the same number of CPUs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> None:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the local instance stays on loopback
    sys.path.insert(0, str(ROOT))
    from bench.api.codec import RunContext
    from bench.api.suites import get_suite
    from bench.run.executor import ProcessExecutor, default_jobs
    from bench.run.ray_executor import RayExecutor
    from bench.run.runner import run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="main")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--split", default="all")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="local workers = Ray CPUs (default: cores)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the last round's results and model cache of each executor under KEEP/NAME "
                             "(e.g. to --resume a larger suite on them)")
    args = parser.parse_args(argv)

    configs = get_suite(args.suite).resolve()
    executors = {"local": lambda: ProcessExecutor(args.jobs), "ray": lambda: RayExecutor(num_cpus=args.jobs)}
    walls: dict[str, list[float]] = {name: [] for name in executors}
    payloads: dict[str, dict] = {}
    print(f"suite {args.suite}: {len(configs)} configurations, split {args.split}"
          f"{f' (first {args.limit})' if args.limit else ''}, profile {args.profile}, {args.jobs} CPUs", flush=True)
    for r in range(args.rounds):
        for name in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
            if args.keep:
                scratch = args.keep / name
                shutil.rmtree(scratch, ignore_errors=True)
            else:
                scratch = Path(tempfile.mkdtemp(prefix=f"executor-speed-{name}-"))
            ctx = RunContext(profile=args.profile, cache_dir=scratch / "cache")
            started = time.perf_counter()
            table = run(configs, split=args.split, limit=args.limit, repeat=1, ctx=ctx, out_dir=scratch / "out",
                        resume=False, echo=lambda line: None, executor=executors[name]()).table()
            wall = time.perf_counter() - started
            walls[name].append(wall)
            payloads[name] = dict(zip(table["config"], table["payload_bytes"], strict=True))
            failed = int((table["status"] != "ok").sum())
            print(f"  round {r + 1} {name:<5}: {wall:8.1f} s  {len(table)} rows, {failed} failed", flush=True)
            if not args.keep:
                shutil.rmtree(scratch, ignore_errors=True)
    differ = sorted(c for c in payloads["local"] if payloads["local"][c] != payloads["ray"].get(c))
    print(f"best wall: local {min(walls['local']):.1f} s, ray {min(walls['ray']):.1f} s; "
          f"ray/local {min(walls['ray']) / min(walls['local']):.3f}; payload bytes differ in "
          f"{len(differ)} of {len(payloads['local'])} cells{': ' + ', '.join(differ) if differ else ''}")


if __name__ == "__main__":
    main()
