"""The regression gates themselves: a 2x slowdown and a 1% byte growth must fail them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gates import baseline
from benchmarks.gates import compare as compare_timings
from benchmarks.gates.golden import compare
from benchmarks.gates.machine import machine_kind

ROOT = Path(__file__).resolve().parent.parent


def test_one_percent_more_bytes_fails_an_exact_pin():
    golden = {"bytes": 10_000, "bpp": 1.0, "mse": 0.0}
    assert compare("gzip", golden, dict(golden), exact=True) == []
    grown = {"bytes": 10_100, "bpp": 1.01, "mse": 0.0}
    assert compare("gzip", golden, grown, exact=True) == [
        "gzip: bytes 10100, golden 10000 (pinned exactly)", "gzip: bpp 1.01, golden 1.0 (pinned exactly)"]


def test_classical_float_metrics_allow_rounding_only():
    golden = {"bytes": 10_000, "bpp": 1.0, "mse": 0.000413764368}
    assert compare("pca", golden, {**golden, "mse": 0.000413764231}, exact=True) == []
    problems = compare("pca", golden, {**golden, "mse": 0.000414}, exact=True)
    assert len(problems) == 1 and problems[0].startswith("pca: mse")


def test_learned_codecs_get_a_band():
    golden = {"bytes": 10_000, "mse": 0.01, "accuracy": 0.9}
    assert compare("ae", golden, {"bytes": 10_150, "mse": 0.0101, "accuracy": 0.88}, exact=False) == []
    problems = compare("ae", golden, {"bytes": 10_300, "mse": 0.01, "accuracy": 0.85}, exact=False)
    assert len(problems) == 2 and "bytes" in problems[0] and "accuracy" in problems[1]


def test_a_recorded_choice_is_pinned_on_its_machine_kind_and_reported_on_another():
    here = machine_kind()
    golden = {"bytes": 62_826, "bpp": 0.64, "accuracy": 0.69, "components_per_class": "3,2,3,3,3,3,3,3,3,3",
              "machine_kind": here}
    same_choice = {**golden, "bytes": 63_000, "accuracy": 0.70}
    assert compare("lgc", golden, same_choice, exact=False) == []
    other = {**golden, "components_per_class": "4,2,3,3,3,3,3,3,3,3", "bytes": 67_343, "bpp": 0.69}
    problems = compare("lgc", golden, other, exact=False)
    assert "components_per_class" in problems[0] and "must choose the same" in problems[0]
    notes: list[str] = []
    elsewhere = {**golden, "machine_kind": "x86_64-2cpu-another-cpu-py3.11"}
    assert compare("lgc", elsewhere, other, exact=False, notes=notes) == []  # the bytes follow the choice
    assert len(notes) == 1 and "sizes not compared" in notes[0] and here in notes[0]
    # The same choice on another kind: the sizes are compared again, in the coding's band.
    assert compare("lgc", elsewhere, {**other, "components_per_class": golden["components_per_class"]},
                   exact=False)[0].startswith("lgc: bytes")


def _bench(storage: Path, node: str, *extra: str, slowdown: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_QUICK": "1", "BENCH_SLOWDOWN": slowdown}
    command = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
               f"benchmarks/gates/test_codec_speed.py::{node}", "--benchmark-only",
               f"--benchmark-storage=file://{storage}", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


# bz2's encode takes one call per round; gzip's decode (1.5 ms) many, as pytest-benchmark iterations.
@pytest.mark.parametrize("node, codec", [("test_encode[bz2]", "bz2"), ("test_decode[gzip]", "gzip")])
def test_a_2x_slowdown_fails_both_timing_gates(tmp_path, capsys, node, codec):
    saved = _bench(tmp_path, node, "--benchmark-save=baseline", f"--benchmark-json={tmp_path / 'base.json'}")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    slowed = _bench(tmp_path, node, "--benchmark-compare=0001", "--benchmark-compare-fail=min:25%",
                    f"--benchmark-json={tmp_path / 'slowed.json'}", slowdown=codec)
    assert slowed.returncode != 0, slowed.stdout
    assert "Performance has regressed" in slowed.stdout + slowed.stderr
    # The calibrated gate of scripts/bench_ci.sh, at its default threshold.
    assert compare_timings.main([str(tmp_path / "base.json"), str(tmp_path / "slowed.json")]) == 1
    assert "REGRESSED" in capsys.readouterr().out


def _bench_entry(name: str, rounds_s: list[float], calibrations_s: list[float]) -> dict:
    return {"fullname": name, "extra_info": {"rounds_s": rounds_s, "calibrations_s": calibrations_s}}


def test_the_gate_divides_out_a_slower_machine_and_keeps_the_best_round():
    base = {"t": _bench_entry("t", [1.0, 1.2], [0.02, 0.02])}
    # The whole machine twice as slow: no regression. The code twice as slow: 2x.
    assert compare_timings.ratios(base, {"t": _bench_entry("t", [2.0, 2.0], [0.04, 0.04])})[0] == {"t": (1.0, 2.0)}
    assert compare_timings.ratios(base, {"t": _bench_entry("t", [2.0, 2.0], [0.02, 0.02])})[0] == {"t": (2.0, 2.0)}
    # One round slowed by a neighbour, with a calibration that missed it: the other round decides.
    assert compare_timings.ratios(base, {"t": _bench_entry("t", [3.0, 1.0], [0.02, 0.02])})[0] == {"t": (1.0, 1.0)}
    # A calibration that a neighbour slowed does not make the benchmark look faster.
    assert compare_timings.ratios(base, {"t": _bench_entry("t", [1.0, 1.0], [0.06, 0.02])})[0] == {"t": (1.0, 1.0)}


def test_a_suite_that_reads_slower_as_a_whole_is_the_machine_not_a_codec():
    names = [f"t::{i}" for i in range(compare_timings.SUITE_MIN)]
    base = {n: _bench_entry(n, [1.0], [0.02]) for n in names}
    now = {n: _bench_entry(n, [1.5], [0.02]) for n in names}
    now["t::0"] = _bench_entry("t::0", [3.0], [0.02])  # one codec 2x slower than the rest
    judged, suite = compare_timings.ratios(base, now)
    assert suite == 1.5 and judged["t::1"] == (1.0, 1.5) and judged["t::0"] == (2.0, 3.0)
    # Too few benchmarks to tell the machine from the code: no suite correction.
    assert compare_timings.ratios({"t::0": base["t::0"]}, {"t::0": now["t::0"]})[1] == 1.0


def _results(path: Path, seconds: dict[str, float], calibration: float = 0.02) -> Path:
    benchmarks = [_bench_entry(name, [s], [calibration]) for name, s in seconds.items()]
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    return path


def test_regressed_benchmarks_are_listed_and_judged_again_alone(tmp_path):
    base = _results(tmp_path / "base.json", {"t::a": 1.0, "t::b": 1.0})
    now = _results(tmp_path / "now.json", {"t::a": 1.1, "t::b": 1.8, "t::new": 1.0})
    ids = tmp_path / "regressed.txt"
    assert compare_timings.main([str(base), str(now), "--write-regressed", str(ids)]) == 1
    assert ids.read_text() == "t::b\n"
    # Measured again: the moment has passed (noise) or it repeats (a regression); unmeasured fails.
    again = _results(tmp_path / "again.json", {"t::b": 1.1})
    assert compare_timings.main([str(base), str(now), str(again), "--only", str(ids)]) == 0
    again = _results(tmp_path / "again.json", {"t::b": 1.9})
    assert compare_timings.main([str(base), str(now), str(again), "--only", str(ids)]) == 1
    assert compare_timings.main([str(base), str(_results(tmp_path / "none.json", {})), "--only", str(ids)]) == 1


def test_a_baseline_from_an_older_suite_asks_to_be_re_recorded(tmp_path, capsys):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"benchmarks": [{"fullname": "t::a", "stats": {"median": 1.0}, "extra_info": {}}]}))
    assert compare_timings.main([str(old), str(_results(tmp_path / "now.json", {"t::a": 1.0}))]) == 1
    assert "re-record" in capsys.readouterr().out


def test_the_baseline_takes_each_benchmark_from_its_median_run(tmp_path):
    runs = [_results(tmp_path / f"run{i}.json", seconds) for i, seconds in
            enumerate([{"t::a": 1.0, "t::b": 3.0}, {"t::a": 1.6, "t::b": 1.0}, {"t::a": 1.2, "t::b": 2.0}])]
    out = tmp_path / "baseline.json"
    assert baseline.main([str(out), *map(str, runs)]) == 0
    merged = compare_timings.read_results(out)
    assert {name: entry["extra_info"]["rounds_s"] for name, entry in merged.items()} == {"t::a": [1.2], "t::b": [2.0]}


def test_benchmarks_a_baseline_lacks_are_added_and_its_entries_kept(tmp_path):
    base = _results(tmp_path / "base.json", {"t::a": 1.0})
    runs = [_results(tmp_path / f"run{i}.json", seconds) for i, seconds in
            enumerate([{"t::a": 5.0, "t::new": 3.0}, {"t::a": 5.0, "t::new": 1.0}, {"t::a": 5.0, "t::new": 2.0}])]
    assert baseline.main(["--add-to", str(base), *map(str, runs)]) == 0
    merged = compare_timings.read_results(base)
    assert {name: entry["extra_info"]["rounds_s"] for name, entry in merged.items()} == {"t::a": [1.0], "t::new": [2.0]}
