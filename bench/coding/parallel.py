"""Process-parallel map over chunks of images, for codecs that code each image on its own.

Per-image coding is embarrassingly parallel; on this project's 2-core machines it halves the wall
time of per-image PNG, WebP and Brotli over 70,000 images. Whole-stream codecs stay single-threaded,
as their command-line tools are. `BENCH_WORKERS=1` turns it off.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

#: Below this many items per worker, starting processes costs more than it saves.
MIN_ITEMS_PER_WORKER = 2000


def default_workers() -> int:
    return max(1, int(os.environ.get("BENCH_WORKERS") or os.cpu_count() or 1))


#: The function the running pool's workers apply, set just before the pool forks: the workers inherit
#: it (a fitted codec, a closure over a loaded model) instead of unpickling it. One pool at a time.
_JOB: Callable | None = None


def _run_job(item):
    return _JOB(item)


def _fork_map(fn: Callable, items: Sequence, workers: int) -> list:
    """`[fn(item) for item in items]` in `workers` forked processes, in order; the first exception is
    raised. The one process pool of the project."""
    global _JOB
    _JOB = fn
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_job, items))
    finally:
        _JOB = None


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def map_chunks(fn: Callable[[Sequence], list], items: Sequence, workers: int | None = None) -> list:
    """`fn(items)` computed in chunks across processes, concatenated in order."""
    workers = workers or default_workers()
    n = len(items)
    if workers <= 1 or n < 2 * MIN_ITEMS_PER_WORKER or not _can_fork():
        return fn(items)
    workers = min(workers, n // MIN_ITEMS_PER_WORKER)
    step = -(-n // (workers * 4))  # a few chunks per worker evens out uneven chunk costs
    chunks = [items[i : i + step] for i in range(0, n, step)]
    # Per-image codecs run no torch, so forking them is safe.
    return [out for part in _fork_map(fn, chunks, workers) for out in part]


def _per_image(codec) -> None:
    if not getattr(codec, "per_image", False):
        raise TypeError(f"{codec.name or type(codec).__name__} does not declare per-image coding (per_image)")


def encode_each(codec, images) -> list[bytes]:
    """`codec.encode_image(image)` for every image, on every core (`per_image` codecs)."""
    _per_image(codec)
    return map_chunks(lambda chunk: [codec.encode_image(image) for image in chunk], images)


def decode_each(codec, blobs: list[bytes]) -> list:
    """`codec.decode_image(blob)` for every blob, on every core."""
    _per_image(codec)
    return map_chunks(lambda chunk: [codec.decode_image(blob) for blob in chunk], blobs)


def map_segments(fn: Callable, items: Sequence, workers: int | None = None, fork: bool = True) -> list:
    """`[fn(item) for item in items]` on up to `workers` cores (default: `default_workers()`), in order.

    For the independent segments of one torch codec's stream (local-ar's lockstep groups): each
    item's work is the same whatever the worker count, so the bits do not depend on it. Forked
    processes, not threads: with the network in bfloat16, two threads coded 1.37x as fast as one
    (the GIL holds the per-position Python work), two processes 2x. `fork=False` (a CUDA model,
    which must not be forked) uses threads. The first exception is raised."""
    workers = min(workers or default_workers(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    if not fork or not _can_fork():
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="bench-segment") as pool:
            return list(pool.map(fn, items))
    return _fork_map(fn, items, workers)
