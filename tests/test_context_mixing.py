"""zpaq (context mixing) and PPMd (prediction by partial matching), baselines/bytestream.py: round trips
in both framings, every damage one CorruptStreamError, bad parameters refused in one line."""

import zlib

import numpy as np
import pytest
from bench_baselines.bytestream import Ppmd, Zpaq
from helpers import time_limit

from bench import create_codec
from bench.api.registry import get_entry
from bench.coding.container import seal, unseal
from bench.data.idx import to_idx
from bench.errors import CodecError, CorruptStreamError

#: Every framing of each coder, its fastest and its strongest settings (zpaq method 5 per image is not
#: registered: 56 ms an image).
CONFIGS = [
    ("zpaq", {"method": 1, "framing": "whole"}),
    ("zpaq", {"method": 5, "framing": "whole"}),
    ("zpaq", {"method": 1, "framing": "per-image"}),
    ("zpaq", {"method": 4, "framing": "per-image"}),
    ("ppmd", {"variant": "H", "order": 2, "framing": "whole"}),
    ("ppmd", {"variant": "H", "order": 64, "mem": 1, "framing": "whole"}),  # a model that fills up and restarts
    ("ppmd", {"variant": "I", "order": 4, "framing": "whole"}),
    ("ppmd", {"variant": "I", "order": 16, "mem": 1, "framing": "whole"}),
    ("ppmd", {"variant": "H", "order": 4, "framing": "per-image"}),
    ("ppmd", {"variant": "I", "order": 2, "framing": "per-image"}),
]


@pytest.mark.parametrize("name, params", CONFIGS, ids=str)
def test_round_trip_in_both_framings(name, params, test_images):
    codec = create_codec(name, **params)
    stream = codec.compress(test_images)
    decoded = codec.decompress(stream)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, test_images)
    assert codec.compress(test_images) == stream  # deterministic (zpaq on one thread: one block)
    header, body, _ = unseal(stream, codec.magic)
    assert header["framing"] == params["framing"] and header["crc32"] == zlib.crc32(body)
    assert header["bytes"] == (len(to_idx(test_images)) if params["framing"] == "whole" else test_images.size)
    assert len(stream) < test_images.size  # it compresses (64 digits: 50,176 bytes)


def test_the_whole_framing_decodes_exactly_the_idx_bytes(test_images):
    for codec in (create_codec("zpaq", method=3), create_codec("ppmd")):
        _, body, _ = unseal(codec.compress(test_images), codec.magic)
        assert codec._decompress_bytes(body, len(to_idx(test_images))) == to_idx(test_images)


def test_ppmd_codes_a_large_input_in_pieces_that_decode(test_images):
    # The pyppmd bug the pieces avoid shows when one call's output passes 32 KiB: 40 copies of the
    # slice (2 MB of IDX, about 300 KB coded), the orders where one-call coding broke.
    images = np.concatenate([test_images] * 40)
    for params in ({"variant": "H", "order": 4}, {"variant": "H", "order": 16}, {"variant": "I", "order": 2}):
        codec = create_codec("ppmd", **params)
        assert np.array_equal(codec.decompress(codec.compress(images)), images)


def test_a_model_that_fills_up_decodes_the_same():
    # A 1 MiB model at order 64 fills up many times over on 3,000 noisy digits and restarts.
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3000, 28, 28), dtype=np.uint8)
    for variant, order in (("H", 64), ("I", 16)):
        codec = create_codec("ppmd", variant=variant, order=order, mem=1)
        assert np.array_equal(codec.decompress(codec.compress(images)), images)


def test_zero_images(test_images):
    for name, params in CONFIGS[:: 2]:
        codec = create_codec(name, **params)
        empty = test_images[:0]
        assert codec.decompress(codec.compress(empty)).shape == (0, 28, 28)


