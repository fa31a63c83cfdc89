"""The image-file codecs (baselines/image.py, baselines/image_standards.py) in both framings: every
registered configuration round-trips real digits, the stream's mosaic and pages, bad parameters, and
what each format does with a damaged file."""

import numpy as np
import pytest
from bench_baselines.image import ImageFileCodec

from bench import create_codec, list_codecs
from bench.api.registry import config_label, get_entry, parse_spec
from bench.coding.container import content_digest, seal, unseal
from bench.coding.mosaic import to_mosaic
from bench.data.mnist import load_split
from bench.errors import CodecError, CorruptStreamError

NAMES = sorted(n for n in list_codecs() if issubclass(get_entry(n).cls, ImageFileCodec))
CONFIGS = [(n, p) for name in NAMES for n, p in parse_spec(name)]
#: Below this PSNR a configuration is not one of the registered rates (the lowest, JPEG 2000 at a 20 dB
#: target one file per image, measures 18.3 dB on these 50 digits).
PSNR_FLOOR_DB = 16.0


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_split("test", limit=50).images


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_every_image_format_is_registered_in_both_framings():
    assert NAMES == ["avif", "avif-lossy", "jpeg", "jpeg2000", "jpeg2000-lossy", "jpegls", "jpegls-near",
                     "jxl", "jxl-lossy", "png", "webp", "webp-lossy"]
    for name in NAMES:
        framings = [create_codec(name, **p).framing for _, p in parse_spec(name)]
        assert framings.count("per-image") and framings.count("stream"), name
        assert create_codec(name).framing == "per-image"  # the default keeps earlier configs' meaning


def test_the_configurations_registered_before_streams_keep_their_labels():
    labels = {config_label(n, p) for n, p in CONFIGS}
    assert {"png", "webp", "webp:method=5", "webp-lossy:quality=1", "jpeg:quality=5", "jpeg:quality=90"} <= labels


@pytest.mark.parametrize("name, params", CONFIGS, ids=[config_label(n, p) for n, p in CONFIGS])
def test_round_trip(name, params, digits):
    codec = create_codec(name, **params)
    payload = codec.compress(digits)
    decoded = codec.decompress(payload)
    assert decoded.shape == digits.shape and decoded.dtype == np.uint8
    if codec.kind == "lossless":
        assert np.array_equal(decoded, digits)
        return
    assert PSNR_FLOOR_DB < psnr(digits, decoded) < 70
    # The right images in the right order: each decode is nearer its own original than any other digit.
    distances = ((decoded[:, None].astype(float) - digits[None].astype(float)) ** 2).sum(axis=(2, 3))
    assert np.array_equal(distances.argmin(axis=1), np.arange(len(digits)))
    if name == "jpegls-near":  # near-lossless: no pixel further than `near` from the original
        assert np.abs(decoded.astype(int) - digits).max() <= codec.near


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("count", [0, 1, 7])
def test_a_stream_of_a_count_that_does_not_fill_the_mosaic(name, count, digits):
    """7 digits are a 3 x 3 grid whose last two tiles are black padding, which the decoder drops."""
    codec = create_codec(name, framing="stream")
    images = digits[:count]
    payload = codec.compress(images)
    header, _, _ = unseal(payload, codec.stream_magic)
    assert header["n"] == count
    if count == 7:
        assert (header["cols"], header["rows"], len(header["pages"])) == (3, 3, 1)
    decoded = codec.decompress(payload)
    assert decoded.shape == images.shape and decoded.dtype == np.uint8
    if codec.kind == "lossless":
        assert np.array_equal(decoded, images)
    elif count:
        assert psnr(images, decoded) > PSNR_FLOOR_DB


@pytest.mark.parametrize("name", ["png", "jpeg", "jpegls-near"])
def test_a_set_larger_than_the_format_allows_goes_in_pages(name, digits, monkeypatch):
    codec = create_codec(name, framing="stream")
    monkeypatch.setattr(codec, "max_side", 28 * 3)  # at most 3 x 3 digits an image
    payload = codec.compress(digits[:20])
    header, _, _ = unseal(payload, codec.stream_magic)
    assert (header["cols"], header["rows"], len(header["pages"])) == (3, 3, 3)
    decoded = codec.decompress(payload)
    if codec.kind == "lossless":
        assert np.array_equal(decoded, digits[:20])
    assert decoded.shape == (20, 28, 28) and psnr(digits[:20], decoded) > PSNR_FLOOR_DB


def test_the_stream_shares_headers_and_tables():
    digits = load_split("test", limit=1000).images
    for name, params in (("png", {}), ("webp", {"method": 5}), ("jpeg", {"quality": 50}), ("jxl", {"effort": 7})):
        per_image = len(create_codec(name, **params).compress(digits))
        stream = len(create_codec(name, **params, framing="stream").compress(digits))
        assert stream < 0.75 * per_image, name


