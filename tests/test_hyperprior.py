"""hyperprior: real range-coded streams from integer tables, three bit counts, decoding in a fresh process."""

import subprocess
import sys

import numpy as np
import pytest
from bench_codecs.hyperprior import MAGIC, SCALE_TABLE, gaussian_tables, scale_indices

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding import entropy
from bench.coding.container import seal, unseal
from bench.coding.reproducible import IncompatibleDecoderError
from bench.data.mnist import load_split
from bench.errors import BenchError, CodecError, CorruptStreamError


@pytest.fixture(scope="module")
def train_slice():
    return load_split("train", limit=2000)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hyperprior-cache")


@pytest.fixture(scope="module")
def fitted(train_slice, cache):
    codecs = {}
    for mean in (True, False):
        codec = create_codec("hyperprior", RunContext(profile="smoke", cache_dir=cache), mean=mean)
        codec.fit(train_slice)
        codecs[mean] = codec
    return codecs


def test_scale_table_indices_take_the_first_entry_at_least_as_wide():
    indices = scale_indices(np.array([0.0, 0.11, 0.1101, SCALE_TABLE[5], SCALE_TABLE[5] * 1.0001, 1e6]))
    assert indices.tolist() == [0, 0, 1, 5, 6, len(SCALE_TABLE) - 1]
    tables = gaussian_tables(10)
    assert tables.shape == (64, 21) and (tables.sum(1) == 2**entropy.PRECISION_BITS).all() and tables.min() >= 1
    # Wider scales spread the mass: the zero symbol's frequency falls along the table.
    assert (np.diff(tables[:, 10]) <= 0).all()


@pytest.mark.parametrize("mean", [True, False])
def test_streams_decode_to_the_models_reconstruction_with_three_bit_counts(fitted, test_images, mean):
    codec = fitted[mean]
    stream = codec.compress(test_images)
    decoded = codec.decompress(stream)
    assert decoded.shape == test_images.shape and decoded.dtype == np.uint8
    columns = codec.extra_columns()
    real_bpp = 8 * len(stream) / test_images.size
    # The integer tables' ideal length is within the range coder's and the header's overhead of the bytes.
    assert columns["ideal_bpp"] < real_bpp < columns["ideal_bpp"] * 1.05 + 8 * 200 / test_images.size
    assert columns["likelihood_bpp"] > 0 and columns["latents_clipped"] >= 0
    # Not a copy of the images: a lossy reconstruction within a sane error.
    mse = np.mean((decoded.astype(float) - test_images) ** 2)
    assert 0 < mse < np.mean(test_images.astype(float) ** 2)
    assert np.array_equal(codec.decompress(stream), decoded)


def test_the_mean_scale_model_predicts_means_and_the_scale_model_does_not(fitted):
    assert fitted[True].nets["h_s"][-1].out_channels == 2 * fitted[False].nets["h_s"][-1].out_channels


def test_model_bytes_count_the_decoders_networks_and_tables_not_the_encoders(fitted):
    codec = fitted[True]
    tables = codec.z_tables.size + codec.y_tables.size
    assert codec.model_bytes > 4 * tables
    assert codec.model_bytes < 4 * sum(p.numel() for net in codec.nets.values() for p in net.parameters()) + 4 * tables + 20_000


def test_a_decoder_refuses_other_float_settings_another_model_and_damage(fitted, train_slice, test_images, tmp_path):
    codec = fitted[True]
    stream = codec.compress(test_images[:3])
    header, body, digest = unseal(stream, MAGIC)
    header["float"]["threads"] = 7
    with pytest.raises(IncompatibleDecoderError, match="threads=7"):
        codec.decompress(seal(MAGIC, header, body, digest))
    other = create_codec("hyperprior", RunContext(profile="smoke", cache_dir=tmp_path, seed=1))
    other.fit(train_slice)
    with pytest.raises(CorruptStreamError, match="different trained model"):
        other.decompress(stream)
    with pytest.raises(CorruptStreamError, match="another configuration"):
        fitted[False].decompress(stream)
    with pytest.raises(BenchError):
        codec.decompress(stream[:-4])


def test_a_fresh_process_decodes_the_file_to_the_same_images(fitted, cache, test_images, tmp_path):
    codec = fitted[True]
    (tmp_path / "stream.bin").write_bytes(codec.compress(test_images))
    np.save(tmp_path / "expected.npy", codec.decompress((tmp_path / "stream.bin").read_bytes()))
    script = (
        "import numpy as np, sys, torch\n"
        "from bench import create_codec\nfrom bench.data.mnist import load_split\nfrom bench.api.codec import RunContext\n"
        "torch.set_num_threads(2)  # another default than the encoder's: the coder pins its own\n"
        f"codec = create_codec('hyperprior', RunContext(profile='smoke', cache_dir={str(cache)!r}))\n"
        "codec.fit(load_split('train', limit=2000))\n"
        f"out = codec.decompress(open({str(tmp_path / 'stream.bin')!r}, 'rb').read())\n"
        f"sys.exit(0 if np.array_equal(out, np.load({str(tmp_path / 'expected.npy')!r})) else 3)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], timeout=300).returncode == 0


def test_bad_parameters_are_refused_in_one_line():
    for bad in ({"lam": 0}, {"lam": "x"}, {"lam": True}, {"mean": "yes"}):
        with pytest.raises(CodecError, match="^hyperprior: "):
            create_codec("hyperprior", **bad)
