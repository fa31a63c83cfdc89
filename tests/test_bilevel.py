"""The classical coders of the binarised images (baselines/bilevel.py): exact on the binarised source,
lossy against MNIST, every damage refused in one line."""

import numpy as np
import pytest

from bench import create_codec
from bench.api.registry import get_entry
from bench.data.mnist import BINARISED, binarise
from bench.errors import CodecError, CorruptStreamError


@pytest.mark.parametrize("params", get_entry("bilevel").configs, ids=str)
def test_every_configuration_is_exact_on_the_binarised_images(params, test_images):
    codec = create_codec("bilevel", **params)
    images = test_images[:37]  # a mosaic whose last row is not full
    decoded = codec.decompress(codec.compress(images))
    assert np.array_equal(decoded, binarise(images) * 255) and decoded.dtype == np.uint8
    assert codec.kind == "lossy" and codec.exact_source == BINARISED
    assert not np.array_equal(decoded, images)  # lossy against the 8-bit images


@pytest.mark.parametrize("params", [{"coder": "lzma", "packing": "bits"}, {"coder": "g4"}, {"coder": "png"}], ids=str)
def test_damaged_streams_are_refused(params, test_images):
    codec = create_codec("bilevel", **params)
    stream = codec.compress(test_images[:20])
    for damaged in (stream[:-1], stream[: len(stream) // 2], stream + b"\0"):
        with pytest.raises(CorruptStreamError):
            codec.decompress(damaged)
    for at in range(-60, -20):  # flips in the body's last bytes: refused, or unread (a TIFF tag) and harmless
        try:
            decoded = codec.decompress(stream[:at] + bytes([stream[at] ^ 0x10]) + stream[at:][1:])
        except CorruptStreamError:
            continue
        assert np.array_equal(decoded, binarise(test_images[:20]) * 255)
    other = create_codec("bilevel", coder="lzma", packing="bytes")
    with pytest.raises(CorruptStreamError, match="coded by"):
        other.decompress(stream)


def test_bad_parameters_say_what_is_allowed():
    with pytest.raises(CodecError, match="coder must be one of"):
        create_codec("bilevel", coder="jbig")
    with pytest.raises(CodecError, match="packing must be one of"):
        create_codec("bilevel", packing="nibbles")
    assert create_codec("bilevel", coder="lzma").packing == "bits"  # the smaller, for the byte coders
    with pytest.raises(CodecError, match="packing is not one of its parameters"):
        create_codec("bilevel", coder="g4", packing="bits")
