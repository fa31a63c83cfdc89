"""Streams that cannot lie: mutated streams of every coded codec decode to the original or fail with
the project's own errors (BenchError subclasses). Never a MemoryError, a hang, another exception,
or different images.

Per codec (seeded, so a failure reproduces): every bit of every header field, truncation at every
length class, appended bytes, overwritten and spliced headers, then random bit flips everywhere up to
MUTATIONS. The tallies are printed (`pytest -s`) and, with FUZZ_TALLY_JSON=path, written as JSON:
docs/streams.md quotes them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
import zlib

import numpy as np
import pytest
from helpers import time_limit

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding.container import seal, unseal
from bench.data.mnist import load_split
from bench.errors import BenchError

MUTATIONS = 1000
#: Random flips beyond the systematic cases, however many those were.
MIN_RANDOM = 200
DECODE_LIMIT_S = 20

# name -> (registered codec, parameters, stream kind). Image streams code 1 image (2 for splicing);
# dataset streams code a few dozen train images.
CODECS = {
    "conv-ae": ("conv-ae", {}, "sealed"),
    "pca": ("pca", {}, "sealed"),
    "pca-cnn": ("pca-cnn", {}, "sealed"),
    "hyperprior": ("hyperprior", {}, "sealed"),
    "bican-raw": ("bican", {"entropy_coded": False}, "sealed"),
    "bican-coded": ("bican", {"entropy_coded": True}, "sealed"),
    "ar-mnist": ("ar-mnist", {"k": 10}, "sealed"),
    "bilevel-zpaq": ("bilevel", {"coder": "zpaq", "packing": "bits"}, "sealed"),
    "bilevel-g4": ("bilevel", {"coder": "g4"}, "sealed"),
    "zpaq": ("zpaq", {"method": 1}, "sealed"),
    "zpaq-per-image": ("zpaq", {"method": 4, "framing": "per-image"}, "sealed"),
    "ppmd": ("ppmd", {}, "sealed"),
    "ppmd-per-image": ("ppmd", {"variant": "H", "order": 2, "framing": "per-image"}, "sealed"),
    "local-ar": ("local-ar", {}, "sealed"),
    "deep-ar": ("deep-ar", {}, "sealed"),
    "weightless": ("weightless", {}, "sealed"),
    "weightless-cm": ("weightless-cm", {}, "sealed"),
    "learned-cm": ("learned-cm", {}, "sealed"),
    "lgc": ("lgc", {"width": 8}, "sealed"),
    "kmedoids-coreset": ("kmedoids-coreset", {"per_class": 1}, "sealed"),
    "random-subset": ("random-subset", {"per_class": 1}, "sealed"),
}
TALLIES: dict[str, dict] = {}


@pytest.fixture(scope="module")
def train_slice():
    return load_split("train", limit=2000)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-model-cache")


@pytest.fixture(scope="module", autouse=True)
def report_tallies():
    yield
    for name, tally in TALLIES.items():
        print(f"\n{name}: {json.dumps(tally, sort_keys=True)}", end="")
    if os.environ.get("FUZZ_TALLY_JSON"):
        with open(os.environ["FUZZ_TALLY_JSON"], "w") as f:
            json.dump(TALLIES, f, indent=1, sort_keys=True)


def header_spans(data: bytes, kind: str, magic_len: int = 4) -> tuple[list[range], int]:
    """(byte ranges that are header fields, end of the header) of a stream of this kind."""
    if kind == "sealed":  # magic, header, content digest, body length, checksum
        end = len(data) - len(unseal(data, data[:magic_len])[1])
        return [range(0, end)], end
    # gzip: the member header and the trailer (CRC-32, size); the lgc fields are inside the deflate body.
    return [range(0, 10), range(len(data) - 8, len(data))], 10


def mutations(data: bytes, kind: str, other: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """(class, mutated stream) pairs; `other` is a valid stream of the same codec with other content."""
    spans, end = header_spans(data, kind)
    out = []
    for span in spans:
        for byte in span:
            for bit in range(8):
                mutated = bytearray(data)
                mutated[byte] ^= 1 << bit
                out.append(("header-bit", bytes(mutated)))
    body_cuts = sorted({end + (len(data) - end) * i // 8 for i in range(1, 8)})
    for length in [0, 1, 2, 3, end // 2, end - 1, end, *body_cuts, len(data) - 1]:
        out.append(("truncated", data[:length]))
    for extra in (b"\0", bytes([rng.randrange(256)]), rng.randbytes(16), data):
        out.append(("appended", data + extra))
    out.append(("header-zeroed", bytes(end) + data[end:]))
    out.append(("header-random", rng.randbytes(end) + data[end:]))
    out.append(("header-random", data[:4] + rng.randbytes(end - 4) + data[end:]))
    # A well-formed header of another stream (other image count, checksum intact) on this body.
    _, other_end = header_spans(other, kind)
    for spliced in (other[:other_end] + data[end:], data[:end] + other[other_end:]):
        if spliced not in (data, other):  # equal headers (gzip's) splice into a valid stream
            out.append(("header-spliced", spliced))
    n_random = max(MIN_RANDOM, MUTATIONS - len(out))
    for _ in range(n_random):
        mutated = bytearray(data)
        how = rng.choice(("flip1", "flip1", "flip2", "flip8", "byte"))
        if how == "byte":
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        else:
            for _ in range({"flip1": 1, "flip2": 2, "flip8": 8}[how]):
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        out.append((f"random-{how}", bytes(mutated)))
    return out


def same(decoded, reference) -> bool:
    if isinstance(reference, tuple):
        return all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(decoded, reference, strict=True))
    return decoded.dtype == reference.dtype and np.array_equal(decoded, reference)


def decode_outcome(decode, stream: bytes, reference, what: str, failures: list) -> str:
    """`error:<class>` (the project's one-line error), `identical`, or `FAIL:...` (appended to `failures`
    with `what`): a MemoryError, a hang past DECODE_LIMIT_S, a library's own error, or other images."""
    try:
        with time_limit(DECODE_LIMIT_S):
            decoded = decode(stream)
    except BenchError as exc:
        assert "\n" not in str(exc), str(exc)
        return f"error:{type(exc).__name__}"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        failures.append((what, repr(exc)[:200]))
        return f"FAIL:{type(exc).__name__}"
    if same(decoded, reference):
        return "identical"
    failures.append((what, "decoded without error to other images"))
    return "FAIL:different-output"


