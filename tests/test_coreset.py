import numpy as np
import pytest
from bench_baselines.coreset import pairwise_gradient_distances
from bench_baselines.labelled_set import unpack_labelled_set

from bench import create_codec
from bench.api.codec import RunContext
from bench.cli import main
from bench.data.mnist import load_split
from bench.errors import CorruptStreamError
from bench.run.results import load_table


@pytest.fixture(scope="module")
def train_slice():
    return load_split("train", limit=400)


def _row_index(images: np.ndarray, originals: np.ndarray) -> list[int]:
    """For each image, the index of an identical image among the originals."""
    lookup = {img.tobytes(): i for i, img in enumerate(originals)}
    return [lookup[img.tobytes()] for img in images]


@pytest.mark.parametrize("name, params", [("random-subset", {"per_class": 3, "seed": 1}),
                                          ("kmedoids-coreset", {"per_class": 3})])
def test_subset_has_k_real_images_per_class_with_their_labels(name, params, train_slice, tmp_path):
    codec = create_codec(name, **params, ctx=RunContext(profile="smoke", cache_dir=tmp_path))
    codec.fit(train_slice)
    payload = codec.compress_dataset(train_slice.images, train_slice.labels)
    images, labels = codec.decompress_dataset(payload)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 3))
    source = _row_index(images, train_slice.images)  # every kept image is a real training image ...
    assert np.array_equal(train_slice.labels[source], labels)  # ... with its own label
    assert len(set(source)) == 30
    assert len(payload) < 30 * 784  # the lossless byte codec did compress


def test_random_subsets_differ_by_seed(train_slice):
    picks = [create_codec("random-subset", per_class=5, seed=s).select(train_slice.images, train_slice.labels)
             for s in (0, 1, 0)]
    assert not np.array_equal(np.sort(picks[0]), np.sort(picks[1])) and np.array_equal(picks[0], picks[2])


def test_gradient_distances_equal_those_of_explicit_outer_products():
    rng = np.random.default_rng(0)
    error, feature = rng.normal(size=(7, 10)), rng.normal(size=(7, 5))
    gradients = np.einsum("ic,id->icd", error, feature).reshape(7, -1)
    explicit = np.linalg.norm(gradients[:, None] - gradients[None, :], axis=2)
    assert np.allclose(pairwise_gradient_distances(error, feature), explicit, atol=1e-6)


def test_damaged_subset_streams_are_clean_errors(train_slice):
    payload = create_codec("random-subset", per_class=2).compress_dataset(train_slice.images, train_slice.labels)
    for damaged in (payload[:5], payload[:-3], payload + b"\0", bytes([9]) + payload[1:], payload[:1] + b"\x77" + payload[2:]):
        with pytest.raises(CorruptStreamError):
            unpack_labelled_set(damaged)


def test_bench_run_scores_dataset_codecs_end_to_end(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--codecs", "random-subset:per_class=2:seed=0", "--split", "train", "--limit", "300",
                 "--profile", "smoke", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    row = load_table(out).iloc[0]
    assert row["status"] == "ok" and row["kind"] == "dataset" and row["n_decoded"] == 20
    assert row["raw_bytes"] == 300 * 784 and row["ratio"] == pytest.approx(300 * 784 / row["payload_bytes"])
    gzip_bytes = len(create_codec("gzip").compress(load_split("train", limit=300).images))
    assert row["gzip_bytes"] == gzip_bytes and row["ratio_vs_gzip"] == pytest.approx(gzip_bytes / row["payload_bytes"])
    assert 0.2 < row["accuracy"] <= 1.0  # 20 images, a few seconds of training: well above chance (0.1)
