"""Encode and decode time of the codec configurations on the fixed 1,000-image slice: the main suite's,
and one of every other codec and framing (`timed_configurations`).

Times are gated against a committed baseline (see scripts/bench_ci.sh) by `benchmarks.gates.compare`: the
best round's time over the best of a calibration workload timed before each round, which cancels the
speed swings of a shared machine (`extra_info["rounds_s"]`, `["calibrations_s"]`). A call shorter than
MIN_ROUND_S is repeated within its round (pytest-benchmark's iterations, so every time stays per call;
`extra_info["calls_per_round"]`) and calibrated before and after its rounds. Bytes, bits/pixel and MSE
go into `extra_info` and are gated by test_golden.py.
"""

from __future__ import annotations

import time

import pytest

from bench.api.registry import config_label, get_entry, parse_spec
from bench.run.environment import device_name
from bench.run.measure import Timer, derive, measure
from bench.run.timing import synchronize

from .calibration import calibration_seconds
from .conftest import QUICK, one_cpu_thread


def timed_configurations():
    """The main suite's configurations, and the first registered configuration of every other (codec,
    framing): a rate or quality sweep is one code path with other numbers (jpeg's seven qualities, JPEG
    2000's twenty-two points), and timing each of 264 configurations would double CI's time for no
    path the gate does not already watch."""
    from bench.api.suites import MAIN

    chosen = list(MAIN.resolve())
    paths = {(name, params.get("framing")) for name, params in chosen}
    for name, params in parse_spec("*"):
        full = {**get_entry(name).defaults, **params}
        if (name, full.get("framing")) not in paths and (name, params.get("framing")) not in paths:
            paths.add((name, full.get("framing")))
            paths.add((name, params.get("framing")))
            chosen.append((name, params))
    return chosen


CONFIGS = timed_configurations()
IDS = [config_label(name, params) for name, params in CONFIGS]
#: Aim for about this much measured time per benchmark; rounds are fixed per codec from a probe call.
TARGET_S = 1.0 if QUICK else 3.0
MAX_ROUNDS = 5 if QUICK else 15
#: A round shorter than this is mostly timer and scheduler noise (raw decode takes 0.1 ms: it read
#: +107% slower in one CI run and -50% in the next), so a short call is repeated within its round.
MIN_ROUND_S = 0.02


def _rounds(probe_s: float) -> int:
    return int(min(MAX_ROUNDS, max(2, TARGET_S / max(probe_s, 1e-6))))


def calls_per_round(probe_s: float) -> int:
    """How many calls one timed round makes: enough that a round lasts MIN_ROUND_S."""
    return int(min(4096, max(1, -(-MIN_ROUND_S // max(probe_s, 1e-6)))))


def _pedantic(benchmark, fn, device: str):
    def synced():
        out = fn()
        synchronize(device)
        return out

    start = time.perf_counter()
    out = synced()  # a probe call, which is also the warm-up
    probe_s = time.perf_counter() - start
    calls = calls_per_round(probe_s)
    rounds = _rounds(probe_s * calls)
    calibrations = []

    def calibrate():  # the machine's speed right then
        calibrations.append(calibration_seconds())

    if calls == 1:  # calibrated in pedantic's untimed set-up before each round
        benchmark.pedantic(synced, setup=calibrate, rounds=rounds, iterations=1, warmup_rounds=0)
    else:  # pedantic allows no set-up with iterations; a short benchmark is over within a second
        calibrate()
        benchmark.pedantic(synced, rounds=rounds, iterations=calls, warmup_rounds=0)
        calibrate()
    benchmark.extra_info["device"] = device_name(device)
    # benchmarks.gates.compare judges the best round (pytest-benchmark keeps seconds per call) over the best
    # calibration.
    benchmark.extra_info["calls_per_round"] = calls
    benchmark.extra_info["rounds_s"] = list(benchmark.stats.stats.data)
    benchmark.extra_info["calibrations_s"] = calibrations
    return out


def pedantic_timer(benchmark, device: str) -> Timer:
    """A `bench.run.measure` timer that times its call as this benchmark's rounds."""
    return lambda fn: (_pedantic(benchmark, fn, device), min(benchmark.stats.stats.data))


def _measure(benchmark, codec, bench_slice, **timer) -> dict:
    """The runner's measurement with one of its two calls timed by pytest-benchmark; bytes, bpp and MSE
    go into extra_info."""
    test, train = bench_slice
    if codec.kind == "dataset":
        measured = measure(codec, train.images, train.labels, warm_up=False, **timer)
        benchmark.extra_info["n_decoded"] = len(measured.decoded)
    else:
        measured = measure(codec, test.images, warm_up=False, **timer)
    row = measured.columns()
    derive(row)
    benchmark.extra_info.update(bytes=row["payload_bytes"], bpp=row["bpp"])
    if row.get("mse") is not None:
        benchmark.extra_info["mse"] = row["mse"]
    return row


@pytest.mark.parametrize("name, params", CONFIGS, ids=IDS)
def test_encode(benchmark, name, params, fitted_codec, bench_slice, bench_context):
    benchmark.group = "encode"
    with one_cpu_thread():
        _measure(benchmark, fitted_codec(name, params), bench_slice,
                 encode_timer=pedantic_timer(benchmark, bench_context.device))


@pytest.mark.parametrize("name, params", CONFIGS, ids=IDS)
def test_decode(benchmark, name, params, fitted_codec, bench_slice, bench_context):
    benchmark.group = "decode"
    with one_cpu_thread():
        row = _measure(benchmark, fitted_codec(name, params), bench_slice,
                       decode_timer=pedantic_timer(benchmark, bench_context.device))
    if fitted_codec(name, params).checked_exact:
        assert row["lossless_ok"], f"{name}: exact round trip failed"
