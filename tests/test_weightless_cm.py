"""weightless-cm, the context-mixing learner: real round trips image by image, the ingredients the
ablation switches off, decoding in a fresh process from the file, refusals in one line."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_codecs.weightless import context_mixing

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding.container import seal, unseal
from bench.data.mnist import load_split
from bench.errors import CodecError, CorruptStreamError


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_split("test", limit=40).images


@pytest.fixture(scope="module")
def encoded(digits) -> bytes:
    return context_mixing.encode(digits, 0, 16)


def test_the_compiled_source_is_part_of_the_codec_version():
    source = Path(context_mixing.__file__).with_name("context_mixing.cpp").read_bytes()
    assert hashlib.sha256(source).hexdigest()[:16] == context_mixing.SOURCE_DIGEST, \
        "context_mixing.cpp changed: update SOURCE_DIGEST (and MAGIC if it codes other bits)"


def test_round_trip_with_zero_model_bytes_and_real_bytes_beside_the_ideal(digits, tmp_path):
    codec = create_codec("weightless-cm", RunContext(profile="smoke", cache_dir=tmp_path))
    payload = codec.compress(digits)
    decoded = codec.decompress(payload)
    for i, (original, image) in enumerate(zip(digits, decoded, strict=True)):
        assert np.array_equal(original, image), f"image {i} differs"
    assert codec.model_bytes == 0
    columns = codec.extra_columns()
    # The arithmetic coder spends within a few bytes of the model's cross-entropy; the header is ~60 B.
    assert 0 < columns["bpp_gap"] * digits.size / 8 < 100
    assert columns["ideal_bpp"] < 2.0  # real digits, not noise: far below 8 bits a pixel


@pytest.mark.parametrize("without", ["exact", "mixing", "sse", "position", "exact,mixing,sse,position"])
def test_each_ingredient_switched_off_codes_other_bytes_and_decodes_itself(without, digits, encoded, tmp_path):
    codec = create_codec("weightless-cm", RunContext(profile="smoke", cache_dir=tmp_path), without=without)
    payload = codec.compress(digits)
    assert np.array_equal(codec.decompress(payload), digits)
    assert len(payload) != len(encoded)


def test_bad_parameters_are_refused_at_once():
    for bad in ("nothing", "exact,exact", 3):
        with pytest.raises(CodecError, match="weightless-cm: without must be a comma list"):
            create_codec("weightless-cm", without=bad)


def test_decodes_in_a_fresh_process_from_the_file_alone(encoded, digits, tmp_path):
    path = tmp_path / "slice.wcm"
    path.write_bytes(encoded)
    script = ("import sys, numpy as np; from bench_codecs.weightless import context_mixing as cm; "
              "np.save(sys.argv[2], cm.decode(open(sys.argv[1], 'rb').read()))")
    out = tmp_path / "decoded.npy"
    run = subprocess.run([sys.executable, "-c", script, str(path), str(out)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(np.load(out), digits)


def test_damaged_or_forged_streams_fail_in_one_line(encoded, digits):
    header, body, digest = unseal(encoded, context_mixing.MAGIC)
    forged = [
        encoded[:-5],  # cut short
        seal(context_mixing.MAGIC, {**header, "flags": 1}, body, digest),  # decoded with other ingredients
        seal(context_mixing.MAGIC, {**header, "n_images": 10**9}, body, digest),  # a count no body holds
        seal(context_mixing.MAGIC, {**header, "table_bits": 40}, body, digest),
        seal(context_mixing.MAGIC, {**header, "extra": 1}, body, digest),
        seal(context_mixing.MAGIC, header, body[:-8], digest),  # the body cut short under a valid seal
        seal(context_mixing.MAGIC, header, bytes(b ^ 0x55 for b in body[:20]) + body[20:], digest),
    ]
    for data in forged:
        with pytest.raises(CorruptStreamError) as error:
            context_mixing.decode(data)
        assert str(error.value).startswith("weightless-cm: ") and "\n" not in str(error.value)
    older = b"WCM1" + encoded[4:]  # the first model's streams
    with pytest.raises(CorruptStreamError, match="not a WCM2 stream"):
        context_mixing.decode(older)
