"""The dataset codecs of the equal-bytes frontier: compressed coresets (a byte budget filled with
lossy-stored images), the labelled-set storages they share, and distribution-matching distillation."""

import numpy as np
import pytest
from bench_baselines.labelled_set import pack_labelled_set, unpack_labelled_set

from bench import create_codec
from bench.api.codec import RunContext
from bench.cli import main
from bench.data.mnist import load_split
from bench.errors import CodecError, CorruptStreamError
from bench.run.results import load_table


@pytest.fixture(scope="module")
def train_slice():
    return load_split("train", limit=600)


@pytest.mark.parametrize("storage", ["lossless", "binary", "webp"])
def test_every_storage_round_trips_class_counts_and_its_own_decode(storage, train_slice):
    images, labels = train_slice.images[:57], train_slice.labels[:57]
    payload = pack_labelled_set(images, labels, storage, quality=10)
    decoded, decoded_labels = unpack_labelled_set(payload)
    order = np.argsort(labels, kind="stable")
    assert np.array_equal(decoded_labels, labels[order])
    assert decoded.shape == images.shape and decoded.dtype == np.uint8
    if storage == "lossless":
        assert np.array_equal(decoded, images[order])
    elif storage == "binary":
        assert np.array_equal(decoded, np.where(images[order] >= 128, 255, 0))
    else:  # lossy, but close: mean absolute error of a few grey levels on these digits
        assert 0 < np.abs(decoded.astype(int) - images[order]).mean() < 20
    # a second decode of the same stream gives the same images (the digest is of the receiver's images)
    assert np.array_equal(unpack_labelled_set(payload)[0], decoded)


@pytest.mark.parametrize("storage", ["binary", "webp"])
def test_damaged_lossy_storage_streams_are_clean_errors(storage, train_slice):
    payload = pack_labelled_set(train_slice.images[:40], train_slice.labels[:40], storage)
    for damaged in (payload[:5], payload[:-3], payload + b"\0", payload[:-10] + bytes(10),
                    payload[:1] + b"\x77" + payload[2:]):
        with pytest.raises(CorruptStreamError):
            unpack_labelled_set(damaged)


@pytest.mark.parametrize("name", ["compressed-random", "compressed-kmedoids"])
@pytest.mark.parametrize("budget", [1_500, 6_000])
def test_compressed_coresets_fill_the_byte_budget_and_no_more(name, budget, train_slice, tmp_path):
    codec = create_codec(name, RunContext(profile="smoke", cache_dir=tmp_path), budget_bytes=budget)
    payload = codec.compress_dataset(train_slice.images, train_slice.labels)
    images, labels = codec.decompress_dataset(payload)
    k = codec.per_class
    assert len(payload) <= budget
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, k))
    # The budget is filled: one more image per class would not have fitted.
    assert len(codec._stream(train_slice.images, train_slice.labels, k + 1)) > budget
    # Binary storage holds more images than the same bytes of lossless random images.
    lossless = create_codec("random-subset", per_class=k).compress_dataset(train_slice.images, train_slice.labels)
    assert len(lossless) > 2 * len(payload)
    assert set(np.unique(images)) <= {0, 255}


def test_compressed_random_keeps_the_first_k_of_one_seeded_order_per_class(train_slice):
    small = create_codec("compressed-random", budget_bytes=1_500, seed=3)
    large = create_codec("compressed-random", budget_bytes=6_000, seed=3)
    other = create_codec("compressed-random", budget_bytes=6_000, seed=4)
    a, b, c = (codec.decompress_dataset(codec.compress_dataset(train_slice.images, train_slice.labels))[0]
               for codec in (small, large, other))
    kept_small = {img.tobytes() for img in a}
    assert kept_small <= {img.tobytes() for img in b}  # a larger budget keeps the smaller one's images
    assert {img.tobytes() for img in b} != {img.tobytes() for img in c}


def test_a_budget_below_one_image_per_class_is_one_line(train_slice):
    codec = create_codec("compressed-random", budget_bytes=200)
    with pytest.raises(ValueError, match="budget_bytes=200 is below the smallest compressed-random stream"):
        codec.compress_dataset(train_slice.images, train_slice.labels)


@pytest.mark.parametrize("name, params, message", [
    ("compressed-random", {"budget_bytes": 0}, "budget_bytes must be a positive integer"),
    ("compressed-random", {"budget_bytes": 1.5}, "budget_bytes must be a positive integer"),
    ("compressed-kmedoids", {"storage": "jpeg"}, "storage must be one of lossless, binary, webp"),
    ("compressed-random", {"storage": "webp", "quality": 101}, "quality must be an integer in 0..100"),
    ("compressed-random", {"seed": -1}, "seed must be a non-negative integer"),
    ("distilled", {"images_per_class": 0}, "images_per_class must be an integer in 1..1000"),
    ("distilled", {"byte_codec": "rar"}, "byte_codec must be 'best' or one of"),
])
def test_bad_parameters_are_rejected_in_one_line(name, params, message):
    with pytest.raises(CodecError, match=message) as caught:
        create_codec(name, **params)
    assert "\n" not in str(caught.value)


def test_distillation_learns_reproducible_images_and_ships_them(train_slice, tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)
    codec = create_codec("distilled", ctx, images_per_class=2)
    codec.fit(train_slice)
    payload = codec.compress_dataset(train_slice.images, train_slice.labels)
    images, labels = codec.decompress_dataset(payload)
    assert images.shape == (20, 28, 28) and np.array_equal(labels, np.repeat(np.arange(10), 2))
    assert np.array_equal(images, codec.synthetic)  # lossless storage: the learned 8-bit images
    # Learned: no longer the real images they started from.
    assert not {img.tobytes() for img in images} <= {img.tobytes() for img in train_slice.images}
    # Reproducible from the seed: a fresh cache trains the same images again.
    again = create_codec("distilled", RunContext(profile="smoke", cache_dir=tmp_path / "fresh"), images_per_class=2)
    again.fit(train_slice)
    assert np.array_equal(again.synthetic, codec.synthetic)
    assert codec.extra_columns()["distill_iterations"] == 20
    with pytest.raises(CorruptStreamError):
        codec.decompress_dataset(payload[:-4])


def test_bench_run_scores_the_new_dataset_codecs_end_to_end(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--codecs", "compressed-random:budget_bytes=3000:seed=0:storage=binary,distilled:images_per_class=1:storage=lossless",
                 "--split", "train", "--limit", "300", "--profile", "smoke", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    rows = load_table(out)
    assert (rows["status"] == "ok").all() and (rows["kind"] == "dataset").all()
    compressed, distilled = rows[rows["codec"] == "compressed-random"], rows[rows["codec"] == "distilled"]
    assert len(compressed) and (compressed["payload_bytes"] <= 3000).all()
    assert len(distilled) and (distilled["n_decoded"] == 10).all()
    assert rows["accuracy"].between(0.1, 1.0).all()
