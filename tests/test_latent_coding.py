import numpy as np
import pytest

from bench.coding import entropy
from bench.coding.container import seal, unseal
from bench.coding.latent_stream import FactorizedHistogram, compress_latents, decompress_latents
from bench.errors import CorruptStreamError


def _laplace_latents(n, d, seed):
    return np.round(np.random.default_rng(seed).laplace(scale=3.0, size=(n, d))).astype(np.int64)


def test_broadcast_table_codes_at_its_ideal_length():
    # Regression: constriction ignores strides, so a broadcast table once coded as if uniform.
    k = 40
    p = np.exp(-np.abs(np.arange(k) - k // 2) / 3.0)
    symbols = np.random.default_rng(0).choice(k, size=5000, p=p / p.sum())
    table = np.broadcast_to(entropy.quantize(p)[0], (5000, k))
    ideal = entropy.ideal_bits(symbols, np.ascontiguousarray(table))
    data = entropy.encode(symbols, table)
    assert 8 * len(data) <= 1.01 * ideal + 64
    assert np.array_equal(entropy.decode(data, table), symbols)


def test_latents_decode_exactly_and_cost_their_ideal_length():
    model = FactorizedHistogram.fit(_laplace_latents(3000, 12, seed=1))
    latents = model.clip(_laplace_latents(500, 12, seed=2) * 2)  # some values beyond the train range
    data = compress_latents(latents, model, b"TEST")
    assert np.array_equal(decompress_latents(data, model, b"TEST", "test"), latents)
    # The sealed stream's framing (header, checksum, content digest) is about 70 bytes.
    assert 8 * len(data) <= 1.01 * model.ideal_bits(latents) + 8 * 80


def test_model_serialises_to_the_same_tables():
    model = FactorizedHistogram.fit(_laplace_latents(1000, 5, seed=3) - 7)
    again = FactorizedHistogram.from_bytes(model.to_bytes())
    assert np.array_equal(again.low, model.low) and again.fingerprint == model.fingerprint


def test_damaged_streams_and_foreign_models_are_reported():
    model = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=4))
    data = compress_latents(model.clip(_laplace_latents(50, 6, seed=5)), model, b"TEST")
    flipped = bytearray(data)
    flipped[len(data) - len(unseal(data, b"TEST")[1])] ^= 0x10  # the body's first byte: always read
    for damaged in (data[:10], data[:-4], data + b"\0\0\0\0", bytes(flipped), b"XXXX" + data[4:]):
        with pytest.raises(CorruptStreamError):
            decompress_latents(damaged, model, b"TEST", "test")
    other = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=6))
    with pytest.raises(CorruptStreamError, match="different trained model"):
        decompress_latents(data, other, b"TEST", "test")


def test_every_bit_of_the_header_is_checked():
    model = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=4))
    latents = model.clip(_laplace_latents(3, 6, seed=5))
    data = compress_latents(latents, model, b"TEST")
    _, body, _ = unseal(data, b"TEST")
    for bit in range(8 * (len(data) - len(body))):  # magic, header, digest, body length, checksum
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(CorruptStreamError):
            decompress_latents(bytes(damaged), model, b"TEST", "test")


def test_a_count_the_body_cannot_hold_is_refused_before_decoding():
    model = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=4))
    latents = model.clip(_laplace_latents(3, 6, seed=5))
    header, body, digest = unseal(compress_latents(latents, model, b"TEST"), b"TEST")
    # A well-formed, correctly checksummed stream that claims 2**40 images: refused, nothing allocated.
    with pytest.raises(CorruptStreamError, match="more than the stream can hold"):
        decompress_latents(seal(b"TEST", {**header, "n": 1 << 40}, body, digest), model, b"TEST", "test")
    for n in (-1, True, 2.0, "3", None):
        with pytest.raises(CorruptStreamError):
            decompress_latents(seal(b"TEST", {**header, "n": n}, body, digest), model, b"TEST", "test")


def test_the_image_bound_holds_for_the_cheapest_images():
    # Every image at each dimension's likeliest value costs exactly min_bits_per_image: the bound
    # must still admit the real count, however many such images a stream holds.
    model = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=4))
    likeliest = model.low + np.array([int(np.argmax(t)) for t in model.tables])
    for n in (1, 10, 1000, 20000):
        latents = np.tile(likeliest, (n, 1))
        data = compress_latents(latents, model, b"TEST")
        _, body, _ = unseal(data, b"TEST")
        assert model.max_images(len(body)) >= n
        assert np.array_equal(decompress_latents(data, model, b"TEST", "test"), latents)


def test_uniform_latent_code_caches_its_tables_and_counts_clipped_values(tmp_path):
    from bench import create_codec
    from bench.api.codec import RunContext
    from bench.learn.uniform_quantiser import UniformLatentCode

    rng = np.random.default_rng(5)
    train, coded = rng.normal(scale=2.0, size=(2000, 6)), rng.normal(scale=2.0, size=(300, 6))
    coded[0, 0] = 1e3  # far outside the train range: clipped, and counted
    ctx, owner = RunContext(profile="smoke", cache_dir=tmp_path), create_codec("pca")
    code = UniformLatentCode(0.5, b"TEST")
    code.fit(owner, "data", ctx, lambda: train, params={"step": 0.5})
    symbols = code.decompress(code.compress(coded), "test")
    assert code.clipped == 1 and symbols[0, 0] == code.histogram.high[0]
    assert np.abs(symbols[1:] * 0.5 - coded[1:]).max() <= 0.25 + 1e-12  # rounding, nothing else
    again = UniformLatentCode(0.5, b"TEST")
    again.fit(owner, "data", ctx, lambda: pytest.fail("cached tables must not be recounted"), params={"step": 0.5})
    assert again.histogram.fingerprint == code.histogram.fingerprint and again.table_bytes == code.table_bytes
    with pytest.raises(CorruptStreamError):
        code.decompress(code.compress(coded)[:-3], "test")


def test_a_stream_of_another_coder_version_is_refused_in_one_line_naming_both(monkeypatch):
    from bench.coding.reproducible import IncompatibleDecoderError

    model = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=4))
    latents = model.clip(_laplace_latents(3, 6, seed=5))
    header, body, digest = unseal(compress_latents(latents, model, b"TEST"), b"TEST")
    here = entropy.coder_id()
    assert header["coder"] == here and here.startswith("constriction ")
    forged = seal(b"TEST", {**header, "coder": "constriction 0.3.5"}, body, digest)
    with pytest.raises(IncompatibleDecoderError) as refused:
        decompress_latents(forged, model, b"TEST", "test")
    message = str(refused.value)
    assert "\n" not in message and "constriction 0.3.5" in message and here in message
    # The refusal comes before decoding: a decoder that would have decoded is never reached.
    monkeypatch.setattr(FactorizedHistogram, "decode_body", lambda *a: pytest.fail("decoded"))
    with pytest.raises(IncompatibleDecoderError):
        decompress_latents(forged, model, b"TEST", "test")
