"""A fixed CPU workload whose time measures how fast this machine is running right now.

On a shared machine the same code runs up to twice as slowly for minutes at a time (measured:
docs/gates.md). Timing this workload next to each benchmark and dividing by it removes that
common swing. It mixes what the codecs spend their time on: a C compressor over bytes, float
matrix products, and an interpreted Python loop.
"""

from __future__ import annotations

import time
import zlib

import numpy as np

_rng = np.random.default_rng(0)
#: Sparse bytes, like MNIST pixels: mostly zeros with runs of values.
_BYTES = (np.where(_rng.random(200_000) < 0.2, _rng.integers(0, 256, 200_000), 0)).astype(np.uint8).tobytes()
_MATRIX = _rng.standard_normal((96, 96)).astype(np.float32)


def _workload() -> int:
    packed = len(zlib.compress(_BYTES, 6))
    product = _MATRIX
    for _ in range(20):
        product = np.tanh(product @ _MATRIX)
    total = 0
    for i in range(20_000):
        total += (i * 7) % 13
    return packed + total + int(product[0, 0] > 0)


def calibration_seconds() -> float:
    """Wall time of one run of the workload (about 20 ms on a 2-core VM); taken before every round."""
    start = time.perf_counter()
    _workload()
    return time.perf_counter() - start
