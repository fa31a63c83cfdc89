import numpy as np
import pytest

from bench.classifier import score_training_set, train_and_score
from bench.data import load_split
from bench.errors import BenchError
from bench.interface import RunContext


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
    from bench.classifier import score_key

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
