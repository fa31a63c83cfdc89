"""Trained weights that ship with the repository, each beside its card.

A card (`<name>.json`) names its weights file, their SHA-256 and size, the recipe they were trained
by (codec, model version, profile, seed, training data, settings) and how (device, torch, seconds).
A codec takes a shipped file only for exactly its own recipe, and only if the checksum holds;
`bench run --retrain` (`RunContext.retrain`) trains from scratch instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

from bench.errors import BenchError
from bench.learn.model_cache import load_or_train


def recipe(codec: str, model_version: int, ctx, train_digest: str, settings: dict) -> dict:
    """What trained weights depend on, as a card records it: a codec takes a shipped file only when
    its own recipe is exactly this."""
    return {"codec": codec, "model_version": model_version, "profile": ctx.profile, "seed": ctx.seed,
            "data": train_digest, "settings": settings}


def as_json(recipe: dict) -> dict:
    """The recipe as a card holds it (tuples become lists), so the two compare equal."""
    return json.loads(json.dumps(recipe))


def find_shipped(recipe: dict, directory: Path) -> tuple[bytes, Path] | None:
    """The shipped weights whose card's recipe is exactly `recipe`, checked against their SHA-256;
    None when no card has that recipe. A file that fails its checksum is refused (one line)."""
    recipe = as_json(recipe)
    for card in sorted(directory.glob("*.json")):
        try:
            entry = json.loads(card.read_text())
        except (OSError, ValueError):
            raise BenchError(f"shipped model card {card} is not valid JSON") from None
        if entry.get("recipe") != recipe:
            continue
        path = card.with_name(entry["file"])
        if not path.is_file():
            raise BenchError(f"shipped model file {path} is missing (its card {card.name} names it)")
        blob = path.read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        if digest != entry.get("sha256"):
            raise BenchError(f"shipped model file {path} fails its SHA-256 check (expected {entry.get('sha256')}, "
                             f"got {digest}): it was altered; restore it (git checkout) or retrain")
        return blob, path
    return None


def shipped_or_trained(codec, train, recipe: dict, directory: Path, training, params: dict) -> tuple[bytes, str]:
    """(model bytes, where they came from) for a codec fitted on `train`: the shipped file made by
    exactly `recipe`, unless the run retrains (`--retrain`); else the cached or freshly trained model
    (`training()`, cached under the codec's identity and `params`, as `load_or_train` does)."""
    shipped = None if codec.ctx.retrain else find_shipped(recipe, directory)
    if shipped is not None:
        return shipped[0], f"shipped {shipped[1].name}"
    return load_or_train(codec.identity, train.digest, codec.ctx, training, params=params), "trained"


def _machine() -> str:
    """The CPU that trained, as the card records it: its model name (Linux) and core count."""
    try:
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.machine()}, {os.cpu_count()} cores"


def write_shipped(path: Path, blob: bytes, recipe: dict, seconds: float, device: str,
                  threads: int | None = None) -> Path:
    """Write `blob` to `path` and its card beside it (`.json`); both are to be committed. `threads`:
    the CPU threads the training used, where it set its own (default: torch's count here)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    threads = threads or torch.get_num_threads()
    where = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"cpu ({threads} threads)"
    card = {"file": path.name, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
            "recipe": as_json(recipe),
            "trained": {"device": where, "machine": _machine(), "torch": torch.__version__, "seconds": round(seconds, 1)}}
    path.with_suffix(".json").write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    return path
