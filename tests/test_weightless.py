"""The weightless codec: mirrored-learning round trips, decoding from the file alone, determinism, damaged input,
and the write-up's own 30-line example reproduced and measured in real bits."""

import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from bench_codecs import weightless
from bench_codecs.weightless import mirror, stream, writeup_example
from bench_codecs.weightless.models import PIXELS, PixelModel, build_model

from bench import create_codec
from bench.api.codec import RunContext
from bench.data.mnist import load_split
from bench.errors import CorruptStreamError


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """Real MNIST digits: 16 for the prior-coded first chunk (smoke profile), then 8 learned ones."""
    return load_split("test", limit=24).images


@pytest.fixture(scope="module")
def encoded(digits) -> bytes:
    return weightless.encode(digits, weightless.config_for("causal", "smoke"))


def _header(data: bytes) -> dict:
    return stream.read(data)[0]


@pytest.mark.parametrize("model", ["causal", "lstm"])
def test_codec_round_trip_with_zero_model_bytes(model, digits, tmp_path):
    codec = create_codec("weightless", model=model, ctx=RunContext(profile="smoke", cache_dir=tmp_path))
    codec.fit(None)  # fit needs no training data
    payload = codec.compress(digits)
    assert codec.model_bytes == 0
    assert np.array_equal(codec.decompress(payload), digits)
    columns = codec.extra_columns()
    assert columns["n_chunks"] == 2 and 0 < columns["ideal_bpp"] <= 8 * len(payload) / digits.size


def test_stream_holds_a_small_header_and_no_weights(encoded, digits):
    header = _header(encoded)
    assert header["config"]["profile"] == "smoke" and header["n_images"] == len(digits)
    assert header["deterministic_algorithms"] is True and header["float"]["threads"] == 1
    assert set(header["float"]) >= {"torch", "device", "cpu_capability", "matmul_precision"}
    weight_bytes = 4 * sum(p.numel() for p in build_model(header["config"], "cpu").parameters())
    header_bytes = len(json.dumps(header))
    # The whole stream is smaller than the model's float32 weights would be: they cannot be in it.
    assert header_bytes < 600 and len(encoded) < weight_bytes, (len(encoded), weight_bytes)


def test_decodes_in_a_fresh_process_from_the_file_alone(encoded, digits, tmp_path):
    path, out = tmp_path / "slice.wlnn", tmp_path / "decoded.npy"
    path.write_bytes(encoded)
    run = subprocess.run(
        [sys.executable, "-m", "bench_codecs.weightless", "decode", str(path), "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    decoded = np.load(out)
    assert decoded.shape == digits.shape
    for i, (original, image) in enumerate(zip(digits, decoded, strict=True)):
        assert np.array_equal(original, image), f"image {i} differs"


class _Recording:
    """Wraps a coding side and keeps every frequency table it is handed."""

    def __init__(self, side):
        self.side, self.tables = side, []

    def code(self, freqs, truth):
        self.tables.append(freqs.copy())
        return self.side.code(freqs, truth)


def test_encoder_and_decoder_see_bit_identical_tables_and_weights(digits):
    config = weightless.config_for("causal", "smoke")
    sides, crcs = {}, {}
    with mirror.pinned_float_settings("cpu"):
        for direction in ("encode", "decode"):
            lock = mirror.MirroredLearner(config, len(digits), "cpu")
            lock.coded[:16] = torch.from_numpy(digits[:16].copy())  # the prior chunk, already known to both
            lock.n_coded = 16
            lock.update(0)
            if direction == "encode":
                side = _Recording(mirror.EncodeSide())
                lock.code_chunk(side, digits[16:], 8)
                data = side.side.finish()
            else:
                side = _Recording(mirror.DecodeSide(data))
                assert np.array_equal(lock.code_chunk(side, None, 8), digits[16:])
            lock.update(16)
            sides[direction], crcs[direction] = side, lock.weights_crc()
    assert len(sides["encode"].tables) == 2 * PIXELS
    assert all(np.array_equal(a, b) for a, b in zip(sides["encode"].tables, sides["decode"].tables, strict=True))
    assert crcs["encode"] == crcs["decode"]


def test_float_settings_are_pinned_during_coding_and_restored_after(digits):
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    seen = []

    def spy(done, total):
        seen.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()))

    torch.set_num_threads(2)  # whatever the caller runs with, coding uses the recorded single thread
    try:
        data = weightless.encode(digits[:16], weightless.config_for("causal", "smoke"), progress=spy)
        weightless.decode(data, progress=spy)
        assert seen == [(1, True), (1, True)]
        assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (2, before[1])
    finally:
        torch.set_num_threads(before[0])


