"""The runner: one cell = (codec configuration, split, repetition), measured and written as one row.

Cells are independent of each other: each loads its data, builds its codec, and returns its row,
so a different executor could farm them out without touching the codecs.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from tqdm import tqdm

from bench.api.codec import DatasetCodec, ImageCodec, RunContext
from bench.api.identity import code_version
from bench.api.registry import config_label, create_codec
from bench.data.mnist import load_split
from bench.learn import classifier
from bench.run import artifacts, metrics
from bench.run.environment import device_name, git_sha, library_versions
from bench.run.results import ResultsStore
from bench.run.timing import synchronize, timed

WARMUP_IMAGES = 16


@dataclass(frozen=True)
class Cell:
    codec: str
    params: tuple  # sorted (key, value) pairs, hashable
    split: str
    limit: int | None
    repetition: int

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def label(self) -> str:
        return config_label(self.codec, self.param_dict)


def make_cells(configs: list[tuple[str, dict]], split: str, limit: int | None, repeat: int) -> list[Cell]:
    return [
        Cell(name, tuple(sorted(params.items())), split, limit, rep)
        for name, params in configs
        for rep in range(repeat)
    ]


def cell_key(cell: Cell, codec_cls: type, data_digest: str, ctx: RunContext) -> str:
    """Content hash of everything that determines a cell's result, independent of run order."""
    identity = {
        "codec": cell.codec,
        "params": cell.param_dict,
        "split": cell.split,
        "limit": cell.limit,
        "repetition": cell.repetition,
        "data": data_digest,
        "code": code_version(codec_cls),
        "profile": ctx.profile,
        "device": ctx.device,
        "seed": ctx.seed,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _measure_image_codec(codec: ImageCodec, split, ctx: RunContext, bar, train_limit: int | None = None) -> dict:
    images = split.images
    n = len(images)
    warm = images[: min(n, WARMUP_IMAGES)]
    bar.set_postfix_str("warm-up")
    codec.decompress(codec.compress(warm))
    bar.set_postfix_str("encode")
    payload, enc_s = timed(lambda: codec.compress(images), ctx.device)
    bar.update()
    bar.set_postfix_str("decode")
    decoded, dec_s = timed(lambda: codec.decompress(payload), ctx.device)
    bar.update()
    bar.set_postfix_str("verify")
    decoded = np.asarray(decoded)
    if decoded.shape != images.shape or decoded.dtype != np.uint8:
        raise ValueError(f"decoder returned {decoded.shape} {decoded.dtype}, expected {images.shape} uint8")
    reference = codec.reference(images)  # what a lossless decode must equal (binarised, for ar-mnist)
    bad = metrics.mismatched_images(reference, decoded)
    exact = not len(bad) and (reference is images or np.array_equal(reference, images))
    mse = 0.0 if exact else metrics.mse(images, decoded)  # exact decodes skip a 55M-pixel float pass
    row = {
        "raw_bytes": int(images.size),
        "payload_bytes": len(payload),
        "lossless_ok": len(bad) == 0,
        "mse": mse,
        "psnr": metrics.psnr(mse),
        "enc_s": enc_s,
        "dec_s": dec_s,
    }
    if codec.kind == "lossy":
        row.update(metrics.per_digit_mse(images, decoded, split.labels))
        row.update(artifacts.output_columns(split, decoded))  # container sizes + a sample for the report
        bar.set_postfix_str("classifier")
        row.update(_lossy_accuracy(codec, split, decoded, ctx, train_limit))
    if codec.kind == "lossless" and len(bad):
        row["status"] = "failed"
        row["error"] = f"lossless round trip differs on {len(bad)} of {n} images (first: image {bad[0]})"
    return row


def _lossy_accuracy(codec: ImageCodec, split, decoded: np.ndarray, ctx: RunContext, train_limit) -> dict:
    """A classifier trained on the codec's reconstruction of the train split, scored on the real test split.

    Split `all` already holds the decoded train part; otherwise the train split (first `train_limit`
    images, as for dataset codecs) makes one more round trip: harness time, outside enc_s and dec_s.
    """
    started = time.perf_counter()
    if split.name == "all":
        train_images, train_labels = decoded[: artifacts.TEST_START_IN_ALL], split.labels[: artifacts.TEST_START_IN_ALL]
    else:
        train = load_split("train", ctx.data_dir, train_limit)
        train_images, train_labels = np.asarray(codec.decompress(codec.compress(train.images))), train.labels
    roundtrip_s = time.perf_counter() - started
    score = classifier.score_training_set(train_images, train_labels, ctx)
    return {"accuracy": score.accuracy, "classifier_train_s": score.train_s, "classifier_cached": score.cached,
            "train_roundtrip_s": roundtrip_s}


_GZIP_BYTES: dict[str, int] = {}


def _gzip_bytes(split) -> int:
    """Bytes of `gzip -9` of the split's images as one IDX stream (measured once per split content)."""
    if split.digest not in _GZIP_BYTES:
        _GZIP_BYTES[split.digest] = len(create_codec("gzip", framing="whole", level=9).compress(split.images))
    return _GZIP_BYTES[split.digest]


def _measure_dataset_codec(codec: DatasetCodec, split, ctx: RunContext, bar) -> dict:
    bar.set_postfix_str("encode")
    payload, enc_s = timed(lambda: codec.compress_dataset(split.images, split.labels), ctx.device)
    bar.update()
    bar.set_postfix_str("decode")
    (images, labels), dec_s = timed(lambda: codec.decompress_dataset(payload), ctx.device)
    bar.update()
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(labels):
        raise ValueError(f"dataset decoder returned images {images.shape} {images.dtype} and labels {labels.shape}")
    bar.set_postfix_str("classifier")
    score = classifier.score_training_set(images, labels, ctx)
    gzip_bytes = _gzip_bytes(split)
    return {
        "raw_bytes": int(split.images.size),
        "payload_bytes": len(payload),
        "gzip_bytes": gzip_bytes,
        "ratio_vs_gzip": gzip_bytes / len(payload),
        "accuracy": score.accuracy,
        "classifier_train_s": score.train_s,
        "classifier_cached": score.cached,
        "n_decoded": len(images),
        **artifacts.output_columns(split, images, labels),
        "enc_s": enc_s,
        "dec_s": dec_s,
    }


def run_cell(cell: Cell, ctx: RunContext, key: str, position: int = 0) -> dict:
    """Measure one cell; never raises for a codec failure (the row says `failed` and why)."""
    started = time.perf_counter()
    row = {
        "codec": cell.codec,
        "config": cell.label,
        "params": json.dumps(cell.param_dict, sort_keys=True),
        "split": cell.split,
        "repetition": cell.repetition,
        "device": ctx.device,
        "device_name": device_name(ctx.device),
        "profile": ctx.profile,
        "seed": ctx.seed,
        "torch_version": library_versions()["torch"],
        "git_sha": git_sha(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "cell_key": key,
        "status": "ok",
        "error": None,
        "model_bytes": 0,
    }
    with tqdm(total=3, desc=f"{cell.label} [{cell.split}]", leave=False, file=sys.stderr, position=position,
              disable=None) as bar:
        try:
            codec = create_codec(cell.codec, **cell.param_dict)
            row["kind"] = codec.kind
            data = load_split(cell.split, ctx.data_dir, cell.limit)
            # Dataset codecs summarise a training set; image codecs code the requested split.
            subject = load_split("train", ctx.data_dir, cell.limit) if codec.kind == "dataset" else data
            row["n_images"] = len(subject)
            bar.set_postfix_str("fit")
            _, row["fit_s"] = timed(lambda: codec.fit(load_split("train", ctx.data_dir), ctx), ctx.device)
            bar.update()
            if codec.kind == "dataset":
                row.update(_measure_dataset_codec(codec, subject, ctx, bar))
            else:
                row.update(_measure_image_codec(codec, subject, ctx, bar, train_limit=cell.limit))
            row["model_bytes"] = int(codec.model_bytes)
            row.update(codec.extra_columns())
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            row.update(status="failed", error=_one_line(exc))
            if ctx.profile == "smoke" or "--verbose" in sys.argv:
                traceback.print_exc()
        finally:
            synchronize(ctx.device)
    _derive(row)
    row["wall_s"] = time.perf_counter() - started
    return row


def _derive(row: dict) -> None:
    """Columns computed from the measured ones."""
    payload = row.get("payload_bytes")
    n = row.get("n_images") or 0
    if payload:
        pixels = row["raw_bytes"]
        row["bpp"] = metrics.bits_per_pixel(payload, pixels)
        row["ratio"] = row["raw_bytes"] / payload
        row["total_bytes"] = payload + row["model_bytes"]
    if row.get("enc_s") and row.get("dec_s") and n:
        row["enc_images_per_s"] = n / row["enc_s"]
        row["dec_images_per_s"] = n / row["dec_s"]
        row["images_per_s"] = n / (row["enc_s"] + row["dec_s"])


def summary_line(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['config']:<32} {row['split']:<5} FAILED  {row['error']}"
    parts = [
        f"{row['config']:<32} {row['split']:<5} {row['n_images']:>6} img",
        f"{row['payload_bytes']:>11,} B",
        f"{row['bpp']:6.3f} bpp",
        f"x{row['ratio']:6.2f}",
    ]
    if row.get("kind") == "dataset":
        parts.append(f"x{row['ratio_vs_gzip']:.2f} vs gzip")
    else:
        parts.append("lossless ok" if row.get("lossless_ok") else f"PSNR {row.get('psnr', float('nan')):5.2f} dB")
    if row.get("accuracy") is not None and row.get("accuracy") == row.get("accuracy"):
        parts.append(f"acc {row['accuracy']:.4f}")
    parts.append(f"enc {row['enc_s']:.2f}s dec {row['dec_s']:.2f}s")
    return "  ".join(parts)


def run(configs, *, split: str, limit: int | None, repeat: int, ctx: RunContext, out_dir, resume: bool,
        echo=print) -> ResultsStore:
    """Run every cell not already done (with `resume`), appending each row as it finishes."""
    store = ResultsStore(out_dir)
    done = store.done_keys() if resume else set()
    cells = make_cells(configs, split, limit, repeat)
    data_digest = load_split(split, ctx.data_dir, limit).digest
    skipped = 0
    for cell in cells:
        key = cell_key(cell, create_codec(cell.codec, **cell.param_dict).__class__, data_digest, ctx)
        if key in done:
            skipped += 1
            continue
        row = run_cell(cell, ctx, key)
        artifacts.save(store.dir, row)
        store.append(row)
        echo(summary_line(row))
    if skipped:
        echo(f"resumed: {skipped} finished cell(s) skipped")
    return store
