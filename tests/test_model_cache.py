import pytest

from bench import create_codec
from bench.api.codec import RunContext
from bench.api.identity import CodecIdentity
from bench.learn.model_cache import load_or_train


def test_trains_once_then_reuses(tmp_path):
    codec = create_codec("gzip")
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)
    calls = []

    def train():
        calls.append(1)
        return b"weights"

    assert load_or_train(codec.identity, "digest", ctx, train) == b"weights"
    assert load_or_train(codec.identity, "digest", ctx, train) == b"weights"
    assert len(calls) == 1
    load_or_train(codec.identity, "other-data", ctx, train)
    load_or_train(create_codec("gzip", level=1).identity, "digest", ctx, train)
    load_or_train(codec.identity, "digest", RunContext(profile="default", cache_dir=tmp_path), train)
    assert len(calls) == 4


def test_failed_or_interrupted_training_leaves_nothing(tmp_path):
    codec = create_codec("gzip")
    ctx = RunContext(cache_dir=tmp_path)

    def crash():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_or_train(codec.identity, "digest", ctx, crash)
    assert not any(tmp_path.rglob("*.bin")) and not any(tmp_path.rglob("*.tmp*"))
    assert load_or_train(codec.identity, "digest", ctx, lambda: b"ok") == b"ok"


def test_keyed_by_identity_not_by_object(tmp_path):
    """Two codecs built apart with the same name and parameters share one model; no codec object is
    needed to find it (a cluster worker or another process builds only the identity)."""
    ctx = RunContext(cache_dir=tmp_path)
    first, second = create_codec("gzip", level=5), create_codec("gzip", level=5)
    assert first is not second and first.identity == second.identity
    load_or_train(first.identity, "digest", ctx, lambda: b"weights")
    assert load_or_train(second.identity, "digest", ctx, lambda: pytest.fail("trained twice")) == b"weights"
    by_hand = CodecIdentity("gzip", first.params, first.identity.code)
    assert load_or_train(by_hand, "digest", ctx, lambda: pytest.fail("trained twice")) == b"weights"
    changed = CodecIdentity("gzip", first.params, "another-code-version")
    assert load_or_train(changed, "digest", ctx, lambda: b"retrained") == b"retrained"