def _rewrite_header(data: bytes, change) -> bytes:
    header, digest, checks, chunks = stream.read(data)
    change(header)
    return stream.write(header, digest, checks, chunks)


@pytest.mark.parametrize("key, value", [("torch", "1.0.0"), ("cpu_capability", "NEON"), ("machine", "arm64"),
                                        ("device", "cuda")])
def test_decoder_refuses_settings_it_cannot_match(encoded, key, value):
    forged = _rewrite_header(encoded, lambda h: h["float"].__setitem__(key, value))
    with pytest.raises(weightless.IncompatibleDecoderError) as error:
        weightless.decode(forged)
    assert "\n" not in str(error.value) and (key in str(error.value) or "CUDA" in str(error.value))


def test_a_header_claiming_more_images_than_its_chunks_hold_is_refused_before_any_work(encoded):
    """A forged count (under a recomputed seal) must not make the decoder build a huge schedule."""
    forged = _rewrite_header(encoded, lambda h: h.__setitem__("n_images", 10**15))
    with pytest.raises(CorruptStreamError, match="more images than the stream's chunks could hold"):
        weightless.decode(forged)


def _mutations(data: bytes, count: int, rng: random.Random, low: int = 0) -> list[bytes]:
    out = []
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 8))):
            mutated[rng.randrange(low, len(mutated))] ^= 1 << rng.randrange(8)
        out.append(bytes(mutated))
    return out


