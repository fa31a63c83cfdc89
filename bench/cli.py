"""Command line: `bench list`, `bench suites`, `bench run`, `bench report`, `bench profiles`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.errors import BenchError

DEFAULT_OUT = "runs/latest"


def _seeds(text: str) -> list[int] | int:
    """`--seeds`: a count N (the seeds --seed .. --seed + N - 1) or a comma list of seeds."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a comma list of seeds, got {text!r}") from None
    if "," not in text:
        if values[0] < 1:
            raise argparse.ArgumentTypeError(f"expected a positive count of seeds, got {values[0]}")
        return values[0]
    if len(set(values)) != len(values) or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected distinct seeds of 0 or more, got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from bench.api.codec import PROFILES
    from bench.api.suites import DEFAULT_SUITE, SUITES
    from bench.data.mnist import SPLITS
    from bench.run.environment import DEVICES

    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list registered codecs, their parameters and default configs")
    p_list.add_argument("pattern", nargs="?", default="*", help="glob over codec names, e.g. 'ae*'")
    p_list.add_argument("--profiles", action="store_true", help="show the training profiles instead (bench profiles)")
    p_list.add_argument("--cache-dir", default=".cache", help="with --profiles: the model cache (default .cache)")

    p_profiles = sub.add_parser("profiles", help="training budgets of the learned codecs and the classifier, "
                                                 "and what training cost in the model cache")
    p_profiles.add_argument("pattern", nargs="?", default="*", help="glob over codec names ('classifier' too)")
    p_profiles.add_argument("--cache-dir", default=".cache", help="model cache to read the measured times "
                                                                   "from (default .cache)")

    p_suites = sub.add_parser("suites", help="the named sets of configurations `bench run --suite` runs")
    p_suites.add_argument("-v", "--verbose", action="store_true", help="list every configuration")

    p_run = sub.add_parser("run", help="run codecs over MNIST and write DIR/results.{csv,parquet}")
    p_run.add_argument("--codecs", default=None,
                       help="comma-separated names or globs, each with optional :key=value parameters "
                            "(e.g. 'gzip,zstd:level=19'); default: the configurations of --suite")
    p_run.add_argument("--suite", default=None, choices=SUITES,
                       help=f"a named set of configurations (bench suites); default {DEFAULT_SUITE}, "
                            "the main job; 'full' is every registered configuration")
    p_run.add_argument("--jobs", type=_positive_int, default=None,
                       help="cells run side by side in this many worker processes (default: one per core, "
                            "at most 8); 1 runs every cell alone in this process")
    p_run.add_argument("--executor", default="local", choices=("local", "ray"),
                       help="local: this machine, --jobs worker processes (default); ray: every cell a Ray task, "
                            "on a local Ray instance or the cluster at --address (pip install '.[ray]')")
    p_run.add_argument("--address", default=None,
                       help="with --executor ray: 'auto' or HOST:PORT of a running Ray cluster to join "
                            "(default: start a local Ray instance on this machine's cores)")
    p_run.add_argument("--gpus-per-cell", type=float, default=None,
                       help="with --executor ray: GPUs a torch cell asks for (default 1 when the run's device "
                            "is CUDA, else 0; a fraction shares a GPU)")
    p_run.add_argument("--cpus-per-cell", type=_positive_int, default=1,
                       help="with --executor ray: CPUs (torch threads) a torch cell asks for (default 1)")
    p_run.add_argument("--split", default="all", choices=SPLITS)
    p_run.add_argument("--limit", type=_positive_int, default=None, help="only the first N images of the split")
    p_run.add_argument("--profile", default="default", choices=PROFILES,
                       help="training budget of learned codecs (smoke = seconds); classical codecs ignore it")
    p_run.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p_run.add_argument("--device", default="auto", choices=DEVICES)
    p_run.add_argument("--resume", action="store_true", help="skip cells already finished in --out")
    p_run.add_argument("--repeat", type=_positive_int, default=1, help="repetitions per configuration")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--seeds", type=_seeds, default=None, metavar="N|S1,S2,...",
                       help="run each configuration under several seeds (the codec's training, a selection's draw "
                            "and the judge's): N seeds from --seed, or a list; each seed is its own cell and row. "
                            "Without it a suite runs its own seeded configurations (bench suites -v)")
    p_run.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files, the only one searched "
                            "(else $MNIST_DIR; else ../shared/data/mnist, then the download cache)")
    p_run.add_argument("--cache-dir", default=".cache", help="trained-model cache (default .cache)")
    p_run.add_argument("--retrain", action="store_true",
                       help="train every learned codec from scratch, not from its shipped weights (codecs/weights/)")
    p_run.add_argument("--no-report", action="store_true",
                       help="skip rendering DIR/report.html at the end (`bench report DIR` renders it later)")
    p_run.add_argument("-v", "--verbose", action="store_true", help="print the traceback of a failing cell")

    p_report = sub.add_parser("report", help="render the HTML report of a run (DIR/report.html)")
    p_report.add_argument("source", help="run folder (with results.parquet or .csv) or a results table file")
    p_report.add_argument("--out", default=None,
                          help="HTML file to write (default DIR/report.html, or TABLE.html beside a table file)")
    p_report.add_argument("--with", dest="extra_tables", action="append", default=None, metavar="TABLE",
                          help="also show the rows of this results table (e.g. results/lossy-gpu.csv, rows "
                               "measured elsewhere), in their own device section; repeatable")
    p_report.add_argument("--headline", action="store_true",
                          help="print the README's headline table (one row per family, Markdown) instead")
    p_report.add_argument("--export-table", default=None, metavar="CSV",
                          help="also copy the tidy table to CSV and the run's artifacts beside it "
                               "(CSV-stem-artifacts/), e.g. results/reference.csv for the reference run")
    return parser


