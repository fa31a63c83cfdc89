"""Fixtures of the benchmark suite: the fixed 1,000-image slice and fitted codecs.

`BENCH_QUICK=1` (what CI uses) fits learned codecs with the `smoke` profile and runs fewer rounds;
without it, learned codecs use the `default` profile. `BENCH_SLOWDOWN=<codec name>` makes that codec
do its work twice: the regression gate's own test uses it to prove that a 2x slowdown fails.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding.reproducible import torch_threads
from bench.data.mnist import load_split
from bench.run.environment import device_name, resolve_device

SLICE = 1000
QUICK = bool(os.environ.get("BENCH_QUICK"))
PROFILE = "smoke" if QUICK else "default"
CACHE = Path(__file__).resolve().parents[2] / ".cache"  # the project's model cache (/.cache/)


def run_description() -> str:
    device = bench_context_value().device
    note = "" if device.startswith("cuda") else " (torch sees no CUDA GPU: neural codecs run on the CPU)"
    return f"benchmarks: profile {PROFILE}, device {device_name(device)}{note}"


def pytest_report_header(config):
    return run_description()


@contextmanager
def one_cpu_thread():
    """Torch and BLAS on one thread while a benchmark is timed. A second thread makes a time depend on
    what the other core is doing, which the single-threaded calibration cannot see: pca-cnn's decode
    read +50% between two runs on an idle machine with two threads. Multi-core throughput is `bench
    run`'s. Codecs are fitted outside it, as the golden values were (a chance-level LGC accuracy moved
    by 0.04 when its smoke autoencoder trained with one BLAS thread).
    """
    from threadpoolctl import threadpool_limits

    with torch_threads("cpu", 1), threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def bench_slice():
    """The first 1,000 test images, and the first 1,000 train images with labels for dataset codecs."""
    return load_split("test", limit=SLICE), load_split("train", limit=SLICE)


def bench_context_value() -> RunContext:
    return RunContext(profile=PROFILE, device=resolve_device("auto"), cache_dir=CACHE)


@pytest.fixture(scope="session")
def bench_context() -> RunContext:
    return bench_context_value()


def _twice(fn):
    def slowed(*args):
        fn(*args)
        return fn(*args)

    return slowed


@pytest.fixture(scope="session")
def fitted_codec(bench_context):
    cache = {}

    def get(name: str, params: dict):
        key = (name, tuple(sorted(params.items())))
        if key not in cache:
            codec = create_codec(name, bench_context, **params)
            reason = type(codec).unavailable_reason()
            if reason:  # an external program this machine lacks (baselines/external.py): nothing to time or pin
                pytest.skip(f"{name} unavailable: {reason}")
            codec.fit(load_split("train"))
            if os.environ.get("BENCH_SLOWDOWN") == name:
                for method in ("compress", "decompress", "compress_dataset", "decompress_dataset"):
                    if hasattr(codec, method):
                        setattr(codec, method, _twice(getattr(codec, method)))
            cache[key] = codec
        return cache[key]

    return get