def test_damaged_streams_are_refused_quickly_never_misdecoded(encoded, digits):
    """Truncations, extensions and a few hundred random bit flips: each one either raises
    CorruptStreamError or (a flip in bits the coder never reads) still gives the original images.

    Most flips hit a stream of only the prior-coded chunk (fast to decode); a few hit the learned
    chunk, whose damage shows only after its 784 positions are decoded."""
    rng = random.Random(0)
    prior_only = weightless.encode(digits[:16], weightless.config_for("causal", "smoke"))
    learned_chunk_start = len(encoded) - len(stream.read(encoded)[3][1])
    cases = [(prior_only, digits[:16], d) for d in _mutations(prior_only, 300, rng)]
    cases += [(encoded, digits, d) for d in _mutations(encoded, 12, rng, low=learned_chunk_start)]
    cases += [(encoded, digits, encoded[:n]) for n in range(0, len(encoded), max(1, len(encoded) // 40))]
    cases += [(encoded, digits, encoded + b"\x00"), (encoded, digits, encoded + encoded[-7:])]
    started, refused = time.process_time(), 0
    for _, original, data in cases:
        try:
            decoded = weightless.decode(data)
        except CorruptStreamError as exc:
            assert "\n" not in str(exc)
            refused += 1
            continue
        assert np.array_equal(decoded, original)
    assert refused >= len(cases) - 20
    assert time.process_time() - started < 60  # CPU seconds: other jobs on this machine do not count


def test_empty_and_bad_input():
    empty = weightless.encode(np.zeros((0, 28, 28), np.uint8), weightless.config_for("causal", "smoke"))
    assert weightless.decode(empty).shape == (0, 28, 28)
    with pytest.raises(ValueError, match="uint8"):
        weightless.encode(np.zeros((2, 28, 28), np.float32), weightless.config_for("causal", "smoke"))
    with pytest.raises(ValueError, match="model must be one of"):
        weightless.WeightlessCodec(model="transformer")


def test_chunk_schedule_and_profiles():
    assert mirror.chunk_sizes(100, 16, 32) == [16, 32, 32, 20]
    assert mirror.chunk_sizes(0, 16, 32) == []
    smoke, default = weightless.config_for("causal", "smoke"), weightless.config_for("causal", "default")
    assert smoke["hidden"] < default["hidden"] and default["profile"] == "default"
    assert weightless.config_for("lstm", "default")["layers"] == 1


def test_writeup_example_reproduced_bit_for_bit_and_measured_in_real_bits():
    data, tables = writeup_example.compress()
    # The write-up prints p(0) = 0.5482952 for the second line and ends with 148 bytes of ASCII bits.
    assert tables[0][0] == pytest.approx(0.5482952, abs=1e-6)
    assert writeup_example.writeup_ascii_size(tables) == 148
    assert writeup_example.decompress(data) == list(writeup_example.DIGIT_LINES)
    ideal = writeup_example.ideal_bits(tables)
    raw_bits = writeup_example.LINE_BITS * len(writeup_example.DIGIT_LINES)
    assert ideal <= 8 * len(data) < raw_bits  # real bytes: between the ideal code length and 180 raw bits
    print(f"write-up example: {raw_bits} raw bits -> {8 * len(data)} real bits ({len(data)} bytes), "
          f"ideal {ideal:.1f}; write-up's ASCII accounting: {writeup_example.ASCII_BYTES} -> 148 bytes")


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_hand_written_gradients_equal_autograd(profile, test_images):
    """`CausalMLP.gradients` (the update's forward and backward by hand) against autograd on the same
    loss, with weights moved off their initialisation so that every relu and head is exercised."""
    images = torch.from_numpy(np.array(test_images[:4]))
    with mirror.pinned_float_settings("cpu"):
        model = build_model(weightless.config_for("causal", profile), "cpu")
        with torch.no_grad():
            for param in model.parameters():
                param.add_(0.05 * torch.randn(param.shape, generator=torch.Generator().manual_seed(param.numel())))
        by_autograd = PixelModel.gradients(model, images)
        by_hand = model.gradients(images)
    names = [name for name, _ in model.named_parameters()]
    assert len(by_hand) == len(names) == len(by_autograd)
    for name, a, h in zip(names, by_autograd, by_hand, strict=True):
        assert h.shape == a.shape and h.is_contiguous(), name
        assert torch.allclose(a, h, rtol=1e-4, atol=1e-5 * float(a.abs().max())), name


@pytest.mark.parametrize("model_name", ["causal", "lstm"])
def test_two_part_batch_gradients_equal_each_batch_gradient_and_repeat_bit_for_bit(model_name, test_images):
    """The update's gradients, each batch's from two parts on two threads (the causal MLP's next batch
    merged ahead), are each batch's mean-loss gradient, and the same floats every time."""
    images = torch.from_numpy(np.array(test_images[:18]))
    batches = [images[:8], images[8:15], images[15:]]  # even, odd, short
    with mirror.pinned_float_settings("cpu"):
        model = build_model(weightless.config_for(model_name, "smoke" if model_name == "lstm" else "default"), "cpu")
        wholes = [model.gradients(batch) for batch in batches]
        parts = list(mirror.batch_gradients(model, batches))
        again = list(mirror.batch_gradients(model, batches))
    assert len(parts) == len(again) == len(batches)
    for whole, split, repeat in zip(wholes, parts, again, strict=True):
        for w, s, a in zip(whole, split, repeat, strict=True):
            assert torch.allclose(w, s, rtol=1e-4, atol=1e-7)
            assert torch.equal(s, a)
