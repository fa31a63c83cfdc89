"""bench.run.measure: the one measurement of a configuration, and the columns derived from it."""

import numpy as np
import pandas as pd
import pytest

from bench import ImageCodec, create_codec
from bench.api.codec import RunContext
from bench.coding import parallel
from bench.run.measure import derive, derived_columns, measure


class _FlipFirstPixel(ImageCodec):
    """A 'lossless' codec that damages image 2: the measurement must say so, not raise."""

    name = "flip"

    def compress(self, images):
        return images.tobytes()

    def decompress(self, data):
        out = np.frombuffer(data, np.uint8).reshape(-1, 28, 28).copy()
        if len(out) > 2:
            out[2, 0, 0] ^= 1
        return out


def test_a_lossless_mismatch_is_measured_image_by_image(test_images):
    codec = _FlipFirstPixel()
    codec.ctx = RunContext()
    measured = measure(codec, test_images[:40])
    assert measured.lossless_ok is False and measured.mismatched.tolist() == [2]
    assert measured.mse == pytest.approx(1 / (255**2 * 40 * 784))
    row = measured.columns()
    assert row["payload_bytes"] == len(measured.payload) == 40 * 784 and row["n_images"] == 40


def test_a_decoder_of_the_wrong_shape_is_an_error(test_images):
    class Short(_FlipFirstPixel):
        def decompress(self, data):
            return super().decompress(data)[:-1]

    codec = Short()
    codec.ctx = RunContext()
    with pytest.raises(ValueError, match="decoder returned"):
        measure(codec, test_images[:20], warm_up=False)


def test_derived_columns_are_the_same_for_a_row_and_for_a_table(test_images):
    measured = measure(create_codec("gzip"), test_images[:100])
    row = {**measured.columns(), "model_bytes": 10}
    derive(row)
    assert row["bpp"] == pytest.approx(8 * row["payload_bytes"] / test_images[:100].size)
    assert row["total_bytes"] == row["payload_bytes"] + 10 and row["psnr"] == float("inf")
    table = pd.DataFrame([row])
    columns = derived_columns(table["payload_bytes"], table["raw_bytes"], table["model_bytes"], table["mse"],
                              table["enc_s"], table["dec_s"], table["n_images"])
    for key, values in columns.items():
        assert values.iloc[0] == pytest.approx(row[key]), key


def test_per_image_workers_code_with_the_fitted_codec_not_a_rebuilt_one(test_images, monkeypatch):
    """The workers inherit the codec as it is after fit: state set on it reaches every chunk."""
    monkeypatch.setattr(parallel, "MIN_ITEMS_PER_WORKER", 10)
    monkeypatch.setenv("BENCH_WORKERS", "2")
    codec = create_codec("gzip", framing="per-image")
    codec.level = 1  # not one of its registered parameters: a codec rebuilt by name would not have it
    blobs = parallel.encode_each(codec, test_images[:60])
    import gzip

    assert blobs == [gzip.compress(image.tobytes(), 1, mtime=0) for image in test_images[:60]]
    assert b"".join(parallel.decode_each(codec, blobs)) == test_images[:60].tobytes()


def test_per_image_coding_must_be_declared(test_images):
    with pytest.raises(TypeError, match="per-image"):
        parallel.encode_each(create_codec("gzip", framing="whole"), test_images[:4])


def test_the_run_context_is_bound_when_the_codec_is_built(tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path, seed=3)
    codec = create_codec("weightless", ctx)
    assert codec.ctx is ctx
    assert create_codec("gzip").ctx == RunContext()
