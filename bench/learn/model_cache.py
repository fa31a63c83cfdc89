"""Trained-model cache, keyed by a content hash of (codec, params, training data, profile, seed, code).

A model is written under a temporary name and renamed only once training has finished, so a
failed or interrupted training never leaves an entry behind. Entries are plain bytes (a codec
serialises its own weights), which is also what `model_bytes` measures.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from bench.api.codec import Codec, RunContext
from bench.api.identity import code_version


def model_key(codec: Codec, data_digest: str, ctx: RunContext, tag: str = "model",
              params: dict | None = None) -> str:
    identity = {
        "codec": codec.name,
        "params": codec.params if params is None else params,
        "data": data_digest,
        "profile": ctx.profile,
        "seed": ctx.seed,
        "code": code_version(type(codec)),
        "tag": tag,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:24]


def load_or_train(codec: Codec, data_digest: str, ctx: RunContext, train: Callable[[], bytes],
                  tag: str = "model", params: dict | None = None) -> bytes:
    """The cached bytes for this model, or `train()`'s result, stored once it has returned.

    `params`: the parameters that shape the trained model, when some of the codec's do not (e.g. a
    quantisation step applied after training): configurations differing only there share one model.
    """
    key = model_key(codec, data_digest, ctx, tag, params)
    path = Path(ctx.cache_dir) / (codec.name or "codec") / f"{tag}-{key}.bin"
    if path.exists():
        return path.read_bytes()
    blob = train()
    if not isinstance(blob, bytes):
        raise TypeError("a training function must return the serialised model as bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return blob
