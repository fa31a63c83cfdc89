import numpy as np
import pytest
from bench_codecs.lgc import bic_candidates, fit_class_mixture, pack_array, sample_mixture

from bench import create_codec
from bench.api.codec import RunContext
from bench.cli import main
from bench.data.mnist import load_split
from bench.errors import CorruptStreamError
from bench.run.results import load_table


def _clusters(centres, n_each, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + 0.3 * rng.standard_normal((n_each, len(c))) for c in np.asarray(centres, float)])


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_bic_picks_the_true_number_of_components(covariance):
    assert bic_candidates(6) == [1, 2, 4, 6] and bic_candidates(32) == [1, 2, 4, 8, 16, 32]
    four = _clusters([[0, 0, 0, 0], [5, 5, 0, 0], [0, 5, 5, 5], [5, 0, 5, 0]], 150)
    mixture, bics = fit_class_mixture(four, "bic", 8, covariance, seed=0)
    assert mixture.n_components == 4 and min(bics, key=bics.get) == 4 and list(bics) == [1, 2, 4, 8]
    six, _ = fit_class_mixture(_clusters(6 * np.eye(6)[:, :5], 100), "bic", 6, covariance, seed=0)
    assert six.n_components == 6
    one, _ = fit_class_mixture(_clusters([[1, 2, 3, 4]], 300), "bic", 8, covariance, seed=0)
    assert one.n_components == 1


def test_fixed_number_of_components_skips_bic():
    mixture, bics = fit_class_mixture(_clusters([[0, 0], [4, 4]], 100), 5, 10, "diag", seed=0)
    assert mixture.n_components == 5 and list(bics) == [5]


def test_sampling_follows_the_mixture_weights():
    weights, means = np.array([0.2, 0.8]), np.array([[-10.0, 0.0], [10.0, 0.0]])
    samples = sample_mixture(weights, means, np.ones((2, 2)), "diag", 5000, np.random.default_rng(0))
    assert samples.shape == (5000, 2)
    assert abs((samples[:, 0] < 0).mean() - 0.2) < 0.02


def test_int8_and_float16_packing_keep_values_within_their_step():
    from bench_codecs.lgc import BodyReader

    array = np.random.default_rng(0).normal(size=(6, 11)).astype(np.float32)
    for precision, tolerance in (("float32", 0), ("float16", 2e-3), ("int8", None)):
        restored = BodyReader(pack_array(array, precision)).array(array.shape, precision)
        step = (array.max(1) - array.min(1)) / 255
        limit = step[:, None] / 2 + 1e-6 if tolerance is None else tolerance + 1e-7
        assert np.all(np.abs(restored - array) <= limit), precision


@pytest.fixture(scope="module")
def smoke_codec(tmp_path_factory):
    codec = create_codec("lgc", width=8, ctx=RunContext(profile="smoke", cache_dir=tmp_path_factory.mktemp("c")))
    codec.fit(load_split("train", limit=2000))
    return codec


def test_decoded_set_keeps_the_class_proportions(smoke_codec):
    train = load_split("train", limit=500)
    payload = smoke_codec.compress_dataset(train.images, train.labels)
    images, labels = smoke_codec.decompress_dataset(payload)
    assert images.shape == (500, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels, minlength=10), np.bincount(train.labels, minlength=10))
    columns = smoke_codec.extra_columns()
    assert columns["decoder_bytes"] + columns["mixture_bytes"] < columns["body_bytes"]
    assert len(columns["components_per_class"].split(",")) == 10
    # The same payload decodes to the same synthetic set (the sampling seed is in the stream).
    again, _ = smoke_codec.decompress_dataset(payload)
    assert np.array_equal(images, again)


def test_damaged_lgc_streams_are_clean_errors(smoke_codec):
    import gzip

    from bench_codecs.lgc import STREAM_MAGIC

    from bench.coding.container import seal, unseal

    train = load_split("train", limit=200)
    payload = smoke_codec.compress_dataset(train.images, train.labels)
    header, packed, digest = unseal(payload, STREAM_MAGIC)
    body = gzip.decompress(packed)

    def resealed(new_body: bytes) -> bytes:
        """The body changed and gzipped again, sealed with a valid checksum: only the digest can tell."""
        return seal(STREAM_MAGIC, {"body": len(new_body)}, gzip.compress(new_body, 9, mtime=0), digest)

    changed = bytearray(body)
    changed[len(body) // 2] ^= 0x01  # a weight of the decoder: it would decode to other images
    for damaged in (payload[:-5], payload[:10], b"junk" + payload, resealed(body[:-7]), resealed(body + b"\0"),
                    resealed(b"XXXX" + body[4:]), resealed(bytes(changed)),
                    seal(STREAM_MAGIC, {"body": 10**6}, packed, digest),  # a length the gzip does not hold
                    seal(STREAM_MAGIC, {"body": 100}, gzip.compress(bytes(10**7)), digest)):  # a gzip bomb
        with pytest.raises(CorruptStreamError):
            smoke_codec.decompress_dataset(damaged)


def test_bench_run_scores_lgc_end_to_end(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--codecs", "lgc:width=8:components=2:variant=cvae:covariance=diag:precision=int8", "--split", "train", "--limit", "300",
                 "--profile", "smoke", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    row = load_table(out).iloc[0]
    assert row["status"] == "ok" and row["kind"] == "dataset" and row["n_decoded"] == 300
    assert row["components_per_class"] == ",".join(["2"] * 10)
    assert row["ratio_vs_gzip"] == pytest.approx(row["gzip_bytes"] / row["payload_bytes"])
    assert 0.0 <= row["accuracy"] <= 1.0 and row["classifier_train_s"] > 0
