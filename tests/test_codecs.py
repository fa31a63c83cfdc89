"""Every registered image codec: a round trip on real digits, and clean errors on damaged streams."""

import numpy as np
import pytest

from bench import create_codec, list_codecs
from bench.api.codec import RunContext
from bench.api.registry import get_entry, parse_spec
from bench.data.mnist import load_split
from bench.errors import BenchError

IMAGE_CONFIGS = [(n, p) for n, p in parse_spec("*") if get_entry(n).kind != "dataset"]


def _fitted(name, params, tmp_path_factory):
    reason = get_entry(name).cls.unavailable_reason()
    if reason:  # an external program this machine lacks (tests/test_external_coders.py runs stand-ins)
        pytest.skip(f"{name} unavailable: {reason}")
    cache = tmp_path_factory.getbasetemp() / "model-cache"
    codec = create_codec(name, RunContext(profile="smoke", cache_dir=cache), **params)
    codec.fit(load_split("train", limit=2000))
    return codec


@pytest.mark.parametrize("name, params", IMAGE_CONFIGS, ids=lambda v: str(v))
def test_round_trip(name, params, test_images, tmp_path_factory):
    codec = _fitted(name, params, tmp_path_factory)
    payload = codec.compress(test_images)
    assert isinstance(payload, bytes) and len(payload) > 0
    decoded = codec.decompress(payload)
    assert decoded.shape == test_images.shape and decoded.dtype == np.uint8
    if codec.checked_exact:  # lossless, or exact on a transformed source (ar-mnist: binarised)
        assert np.array_equal(decoded, codec.reference(test_images))
    if codec.kind == "lossy":
        assert 0 < np.mean((decoded.astype(float) - test_images) ** 2) < 0.1 * 255**2


@pytest.mark.parametrize("name", [n for n in list_codecs() if get_entry(n).kind != "dataset"])
def test_truncated_and_extended_streams_give_clean_errors(name, test_images, tmp_path_factory):
    codec = _fitted(name, get_entry(name).configs[-1], tmp_path_factory)
    payload = codec.compress(test_images[:8])
    for damaged in (payload[: len(payload) // 2], payload[:-1], payload + b"\x00"):
        try:
            decoded = codec.decompress(damaged)
        except BenchError:
            continue
        # A format may tolerate a damaged tail; it must then not claim the original images.
        intact = codec.reference(test_images[:8])
        assert not (decoded.shape == (8, 28, 28) and np.array_equal(decoded, intact)), name


def test_per_image_framing_costs_more_than_one_stream(test_images):
    whole = len(create_codec("gzip").compress(test_images))
    per_image = len(create_codec("gzip", framing="per-image").compress(test_images))
    assert per_image > whole