def _damaged(stream: bytes):
    yield "truncated to half", stream[: len(stream) // 2]
    yield "last byte cut", stream[:-1]
    yield "a byte appended", stream + b"\0"
    yield "empty", b""
    for position in (5, len(stream) // 3, len(stream) - 30, len(stream) - 1):  # header, body, tail
        flipped = bytearray(stream)
        flipped[position] ^= 0x04
        yield f"bit flipped at {position}", bytes(flipped)


@pytest.mark.parametrize("name, params", CONFIGS, ids=str)
def test_truncated_and_altered_streams_are_corrupt_stream_errors(name, params, test_images):
    codec = create_codec(name, **params)
    stream = codec.compress(test_images[:8])
    for what, damaged in _damaged(stream):
        with time_limit(20), pytest.raises(CorruptStreamError) as caught:
            codec.decompress(damaged)
        assert "\n" not in str(caught.value), what


def test_a_damaged_body_with_a_matching_crc_is_caught_by_the_content_digest(test_images):
    # The CRC over the body is checked first; a body whose CRC was forged with the damage must still
    # not pass for the images: the digest of the decoded content catches it.
    for codec in (create_codec("ppmd", variant="H", order=2), create_codec("zpaq", method=4, framing="per-image")):
        header, body, digest = unseal(codec.compress(test_images[:8]), codec.magic)
        damaged = bytearray(body)
        damaged[len(body) // 2] ^= 0x10
        header["crc32"] = zlib.crc32(bytes(damaged))
        with time_limit(60), pytest.raises(CorruptStreamError):
            codec.decompress(seal(codec.magic, header, bytes(damaged), digest))


def test_a_stream_of_other_settings_is_refused(test_images):
    stream = create_codec("zpaq", method=3).compress(test_images[:4])
    with pytest.raises(CorruptStreamError, match="method=3.*method=5"):
        create_codec("zpaq", method=5).decompress(stream)
    with pytest.raises(CorruptStreamError, match="framing='whole'"):
        create_codec("zpaq", method=3, framing="per-image").decompress(stream)
    stream = create_codec("ppmd", variant="H", order=6).compress(test_images[:4])
    with pytest.raises(CorruptStreamError, match="variant='H'"):
        create_codec("ppmd", variant="I", order=6).decompress(stream)
    with pytest.raises(CorruptStreamError, match="not a PPD1 stream"):
        create_codec("ppmd").decompress(create_codec("zpaq").compress(test_images[:4]))


@pytest.mark.parametrize("cls, params, message", [
    (Zpaq, {"method": 0}, "zpaq method must be an integer in 1..5"),
    (Zpaq, {"method": 6}, "zpaq method must be an integer in 1..5"),
    (Zpaq, {"method": "5"}, "zpaq method must be an integer in 1..5"),
    (Zpaq, {"framing": "stream"}, "framing must be one of whole, per-image"),
    (Ppmd, {"order": 1}, "ppmd order must be an integer in 2..64"),
    (Ppmd, {"order": 65, "variant": "H"}, "ppmd order must be an integer in 2..64"),
    (Ppmd, {"order": 17, "variant": "I"}, r"variant I \(Ppmd8\) takes order 2..16"),
    (Ppmd, {"mem": 0}, "ppmd mem must be the model memory in MiB, an integer in 1..2048"),
    (Ppmd, {"mem": 4096}, "ppmd mem must be the model memory in MiB, an integer in 1..2048"),
    (Ppmd, {"mem": 1.5}, "ppmd mem must be the model memory in MiB"),
    (Ppmd, {"variant": "J"}, "ppmd variant must be 'H'"),
], ids=str)
def test_bad_parameters_are_value_errors_with_a_clear_message(cls, params, message):
    with pytest.raises(ValueError, match=message):
        cls(**params)
    name = "zpaq" if cls is Zpaq else "ppmd"
    with pytest.raises(CodecError, match=message):  # through the registry: one line naming the codec
        create_codec(name, **params)


def test_registered_configurations():
    zpaq = get_entry("zpaq").configs
    assert {c["method"] for c in zpaq if c["framing"] == "whole"} == {1, 2, 3, 4, 5}
    assert {c["method"] for c in zpaq if c["framing"] == "per-image"} == {1, 2, 3, 4}
    ppmd = get_entry("ppmd").configs
    assert {c["framing"] for c in ppmd} == {"whole", "per-image"}
    assert {"variant": "I", "order": 4, "mem": 256, "framing": "whole"} in ppmd  # the strongest (and the default)
    assert {"variant": "I", "order": 4, "mem": 256, "framing": "per-image"} in ppmd
    for config in ppmd:
        create_codec("ppmd", **config)  # every one valid (variant I stops at order 16)
