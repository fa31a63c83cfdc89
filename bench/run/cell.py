"""One cell = (codec configuration, split, repetition), measured and turned into one row.

Cells are independent of each other: each builds its codec once, fits it, measures it with
`bench.run.measure`, scores it, and returns its row, so an executor (`bench.run.executor`) can run
them anywhere without touching the codecs. `plan` makes the cells of a request; `run_cell` runs one;
`bench.run.runner.run` is the whole run around them.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from tqdm import tqdm

from bench.api.codec import Codec, DatasetCodec, ImageCodec, RunContext, Seeding
from bench.api.identity import code_version, content_key
from bench.api.registry import BrokenConfig, config_label, create_codec, get_entry, report_columns
from bench.data.idx import to_idx
from bench.errors import CodecUnavailable, one_line
from bench.learn import classifier
from bench.run import artifacts, metrics
from bench.run.environment import device_name, git_sha, library_versions
from bench.run.measure import derive, device_timer, measure, scalar_derived_columns
from bench.run.timing import synchronize


@dataclass(frozen=True)
class Cell:
    codec: str
    params: tuple  # sorted (key, value) pairs, hashable
    split: str
    limit: int | None
    repetition: int
    #: Content hash of everything that determines the result (`cell_key`); set by `plan`.
    key: str = ""
    #: The seed of this cell: the codec's training seed and the judge's (`--seeds`); None: the run's.
    seed: int | None = None
    #: The judge's seed where only the judge's varies (a suite's `JUDGE_SEEDS`); None: `seed`.
    judge_seed: int | None = None

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def label(self) -> str:
        return config_label(self.codec, self.param_dict)


def cell_key(cell: Cell, data_digest: str, ctx: RunContext) -> str:
    """Content hash of everything that determines a cell's result, independent of run order."""
    judged_apart = {} if cell.judge_seed is None else {"judge_seed": cell.judge_seed}  # other cells keep their keys
    return content_key({
        "codec": cell.codec,
        "params": cell.param_dict,
        "split": cell.split,
        "limit": cell.limit,
        "repetition": cell.repetition,
        "data": data_digest,
        "code": code_version(get_entry(cell.codec).cls),
        "profile": ctx.profile,
        "device": ctx.device,
        "seed": ctx.seed if cell.seed is None else cell.seed,
        **judged_apart,
        **({"retrain": True} if ctx.retrain else {}),  # other runs keep their keys
    }, length=20)


def plan(configs: list[tuple[str, dict]], split: str, limit: int | None, repeat: int, ctx: RunContext,
         seeding: Seeding | Mapping[str, Seeding] | None = None) -> list[Cell]:
    """Every cell of the run, keyed: each configuration under each of its seeds (`seeding`: one for every
    configuration, or by configuration label; default: the run's seed), each repetition. A seed is a
    cell of its own, resumable and cached by content like any other."""
    digest = ctx.split(split, limit).digest
    cells = []
    for name, params in configs:
        chosen = seeding if seeding is None or isinstance(seeding, Seeding) else seeding.get(config_label(name, params))
        for seed in chosen.seeds if chosen else [ctx.seed]:
            other = None if seed == ctx.seed else seed
            seeds = {"judge_seed": other} if chosen and chosen.judge_only else {"seed": other}
            for rep in range(repeat):
                cell = Cell(name, tuple(sorted(params.items())), split, limit, rep, **seeds)
                cells.append(Cell(**{**cell.__dict__, "key": cell_key(cell, digest, ctx)}))
    return cells


def cell_context(cell: Cell, ctx: RunContext) -> RunContext:
    """The run's context with the cell's seeds: its codec trains under `seed`, its judge under
    `judge_seed` (else `seed`)."""
    if cell.seed is None and cell.judge_seed is None:
        return ctx
    return dataclasses.replace(ctx, seed=ctx.seed if cell.seed is None else cell.seed, judge_seed=cell.judge_seed)


def learned_from_train(codec: Codec) -> bool:
    """Whether the codec's model was fitted on the train split (it overrides `fit`): on split `all` it
    has then also coded the very images it learned from."""
    return type(codec).fit is not Codec.fit


