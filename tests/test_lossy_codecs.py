"""Learned lossy codecs (conv-ae, bican) and PCA: real streams, exact latents, the write-up's columns."""

import subprocess
import sys

import numpy as np
import pytest

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding.latent_stream import decompress_latents
from bench.data.mnist import load_split
from bench.learn.model_cache import load_or_train


@pytest.fixture(scope="module")
def train_slice():
    return load_split("train", limit=2000)


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lossy-model-cache")


def _fitted(name, train_slice, cache, **params):
    codec = create_codec(name, **params, ctx=RunContext(profile="smoke", cache_dir=cache))
    codec.fit(train_slice)
    return codec


def test_conv_ae_stream_carries_exactly_the_quantised_latent(train_slice, smoke_cache, test_images):
    codec = _fitted("conv-ae", train_slice, smoke_cache, latent_dims=39, step=0.7)
    payload = codec.compress(test_images)
    symbols = decompress_latents(payload, codec.histogram, b"CAE1", "conv-ae")
    assert np.array_equal(symbols, codec.quantise(test_images))
    decoded = codec.decompress(payload)
    assert decoded.shape == test_images.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, codec.reconstruct(symbols))
    # Real bytes: well under the 39 float32 numbers (156 B) the write-up's latent would take.
    assert len(payload) < 39 * 4 * len(test_images)


def test_conv_ae_columns_show_the_writeup_ratio_beside_the_float32_cost():
    codec = create_codec("conv-ae", latent_dims=392)
    columns = codec.extra_columns()
    assert columns["nominal_ratio"] == 0.5 and columns["nominal_compression_pct"] == 50
    assert columns["float32_latent_bytes"] == 1568 > 784
    assert round(create_codec("conv-ae", latent_dims=8).extra_columns()["nominal_compression_pct"]) == 99


def test_a_quantisation_step_does_not_retrain_the_model(train_slice, tmp_path):
    for step in (0.7, 1.4):
        _fitted("conv-ae", train_slice, tmp_path, latent_dims=8, step=step)
    assert len(list(tmp_path.rglob("weights-*.bin"))) == 1
    assert len(list(tmp_path.rglob("tables-*.bin"))) == 2


def test_model_cache_keys_by_the_given_params(tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)
    calls = []
    for step in (1.0, 2.0):
        load_or_train(create_codec("conv-ae", step=step).identity, "d", ctx, lambda: calls.append(1) or b"w",
                      params={"latent_dims": 78})
    assert len(calls) == 1


def test_conv_ae_decodes_in_a_fresh_process(train_slice, smoke_cache, test_images, tmp_path):
    codec = _fitted("conv-ae", train_slice, smoke_cache, latent_dims=78)
    (tmp_path / "stream.bin").write_bytes(codec.compress(test_images))
    np.save(tmp_path / "expected.npy", codec.decompress((tmp_path / "stream.bin").read_bytes()))
    script = (
        "import numpy as np, sys\n"
        "from bench import create_codec\nfrom bench.data.mnist import load_split\nfrom bench.api.codec import RunContext\n"
        f"codec = create_codec('conv-ae', RunContext(profile='smoke', cache_dir={str(smoke_cache)!r}), latent_dims=78)\n"
        "codec.fit(load_split('train', limit=2000))\n"
        f"out = codec.decompress(open({str(tmp_path / 'stream.bin')!r}, 'rb').read())\n"
        f"sys.exit(0 if np.array_equal(out, np.load({str(tmp_path / 'expected.npy')!r})) else 3)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], timeout=300).returncode == 0


def test_bican_uint8_code_mapping():
    from bench_codecs.bican import bytes_to_code, code_to_bytes

    z = np.array([-1.0, -0.5, 0.0, 0.5, 0.999, 1.0])
    assert code_to_bytes(z).tolist() == [0, 64, 128, 192, 255, 255]  # (z/2 + 0.5) * 256, clipped
    every_byte = np.arange(256, dtype=np.uint8)
    assert np.array_equal(code_to_bytes(bytes_to_code(every_byte)), every_byte)
    grid = np.linspace(-1, 1, 1001)
    assert np.abs(bytes_to_code(code_to_bytes(grid)) - grid).max() <= 1 / 128 + 1e-12


def test_bican_stores_200_bytes_per_image_or_fewer_entropy_coded(train_slice, smoke_cache, test_images):
    raw = _fitted("bican", train_slice, smoke_cache)
    coded = _fitted("bican", train_slice, smoke_cache, entropy_coded=True)
    raw_payload, coded_payload = raw.compress(test_images), coded.compress(test_images)
    header = len(raw_payload) - 200 * len(test_images)
    assert 0 < header <= 48  # the sealed stream's header, checksum and content digest
    code = raw.code(test_images)
    assert code.shape == (len(test_images), 200) and code.dtype == np.uint8
    assert np.array_equal(decompress_latents(coded_payload, coded.histogram, b"BIC2", "bican"), code)
    assert np.array_equal(raw.decompress(raw_payload), coded.decompress(coded_payload))
    assert raw.decompress(raw_payload).shape == test_images.shape
    assert raw.extra_columns()["writeup_loss"] > 0


def test_pca_at_every_component_and_a_fine_step_is_nearly_exact(train_slice):
    images = train_slice.images[:64]  # inside the tables' range: nothing is clipped
    codec = _fitted("pca", train_slice, None, components=784, step=0.002)
    decoded = codec.decompress(codec.compress(images))
    assert np.abs(decoded.astype(int) - images).max() <= 2
    assert codec.extra_columns()["latents_clipped"] == 0
    coarse = _fitted("pca", train_slice, None, components=64, step=0.5)
    assert len(coarse.compress(images)) < len(codec.compress(images)) / 4
