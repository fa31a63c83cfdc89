import pytest

from bench import create_codec
from bench.api.codec import RunContext
from bench.learn.model_cache import load_or_train


def test_trains_once_then_reuses(tmp_path):
    codec = create_codec("gzip")
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)
    calls = []

    def train():
        calls.append(1)
        return b"weights"

    assert load_or_train(codec, "digest", ctx, train) == b"weights"
    assert load_or_train(codec, "digest", ctx, train) == b"weights"
    assert len(calls) == 1
    load_or_train(codec, "other-data", ctx, train)
    load_or_train(create_codec("gzip", level=1), "digest", ctx, train)
    load_or_train(codec, "digest", RunContext(profile="default", cache_dir=tmp_path), train)
    assert len(calls) == 4


def test_failed_or_interrupted_training_leaves_nothing(tmp_path):
    codec = create_codec("gzip")
    ctx = RunContext(cache_dir=tmp_path)

    def crash():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_or_train(codec, "digest", ctx, crash)
    assert not any(tmp_path.rglob("*.bin")) and not any(tmp_path.rglob("*.tmp*"))
    assert load_or_train(codec, "digest", ctx, lambda: b"ok") == b"ok"