def cmd_list(args) -> int:
    from bench.api.registry import broken_modules, get_entry, list_codecs, renamed_note

    if args.profiles:
        return cmd_profiles(args)
    names = list_codecs(args.pattern)
    broken = broken_modules()
    if not names and not broken:
        raise BenchError(f"no codec matches {args.pattern!r}{renamed_note(args.pattern)}; "
                         f"valid names: {', '.join(list_codecs())}")
    for name in names:
        entry = get_entry(name)
        unavailable = entry.cls.unavailable_reason()  # a program this machine lacks: its cells are skipped
        note = f"  (unavailable: {unavailable})" if unavailable else ""
        print(f"{name:<18} {entry.kind:<9} {entry.description}{note}")
        params = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items()) or "(none)"
        print(f"{'':<28} parameters: {params}")
        if entry.configs != ({},):
            configs = "; ".join(",".join(f"{k}={v}" for k, v in c.items()) for c in entry.configs)
            print(f"{'':<28} runs by default: {configs}")
    # Listed whatever the pattern: the codecs a broken module would register are unknown, and a
    # broken install must not pass for a smaller one.
    for module, error in broken.items():
        print(f"{module:<18} {'BROKEN':<9} failed to import: {error}")
    if broken:
        print(f"bench: error: {len(broken)} codec module(s) failed to import: {', '.join(broken)}", file=sys.stderr)
        return 1
    from bench.report.roles import unknown_roles

    for problem in unknown_roles():  # a typo in `roles=`: the report would single out nothing
        print(f"bench: error: {problem}", file=sys.stderr)
    return 1 if unknown_roles() else 0