def _image_codec_columns(codec: ImageCodec, split, bar, train_limit: int | None) -> dict:
    bar.set_postfix_str("encode + decode")
    measured = measure(codec, split.images)
    bar.update(2)
    row = {**measured.columns(), **codec.extra_columns()}  # before the held-out coding replaces the codec's stats
    if codec.exact_source:
        row["exact_source"] = codec.exact_source
    if codec.checked_exact and len(measured.mismatched):
        bad = measured.mismatched
        row["status"] = "failed"
        row["error"] = f"{'lossless' if codec.kind == 'lossless' else codec.exact_source} round trip differs on {len(bad)} of {len(split)} images (first: image {bad[0]})"
        return row
    if artifacts.held_out_part(split):
        bar.set_postfix_str("test images alone")
        row.update(_held_out_columns(codec, split))
    if codec.kind == "lossy":
        bar.set_postfix_str("metrics")
        row["psnr_image_mean"] = metrics.mean_image_psnr(split.images, measured.decoded)
        row.update(metrics.per_digit_mse(split.images, measured.decoded, split.labels))
        row.update(artifacts.output_columns(split, measured.decoded))  # container sizes + a sample for the report
        bar.set_postfix_str("classifier")
        row.update(_lossy_accuracy(codec, split, measured.decoded, train_limit))
    return row


def _held_out_columns(codec: ImageCodec, split) -> dict:
    """The 10,000 test images of split `all` coded on their own, decoded and checked (`test_payload_bytes`,
    `test_bpp`, `test_mse`, `test_psnr`, `test_psnr_image_mean`): for a learned codec, images it never
    saw; for every image codec, learned or not, the same images, so that the report compares every
    image codec on one set (a codec's bits/pixel depend on which images it codes: lzma spends 1.32 on
    all 70,000 and 1.38 on the test images alone).

    Harness time, outside enc_s and dec_s: the codec codes these images a second time."""
    started = time.perf_counter()
    test = split.images[artifacts.held_out_part(split)]
    held_out = measure(codec, test, warm_up=False)
    if codec.checked_exact and len(held_out.mismatched):
        raise ValueError(f"exact round trip of the test images alone differs on {len(held_out.mismatched)} images")
    derived = scalar_derived_columns(len(held_out.payload), held_out.raw_bytes, 0, held_out.mse, held_out.enc_s,
                                     held_out.dec_s, len(test))
    mean_psnr = metrics.mean_image_psnr(test, held_out.decoded) if codec.kind == "lossy" else float("nan")
    return {"test_payload_bytes": len(held_out.payload), "test_bpp": float(derived["bpp"]), "test_mse": held_out.mse,
            "test_psnr": float(derived["psnr"]), "test_psnr_image_mean": mean_psnr,
            "test_n_images": len(test), "held_out_s": time.perf_counter() - started}


def _lossy_accuracy(codec: ImageCodec, split, decoded: np.ndarray, train_limit) -> dict:
    """A classifier trained on the codec's reconstruction of the train split, scored on the real test split.

    Split `all` already holds the decoded train part; otherwise the train split (first `train_limit`
    images, as for dataset codecs) makes one more round trip: harness time, outside enc_s and dec_s.
    """
    ctx = codec.ctx
    started = time.perf_counter()
    if split.name == "all":
        train_images, train_labels = decoded[: artifacts.TEST_START_IN_ALL], split.labels[: artifacts.TEST_START_IN_ALL]
    else:
        train = ctx.split("train", train_limit)
        train_images, train_labels = np.asarray(codec.decompress(codec.compress(train.images))), train.labels
    roundtrip_s = time.perf_counter() - started
    score = classifier.score_training_set(train_images, train_labels, ctx)
    return {**_classifier_columns(score, ctx), "train_roundtrip_s": roundtrip_s}


def _classifier_columns(score, ctx: RunContext) -> dict:
    return {"accuracy": score.accuracy, "classifier_train_s": score.train_s, "classifier_cached": score.cached,
            "classifier_protocol": classifier.protocol(ctx.profile)}


_GZIP_BYTES: dict[str, int] = {}


def _gzip_bytes(split) -> int:
    """Bytes of `gzip -9` of the split's images as one IDX stream, as `gzip -9 train-images-idx3-ubyte`
    gives them (measured once per split content)."""
    if split.digest not in _GZIP_BYTES:
        _GZIP_BYTES[split.digest] = len(gzip.compress(to_idx(split.images), 9, mtime=0))
    return _GZIP_BYTES[split.digest]


def _dataset_codec_columns(codec: DatasetCodec, split, bar) -> dict:
    bar.set_postfix_str("encode + decode")
    measured = measure(codec, split.images, split.labels)
    bar.update(2)
    bar.set_postfix_str("classifier")
    score = classifier.score_training_set(measured.decoded, measured.decoded_labels, codec.ctx)
    gzip_bytes = _gzip_bytes(split)
    return {
        **measured.columns(),
        **codec.extra_columns(),
        "gzip_bytes": gzip_bytes,
        "ratio_vs_gzip": gzip_bytes / len(measured.payload),
        **_classifier_columns(score, codec.ctx),
        **artifacts.output_columns(split, measured.decoded, measured.decoded_labels),
    }


