import numpy as np
import pytest

from bench.coding import entropy


def _skewed_source(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    symbols = np.array([rng.choice(k, p=p) for p in probs])
    return symbols, entropy.quantize(probs)


def test_quantize_rows_sum_to_the_precision_and_keep_every_symbol():
    freqs = entropy.quantize(np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 0.0]]))
    assert (freqs.sum(axis=1) == 1 << entropy.PRECISION_BITS).all() and (freqs >= 1).all()
    assert freqs[2].max() - freqs[2].min() <= 1  # an all-zero row becomes uniform
    with pytest.raises(ValueError, match="finite"):
        entropy.quantize(np.array([[np.nan, 1.0]]))


@pytest.mark.parametrize("backend", entropy.BACKENDS)
def test_round_trip_in_batches_like_an_autoregressive_decoder(backend):
    symbols, freqs = _skewed_source(600, 5)
    encoder = entropy.Encoder(backend)
    for start in range(0, 600, 100):
        encoder.encode(symbols[start:start + 100], freqs[start:start + 100])
    data = encoder.finish()
    decoder = entropy.Decoder(data, backend)
    decoded = np.concatenate([decoder.decode(freqs[s:s + 100]) for s in range(0, 600, 100)])
    assert np.array_equal(decoded, symbols)


def test_both_backends_land_within_one_percent_of_the_ideal_length():
    symbols, freqs = _skewed_source(4000, 16, seed=1)
    ideal = entropy.ideal_bits(symbols, freqs)
    for backend in entropy.BACKENDS:
        real = 8 * len(entropy.encode(symbols, freqs, backend))
        assert ideal <= real <= 1.01 * ideal + 64, (backend, real, ideal)


def test_binary_alphabet():
    rng = np.random.default_rng(2)
    p1 = rng.uniform(0.01, 0.99, size=2000)
    bits = (rng.uniform(size=2000) < p1).astype(np.int64)
    freqs = entropy.quantize(np.stack([1 - p1, p1], axis=1))
    assert np.array_equal(entropy.decode(entropy.encode(bits, freqs), freqs), bits)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown entropy backend"):
        entropy.Encoder("huffman")
    with pytest.raises(ValueError, match="one frequency row per symbol"):
        entropy.encode(np.array([0, 1]), entropy.quantize(np.ones((3, 2))))
    with pytest.raises(entropy.CorruptStreamError, match="32-bit words"):
        entropy.Decoder(b"abc")