def cmd_profiles(args) -> int:
    import fnmatch

    from bench.api.profiles import describe, purposes
    from bench.api.registry import get_entry, list_codecs, renamed_note
    from bench.learn.classifier import CLASSIFIER_PROFILES
    from bench.learn.model_cache import training_records, unrecorded_entries

    declared = {"classifier": CLASSIFIER_PROFILES}
    declared.update((n, get_entry(n).cls.profiles) for n in list_codecs() if get_entry(n).cls.profiles is not None)
    names = [n for n in declared if fnmatch.fnmatchcase(n, args.pattern)]
    if not names:
        raise BenchError(f"no learned codec matches {args.pattern!r}{renamed_note(args.pattern)}; "
                         f"learned: {', '.join(declared)}")
    records = training_records(args.cache_dir)
    print("profiles (bench run --profile NAME):", *purposes(), sep="\n")
    print(f"training cost: measured by the model cache in {args.cache_dir} (mean wall and CPU seconds per training)")
    for name in names:
        print("", *describe(name, declared[name], records.get(name, []), unrecorded_entries(args.cache_dir, name)),
              sep="\n")
    return 0


def cmd_suites(args) -> int:
    from bench.api.registry import config_label
    from bench.api.suites import DEFAULT_SUITE, SUITES

    for suite in SUITES.values():
        configs = suite.resolve(broken=True)
        codecs = {c[0] if isinstance(c, tuple) else c.name for c in configs}
        default = " (default)" if suite.name == DEFAULT_SUITE else ""
        print(f"{suite.name}{default}: {len(configs)} configurations of {len(codecs)} codecs: {suite.description}")
        if args.verbose:
            seeding = suite.seeding(0)
            for config in configs:
                label = config_label(*config) if isinstance(config, tuple) else config.label
                seeded = seeding.get(label)
                how = seeded and f"  (seeds {','.join(map(str, seeded.seeds))}{' of its judge' if seeded.judge_only else ''})"
                print("   ", label + (how or ""))
    return 0