@pytest.mark.parametrize("name, params, message", [
    ("png", {"compress_level": 10}, "png compress_level must be 0..9"),
    ("png", {"framing": "whole"}, "framing must be one of per-image, stream"),
    ("webp", {"method": 7}, "webp method must be 0..6"),
    ("webp-lossy", {"quality": 101}, "webp-lossy quality must be 0..100"),
    ("webp-lossy", {"quality": 50.5}, "webp-lossy quality must be 0..100"),
    ("jpeg", {"quality": 0}, "jpeg quality must be 1..100"),
    ("jpeg", {"optimize": "yes"}, "jpeg optimize must be True or False"),
    ("jxl", {"effort": 0}, "jxl effort must be 1..10"),
    ("jxl", {"effort": 11}, "jxl effort must be 1..10"),
    ("jxl-lossy", {"distance": 0}, "jxl-lossy distance must be 0.1..25"),
    ("jxl-lossy", {"distance": "far"}, "jxl-lossy distance must be 0.1..25"),
    ("jxl-lossy", {"effort": 10}, "jxl-lossy effort must be 1..9"),
    ("jpeg2000", {"resolutions": 7}, "jpeg2000 resolutions must be 1..6"),
    ("jpeg2000-lossy", {"psnr": 5}, "jpeg2000-lossy psnr must be 10..100"),
    ("jpegls-near", {"near": 0}, "jpegls-near near must be 1..127"),
    ("jpegls-near", {"near": True}, "jpegls-near near must be 1..127"),
    ("avif", {"speed": 11}, "avif speed must be 0..10"),
    ("avif-lossy", {"quality": 100}, "avif-lossy quality must be 0..99"),
    ("avif-lossy", {"framing": "tiles"}, "framing must be one of per-image, stream"),
])
def test_bad_parameters_are_refused_with_one_line(name, params, message):
    with pytest.raises(CodecError, match=message):
        create_codec(name, **params)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("framing", ["per-image", "stream"])
def test_a_truncated_or_extended_stream_is_a_corrupt_stream(name, framing, digits):
    codec = create_codec(name, framing=framing)
    payload = codec.compress(digits[:8])
    for damaged in (payload[:-1], payload[: len(payload) // 2], payload[:3], payload + b"\x00"):
        with pytest.raises(CorruptStreamError, match=f"^{name}: "):
            codec.decompress(damaged)


#: One file per image is not sealed: what the format's own decoder does with a file cut short. PNG's
#: decoder (libpng through imagecodecs) does not need the closing IEND chunk, so a PNG cut by up to 12
#: bytes decodes to the same pixels; libjpeg-turbo fills what is missing and warns, so a cut JPEG decodes
#: to other pixels with no error. Every other format refuses a file one byte short.
CUT_FILE_DECODES = {"png": "same pixels", "jpeg": "other pixels"}


@pytest.mark.parametrize("name", NAMES)
def test_what_each_format_does_with_a_file_cut_short(name, digits):
    codec = create_codec(name)
    blob = codec.encode_image(digits[0])
    intact = codec.decode_image(blob)
    outcomes = set()
    for cut in (1, 2, 4, 8, 16):
        try:
            decoded = codec.decode_image(blob[:-cut])
        except CorruptStreamError as exc:
            assert str(exc).startswith(f"{name}: an image file does not decode")
            outcomes.add("error")
        else:
            outcomes.add("same pixels" if np.array_equal(decoded, intact) else "other pixels")
    if name in CUT_FILE_DECODES:
        assert CUT_FILE_DECODES[name] in outcomes
    else:
        assert outcomes == {"error"}


@pytest.mark.parametrize("name", NAMES)
def test_a_stream_header_claiming_many_images_allocates_nothing(name, digits):
    codec = create_codec(name, framing="stream")
    header, body, digest = unseal(codec.compress(digits[:7]), codec.stream_magic)
    for forged in ({**header, "n": 2**40}, {**header, "n": 10}, {**header, "pages": [len(body), 1]},
                   {**header, "cols": 10**9}, {**header, "rows": 0}, {**header, "cols": "3"}, {**header, "pages": None},
                   {**header, "h": 32}, {**header, "w": None}):
        with pytest.raises(CorruptStreamError, match=f"^{name}: "):
            codec.decompress(seal(codec.stream_magic, forged, body, digest))
    # A body that differs from the one the digest was made of is refused before any decode.
    flipped = bytes([body[0] ^ 1]) + body[1:]
    with pytest.raises(CorruptStreamError, match="checksum"):
        codec.decompress(seal(codec.stream_magic, header, flipped, digest))
    # And a page whose file decodes to another size than the header's geometry.
    other = codec._encode(to_mosaic(digits[:4], 2))
    with pytest.raises(CorruptStreamError, match="decodes to"):
        codec.decompress(seal(codec.stream_magic, {**header, "pages": [len(other)]}, other,
                              content_digest(np.frombuffer(other, np.uint8))))


@pytest.mark.parametrize("name, fmt", [("png", "PNG"), ("webp", "WEBP"), ("webp-lossy", "WEBP"), ("jpeg", "JPEG")])
def test_the_files_are_standard_files_pillow_decodes_alike(name, fmt, digits):
    import io

    from PIL import Image

    codec = create_codec(name)
    for image in digits[:5]:
        blob = codec.encode_image(image)
        with Image.open(io.BytesIO(blob)) as img:
            assert img.format == fmt
            assert np.array_equal(np.asarray(img.convert("L")), codec.decode_image(blob))


def test_the_stream_framing_tiles_mnist_digits_only():
    with pytest.raises(ValueError, match="tiles 28x28 images"):
        create_codec("png", framing="stream").compress(np.zeros((3, 32, 32), np.uint8))
    # One file per image keeps any size, as the container records it.
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 20), dtype=np.uint8)
    codec = create_codec("png")
    assert np.array_equal(codec.decompress(codec.compress(images)), images)
