import numpy as np
import pytest

from bench.api.codec import RunContext
from bench.data.mnist import load_split
from bench.errors import BenchError
from bench.learn.classifier import score_training_set, train_and_score


@pytest.fixture(scope="module")
def small_train():
    return load_split("train", limit=1000)


def test_smoke_classifier_beats_chance_and_is_cached(small_train, tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)
    first = score_training_set(small_train.images, small_train.labels, ctx)
    assert not first.cached and first.n_train == 1000 and first.steps >= 30
    assert first.accuracy > 0.6  # chance is 0.1
    # The same training set is never trained twice: the second call is a cache hit with the same score.
    again = score_training_set(small_train.images.copy(), small_train.labels.copy(), ctx)
    assert again.cached and again.accuracy == first.accuracy
    assert train_and_score(small_train.images, small_train.labels, ctx) == first.accuracy
    assert len(list((tmp_path / "classifier").glob("score-*.json"))) == 1
    # A different training set (one label changed) is a different cache entry.
    labels = small_train.labels.copy()
    labels[0] = (labels[0] + 1) % 10
    from bench.learn.classifier import score_key

    assert score_key(small_train.images, labels, ctx) != score_key(small_train.images, small_train.labels, ctx)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), "empty"),
    (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "uint8"),
    (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), "labels of shape"),
    (np.zeros((4, 28, 28), np.uint8), np.full(4, 10), "labels must lie in 0..9"),
])
def test_bad_training_sets_are_one_line_errors(images, labels, message, tmp_path):
    with pytest.raises(BenchError, match=message):
        train_and_score(images, labels, RunContext(profile="smoke", cache_dir=tmp_path))


def _trained_weights(images, labels, budget):
    from bench.learn.classifier import train_classifier

    model, steps = train_classifier(images, labels, RunContext(profile="smoke"), budget)
    return steps, [t.detach().clone() for t in model.state_dict().values()]


def test_only_sets_where_min_steps_binds_are_augmented(small_train):
    import torch

    from bench.learn.classifier import Budget

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    small_images, small_labels = small_train.images[:100], small_train.labels[:100]
    # 100 images, one epoch = 1 step < min_steps 10: the floor binds, so augmentation changes the training.
    steps, augmented = _trained_weights(small_images, small_labels, Budget(epochs=1, min_steps=10))
    _, plain = _trained_weights(small_images, small_labels, Budget(epochs=1, min_steps=10, augment_small_sets=False))
    assert steps == 10 and not same(augmented, plain)
    # 1,000 images, one epoch = 8 steps >= min_steps 8: a large set, trained exactly as without augmentation.
    steps, large = _trained_weights(small_train.images, small_train.labels, Budget(epochs=1, min_steps=8))
    _, large_plain = _trained_weights(small_train.images, small_train.labels,
                                      Budget(epochs=1, min_steps=8, augment_small_sets=False))
    assert steps == 8 and same(large, large_plain)


def test_random_affine_keeps_shapes_and_moves_pixels():
    import torch

    from bench.learn.classifier import random_affine

    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0
    out = random_affine(x, torch.Generator().manual_seed(0), 15.0, 0.1, 3.0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)
    # Zero rotation, scale and shift is the identity (up to interpolation round-off).
    same = random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)
    assert torch.allclose(same, x, atol=1e-5)


@pytest.mark.parametrize("n_images", [10, 300])
def test_the_judge_gives_the_same_accuracy_on_one_two_or_four_threads(n_images, tmp_path):
    """Its caller's thread count does not reach the judge (JUDGE_THREADS): the same set and seed give the
    same classifier, weight for weight, and the same accuracy."""
    import torch

    from bench.learn.classifier import accuracy_on_test_split, train_classifier

    train = load_split("train", limit=n_images)
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)
    before = torch.get_num_threads()
    results = {}
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            model, _ = train_classifier(train.images, train.labels, ctx)
            weights = torch.cat([p.detach().flatten() for p in model.parameters()])
            results[threads] = (weights, accuracy_on_test_split(model, ctx))
            assert torch.get_num_threads() == threads  # the caller's setting is given back
    finally:
        torch.set_num_threads(before)
    for threads in (2, 4):
        assert torch.equal(results[threads][0], results[1][0]), f"weights differ on {threads} threads"
        assert results[threads][1] == results[1][1]