def fuzz(decode, data: bytes, kind: str, other: bytes, reference, seed: int) -> dict:
    rng = random.Random(seed)
    outcomes: dict[str, int] = {}
    failures = []
    started = time.perf_counter()
    cases = mutations(data, kind, other, rng)
    slowest = (0.0, "")
    for what, mutated in cases:
        began = time.perf_counter()
        outcome = decode_outcome(decode, mutated, reference, what, failures)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        slowest = max(slowest, (round(time.perf_counter() - began, 3), f"{what} -> {outcome}"))
    return {"mutations": len(cases), "stream_bytes": len(data), "outcomes": outcomes,
            "seconds": round(time.perf_counter() - started, 2), "slowest_decode": slowest,
            "failures": failures[:10]}


_CODED: dict[str, tuple] = {}


def coded(label: str, train_slice, cache, test_images) -> tuple:
    """(decode, stream, another stream, kind) of the codec under `label`, fitted once per module."""
    if label not in _CODED:
        name, params, kind = CODECS[label]
        codec = create_codec(name, RunContext(profile="smoke", cache_dir=cache), **params)
        if name == "lgc":  # the stream format does not depend on how well the autoencoder is trained
            codec.profiles = {"smoke": dataclasses.replace(codec.profiles["smoke"], epochs=1, max_images=1000)}
        codec.fit(None if name == "weightless" else train_slice)
        if codec.kind == "dataset":
            images, labels = train_slice.images, train_slice.labels
            few = 200
            data = codec.compress_dataset(images[:few], labels[:few])
            other = codec.compress_dataset(images[few:2 * few], labels[few:2 * few])
            decode = codec.decompress_dataset
        else:
            data, other = codec.compress(test_images[:1]), codec.compress(test_images[1:3])
            decode = codec.decompress
        _CODED[label] = (decode, data, other, kind)
    return _CODED[label]


@pytest.mark.parametrize("label", list(CODECS))
def test_mutated_streams_decode_exactly_or_fail_with_bench_errors(label, train_slice, cache, test_images):
    decode, data, other, kind = coded(label, train_slice, cache, test_images)
    reference = decode(data)
    tally = fuzz(decode, data, kind, other, reference, seed=zlib.crc32(label.encode()))
    TALLIES[label] = tally
    assert not tally["failures"], tally
    assert tally["mutations"] >= MUTATIONS
    errors = sum(v for k, v in tally["outcomes"].items() if k.startswith("error:"))
    assert errors + tally["outcomes"].get("identical", 0) == tally["mutations"]


#: What a forger puts in a header field: other types, out-of-range and absurd values.
FORGED_VALUES = (True, False, None, -1, 0, 10**30, -(10**30), 1.5, float("nan"), "x", "9" * 200, [], [1] * 3, {})


def forged_headers(header: dict) -> list[tuple[str, dict]]:
    """(field path, header) with one field, or one element of a field's list or object, replaced; and
    each field removed."""
    out = []
    for key, value in header.items():
        for forged in FORGED_VALUES:
            out.append((key, {**header, key: forged}))
        out.append((f"-{key}", {k: v for k, v in header.items() if k != key}))
        if isinstance(value, dict):
            for inner in value:
                for forged in FORGED_VALUES:
                    out.append((f"{key}.{inner}", {**header, key: {**value, inner: forged}}))
        if isinstance(value, list) and value and len(value) <= 8:
            for index in range(len(value)):
                for forged in FORGED_VALUES:
                    out.append((f"{key}[{index}]", {**header, key: [*value[:index], forged, *value[index + 1:]]}))
    return out


SEALED = [label for label, (_, _, kind) in CODECS.items() if kind == "sealed"]


@pytest.mark.parametrize("label", SEALED)
def test_forged_headers_with_valid_checksums_fail_in_one_line(label, train_slice, cache, test_images):
    """A header forged by someone who recomputes the checksum: wrong types, out-of-range values, missing
    fields. Every case decodes to the same images or fails with the project's own one-line error."""
    decode, data, _, _ = coded(label, train_slice, cache, test_images)
    reference = decode(data)
    magic = data[:4]
    header, body, digest = unseal(data, magic)
    outcomes: dict[str, int] = {}
    failures = []
    for path, forged in forged_headers(header):
        outcome = decode_outcome(decode, seal(magic, forged, body, digest), reference, path, failures)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    TALLIES[f"{label} (forged headers)"] = {"forgeries": sum(outcomes.values()), "outcomes": outcomes,
                                            "failures": failures[:10]}
    assert not failures, failures[:10]
    assert sum(outcomes.values()) >= len(header) * len(FORGED_VALUES)