def _row_header(codec: str, label: str, params: dict, split: str, repetition: int, key: str,
                ctx: RunContext) -> dict:
    """What ran, where and from which code: the columns every row starts with."""
    return {
        "codec": codec,
        "config": label,
        "params": json.dumps(params, sort_keys=True, default=str),
        "split": split,
        "repetition": repetition,
        "device": ctx.device,
        "device_name": device_name(ctx.device),
        "node": socket.gethostname(),  # the machine the cell ran on (a cluster has several)
        "profile": ctx.profile,
        "seed": ctx.seed,
        "judge_seed": ctx.judge_training_seed,
        "torch_version": library_versions()["torch"],
        "git_sha": git_sha(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "cell_key": key,
        "status": "ok",
        "error": None,
        "model_bytes": 0,
    }


def broken_row(config: BrokenConfig, split: str, ctx: RunContext) -> dict:
    """The failed row of a requested codec module that failed to import: failed, so `--resume` tries
    it again; the configurations it would have run are unknown, so it is one row whatever `repeat`."""
    row = _row_header(config.name, config.label, config.params, split, 0, f"broken:{config.module}", ctx)
    row.update(status="failed", error=config.message, wall_s=0.0)
    return row


def failed_cell_row(cell: Cell, ctx: RunContext, reason: str) -> dict:
    """The row of a cell that could not run at all (its worker died): failed, so `--resume` retries it."""
    row = _row_header(cell.codec, cell.label, cell.param_dict, cell.split, cell.repetition, cell.key,
                      cell_context(cell, ctx))
    row.update(status="failed", error=reason, wall_s=0.0)
    return row


def run_cell(cell: Cell, ctx: RunContext, position: int = 0) -> dict:
    """Measure one cell; never raises for a codec failure (the row says `failed` and why). A codec that
    cannot run here (`Codec.unavailable_reason`, or CodecUnavailable raised) leaves a `skipped` row."""
    started = time.perf_counter()
    ctx = cell_context(cell, ctx)
    row = _row_header(cell.codec, cell.label, cell.param_dict, cell.split, cell.repetition, cell.key, ctx)
    codec: Codec | None = None
    with tqdm(total=3, desc=f"{cell.label} [{cell.split}]", leave=False, file=sys.stderr, position=position,
              disable=None) as bar:
        try:
            codec = create_codec(cell.codec, ctx, **cell.param_dict)
            row["kind"] = codec.kind
            row.update(report_columns(cell.codec, cell.param_dict))  # the report's family and roles
            # A codec this machine cannot run (an external program it lacks) is skipped, not failed.
            unavailable = type(codec).unavailable_reason()
            if unavailable:
                raise CodecUnavailable(unavailable)
            # A classical codec computes on the CPU whatever device the run asked for.
            row["device"] = ctx.device if codec.uses_torch else "cpu"
            row["device_name"] = device_name(row["device"])
            # Dataset codecs summarise a training set; image codecs code the requested split.
            subject = ctx.split("train" if codec.kind == "dataset" else cell.split, cell.limit)
            row["n_images"] = len(subject)
            bar.set_postfix_str("fit")
            _, row["fit_s"] = device_timer(row["device"])(lambda: codec.fit(ctx.split("train")))
            bar.update()
            if isinstance(codec, DatasetCodec):
                row.update(_dataset_codec_columns(codec, subject, bar))
            else:
                row.update(_image_codec_columns(codec, subject, bar, train_limit=cell.limit))
            row["model_bytes"] = int(codec.model_bytes)
        except KeyboardInterrupt:
            raise
        except CodecUnavailable as exc:  # before fitting, or raised by the codec itself: `--resume` retries it
            row.update(status="skipped", error=str(exc), device="cpu", device_name=device_name("cpu"))
        except Exception as exc:
            row.update(status="failed", error=one_line(exc))
            if ctx.profile == "smoke" or ctx.verbose:
                traceback.print_exc()
        finally:
            synchronize(row["device"])
    derive(row)
    row["wall_s"] = time.perf_counter() - started
    return row


def summary_line(row: dict) -> str:
    # A seed other than 0 is named: under several seeds one configuration has a line per seed.
    config = row["config"] + (f" seed {row['seed']}" if row.get("seed") else "")
    if row.get("judge_seed") not in (None, row.get("seed")):
        config += f" judge {row['judge_seed']}"
    if row["status"] == "skipped":
        return f"{config:<32} {row['split']:<5} SKIPPED {row['error']}"
    if row["status"] != "ok":
        return f"{config:<32} {row['split']:<5} FAILED  {row['error']}"
    parts = [
        f"{config:<32} {row['split']:<5} {row['n_images']:>6} img",
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

