"""Trained-model cache, keyed by a content hash of (codec, params, training data, profile, seed, code).

A model is written under a temporary name and renamed only once training has finished, so a
failed or interrupted training never leaves an entry behind. Entries are plain bytes (a codec
serialises its own weights), which is also what `model_bytes` measures.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from bench.api.codec import RunContext
from bench.api.identity import CodecIdentity

#: Training records: `<cache>/<codec>/trainings/<entry name>.json`, out of the way of globs over entries.
TRAINING_RECORDS = "trainings"


def model_key(identity: CodecIdentity, data_digest: str, ctx: RunContext, tag: str = "model",
              params: dict | None = None) -> str:
    if params is not None:
        identity = identity.with_params(params)
    return identity.key(data=data_digest, profile=ctx.profile, seed=ctx.seed, tag=tag)


def load_or_train(identity: CodecIdentity, data_digest: str, ctx: RunContext, train: Callable[[], bytes],
                  tag: str = "model", params: dict | None = None) -> bytes:
    """The cached bytes for this model, or `train()`'s result, stored once it has returned.

    `identity`: the codec's (`codec.identity`): name, parameters and code version, never the object.
    `params`: the parameters that shape the trained model, when some of the codec's do not (e.g. a
    quantisation step applied after training): configurations differing only there share one model.
    """
    key = model_key(identity, data_digest, ctx, tag, params)
    path = Path(ctx.cache_dir) / identity.name / f"{tag}-{key}.bin"
    if path.exists():
        return path.read_bytes()
    with training_lock(path):
        if path.exists():  # trained by another process while this one waited
            return path.read_bytes()
        started, started_cpu = time.perf_counter(), time.process_time()
        blob = train()
        train_s, train_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
        if not isinstance(blob, bytes):
            raise TypeError("a training function must return the serialised model as bytes")
        write_atomically(path, blob)
        record_training(path, ctx, train_s, train_cpu_s, tag=tag)
    return blob


@contextmanager
def training_lock(entry: Path):
    """Hold `<entry>.lock` exclusively: cells running at once (side by side, or on the nodes of a
    cluster sharing this cache folder) that need the same model wait for one training instead of
    each training it. An advisory `flock`: released when the holder exits, even if it is killed."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(entry.with_name(entry.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_atomically(path: Path, data: bytes) -> None:
    """Write under a temporary name, then rename: a reader (or a run resumed after a crash) sees the
    whole file or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def record_training(entry: Path, ctx: RunContext, train_s: float, train_cpu_s: float, **extra) -> None:
    """Record beside a cache entry what its training cost here (read by `bench profiles`)."""
    record = {"train_s": train_s, "train_cpu_s": train_cpu_s, "profile": ctx.profile, "device": ctx.device,
              "seed": ctx.seed, "cpus": os.cpu_count(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}
    write_atomically(entry.parent / TRAINING_RECORDS / f"{entry.stem}.json", json.dumps(record).encode())


def training_records(cache_dir: str | Path) -> dict[str, list[dict]]:
    """Codec (cache folder) -> the training records found there, each with its entry's `tag`."""
    records: dict[str, list[dict]] = {}
    for path in sorted(Path(cache_dir).glob(f"*/{TRAINING_RECORDS}/*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not isinstance(record.get("train_s"), (int, float)):
            continue  # a damaged record is no measurement
        record.setdefault("tag", path.name.split("-")[0])
        records.setdefault(path.parent.parent.name, []).append(record)
    return records


def unrecorded_entries(cache_dir: str | Path, codec: str) -> int:
    """Cache entries of `codec` with no training record (trained before records were kept)."""
    folder = Path(cache_dir) / codec
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_file() and p.suffix in (".bin", ".json")
               and not (folder / TRAINING_RECORDS / f"{p.stem}.json").exists())