def cmd_run(args) -> int:
    from bench.api.codec import RunContext, Seeding
    from bench.api.registry import BrokenConfig, broken_modules, parse_spec
    from bench.api.suites import DEFAULT_SUITE, SEED_COUNT, get_suite
    from bench.run.environment import device_name, resolve_device
    from bench.run.executor import LocalExecutor, ProcessExecutor, default_jobs
    from bench.run.results import check_results_dir
    from bench.run.runner import run

    check_results_dir(args.out)  # before any work starts: a bad --out would only fail after it
    if args.codecs and args.suite:
        raise BenchError("give --codecs or --suite, not both")
    suite = None if args.codecs else get_suite(args.suite or DEFAULT_SUITE)
    requested = parse_spec(args.codecs, broken=True) if args.codecs else suite.resolve(broken=True)
    named = {c.module for c in requested if isinstance(c, BrokenConfig)}
    for module, error in broken_modules().items():
        if module not in named:
            print(f"bench: warning: codec module {module} failed to import: {error}", file=sys.stderr)
    ray_only = [flag for flag, value in (("--address", args.address), ("--gpus-per-cell", args.gpus_per_cell))
                if value is not None]
    if args.executor != "ray" and ray_only:
        raise BenchError(f"{', '.join(ray_only)} need --executor ray")
    if args.executor == "ray" and args.jobs:
        raise BenchError("--jobs is for --executor local; a Ray run uses every CPU the cluster has")
    start = time.perf_counter()
    if args.executor == "ray":
        from bench.run.ray_executor import RayExecutor

        executor = RayExecutor(args.address, gpus_per_cell=args.gpus_per_cell, cpus_per_cell=args.cpus_per_cell)
        resources = executor.connect()
        device = executor.device_for(args.device)
        where = (f"Ray ({f'local instance on {executor.local_address}' if args.address is None else args.address}: "
                 f"{resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU)")
        # The driver may have no GPU of its own: the rows name the GPUs the cells ran on.
        shown = device_name(device) if device == "cpu" else "cuda on the cluster's GPUs"
    else:
        device = resolve_device(args.device)
        jobs = args.jobs or default_jobs()
        executor = LocalExecutor() if jobs == 1 else ProcessExecutor(jobs)
        where, shown = f"{jobs} job(s) side by side", device_name(device)
    ctx = RunContext(profile=args.profile, device=device, seed=args.seed, data_dir=args.data_dir,
                     cache_dir=Path(args.cache_dir), verbose=args.verbose, retrain=args.retrain)
    ctx.split(args.split, args.limit)  # fail fast on missing or corrupt data, before any row
    what = f"suite {args.suite or DEFAULT_SUITE}: " if not args.codecs else ""
    if args.seeds is not None:
        seeds = range(args.seed, args.seed + args.seeds) if isinstance(args.seeds, int) else args.seeds
        seeding = Seeding(tuple(seeds))
        under = f" under seeds {','.join(map(str, seeding.seeds))}"
    else:
        seeding = suite.seeding(args.seed) if suite else None
        under = f" ({len(seeding)} under {SEED_COUNT} seeds)" if seeding else ""
    print(f"bench run: {what}{len(requested)} configuration(s){under} x {args.repeat} on split {args.split}"
          f"{f' (first {args.limit})' if args.limit else ''}, profile {args.profile}, {shown}, {where}", flush=True)
    try:
        store = run(requested, split=args.split, limit=args.limit, repeat=args.repeat, ctx=ctx,
                    out_dir=args.out, resume=args.resume, executor=executor, seeding=seeding)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished rows are kept in {args.out}; rerun with --resume to continue",
              file=sys.stderr)
        return 130
    table = store.table()
    # A skipped row (a codec this machine cannot run, e.g. no paq8px binary) is not a failure.
    skipped = int((table["status"] == "skipped").sum())
    failed = int((table["status"] != "ok").sum()) - skipped
    print(f"wrote {store.dir / 'results.csv'} and results.parquet: {len(table)} row(s), {failed} failed, "
          + (f"{skipped} skipped, " if skipped else "") + f"{time.perf_counter() - start:.1f} s")
    print(harness_overhead_line(table))
    if not args.no_report:
        from bench.report.render import render_report

        try:
            print(f"report: {render_report(store.dir)}")
        except KeyboardInterrupt:
            print(f"\ninterrupted while drawing the report: every row is kept in {store.dir}; "
                  f"`bench report {store.dir}` draws it", file=sys.stderr)
            return 130
    return 1 if failed else 0


def cmd_report(args) -> int:
    try:
        return _report(args)
    except KeyboardInterrupt:
        print("\ninterrupted: no report written (a report is written whole or not at all)", file=sys.stderr)
        return 130


def _report(args) -> int:
    from bench.report.render import render_report

    if args.headline:
        from bench.report.markdown import headline_markdown

        print(headline_markdown(args.source, extra_tables=args.extra_tables))
        return 0
    print(f"report: {render_report(args.source, args.out, args.export_table, extra_tables=args.extra_tables)}")
    if args.export_table:
        print(f"table: {args.export_table}")
    return 0


def harness_overhead_line(table) -> str:
    """What the harness spent around the codecs' own fit/encode/decode (verification, metrics, I/O).

    Downstream-classifier training is an evaluation the user asked for, so it is shown on its own."""
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return "no finished cells"
    codec_s = float(ok[["fit_s", "enc_s", "dec_s"]].fillna(0).to_numpy().sum())
    evaluation_s = float(ok["classifier_train_s"].fillna(0).sum()) if "classifier_train_s" in ok else 0.0
    harness_s = float(ok["wall_s"].sum()) - codec_s - evaluation_s
    return (f"codec fit+encode+decode {codec_s:.1f} s, classifier evaluation {evaluation_s:.1f} s, "
            f"harness {harness_s:.1f} s ({100 * harness_s / max(codec_s, 1e-9):.1f}% of codec time)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"list": cmd_list, "run": cmd_run, "report": cmd_report, "profiles": cmd_profiles,
                "suites": cmd_suites}[args.command](args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
