import numpy as np
import pytest

from bench import entropy
from bench.errors import CorruptStreamError
from bench.latent_coding import FactorizedHistogram, compress_latents, decompress_latents


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
    assert 8 * len(data) <= 1.01 * model.ideal_bits(latents) + 8 * 32


def test_model_serialises_to_the_same_tables():
    model = FactorizedHistogram.fit(_laplace_latents(1000, 5, seed=3) - 7)
    again = FactorizedHistogram.from_bytes(model.to_bytes())
    assert np.array_equal(again.low, model.low) and again.fingerprint == model.fingerprint


def test_damaged_streams_and_foreign_models_are_reported():
    model = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=4))
    data = compress_latents(model.clip(_laplace_latents(50, 6, seed=5)), model, b"TEST")
    flipped = bytearray(data)
    flipped[-3] ^= 0x10
    for damaged in (data[:10], data[:-4], data + b"\0\0\0\0", bytes(flipped), b"XXXX" + data[4:]):
        with pytest.raises(CorruptStreamError):
            decompress_latents(damaged, model, b"TEST", "test")
    other = FactorizedHistogram.fit(_laplace_latents(1000, 6, seed=6))
    with pytest.raises(CorruptStreamError, match="different trained model"):
        decompress_latents(data, other, b"TEST", "test")
