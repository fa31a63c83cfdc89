"""Training profiles: every learned codec declares all three, `bench profiles` shows them and their
measured training cost, and a malformed profile set is refused when it is declared."""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass

import pytest

from bench import create_codec
from bench.api.codec import PROFILES, RunContext
from bench.api.profiles import PURPOSES, Profile, ProfileError, ProfileSet
from bench.api.registry import get_entry, list_codecs
from bench.cli import main
from bench.learn.classifier import CLASSIFIER_PROFILES
from bench.learn.model_cache import load_or_train

LEARNED = {"ar-mnist", "bican", "conv-ae", "deep-ar", "hyperprior", "kmedoids-coreset", "lgc", "local-ar", "pca-cnn",
           "weightless"}


@dataclass(frozen=True, kw_only=True)
class Toy(Profile):
    epochs: int
    lr: float = 1e-3


def declared() -> dict[str, ProfileSet]:
    return {n: get_entry(n).cls.profiles for n in list_codecs() if get_entry(n).cls.profiles is not None}


def test_profile_names_come_from_one_place():
    assert PROFILES == ("smoke", "default", "full") == tuple(PURPOSES)
    assert all(PURPOSES[name] for name in PROFILES)


def test_every_learned_codec_declares_a_complete_profile_set():
    sets = declared()
    assert LEARNED <= set(sets)
    for name in list_codecs():
        cls = get_entry(name).cls
        source = "".join(inspect.getsource(c) for c in cls.__mro__ if c.__module__ == cls.__module__)
        if "ctx.profile" in source:  # a codec that reads the run's profile must declare its budgets
            assert name in sets, f"{name} reads ctx.profile but declares no profiles"
    for name, profiles in {**sets, "classifier": CLASSIFIER_PROFILES}.items():
        assert isinstance(profiles, ProfileSet), name
        assert tuple(profiles) == PROFILES, name
        assert all(type(profiles[p]) is profiles.type and issubclass(profiles.type, Profile) for p in PROFILES)


def test_budget_values_are_unchanged():
    """Spot checks against the values benchmarks/gates/golden.json was recorded with."""
    assert get_entry("conv-ae").cls.profiles["smoke"].fields() == dict(
        epochs=2, batch=64, lr=4e-3, max_images=2000, conv1=8, conv2=16, hidden=64)
    assert get_entry("ar-mnist").cls.profiles["default"].train_rows == 800_000
    assert get_entry("lgc").cls.profiles["smoke"].fields() == dict(epochs=4, max_images=10000, batch=128, lr=2e-3)
    assert CLASSIFIER_PROFILES["smoke"].fields() == dict(epochs=1, min_steps=30, max_lr=3e-3, augment_small_sets=True)
    from bench_codecs.weightless import config_for

    assert config_for("causal", "smoke") == dict(
        neighbourhood=[1, 1, 1], hidden=16, layers=1, first_chunk=16, largest_chunk=64, min_update=32, epochs=1,
        batch=8, lr=1e-2, model="causal", profile="smoke", seed=0)


def test_bad_profile_sets_are_refused():
    good = Toy(epochs=1)
    with pytest.raises(ProfileError, match="needs exactly smoke, default, full.*missing full"):
        ProfileSet(smoke=good, default=good)
    with pytest.raises(ProfileError, match="unknown quick"):
        ProfileSet(smoke=good, default=good, full=good, quick=good)
    with pytest.raises(ProfileError, match="'full' is a dict, not a Profile"):
        ProfileSet(smoke=good, default=good, full={"epochs": 1})

    @dataclass(frozen=True, kw_only=True)
    class Other(Profile):
        epochs: int

    with pytest.raises(ProfileError, match="must be one type.*full: Other"):
        ProfileSet(smoke=good, default=good, full=Other(epochs=1))
    with pytest.raises(ProfileError, match="field\\(s\\) epochs must be numbers"):
        ProfileSet(smoke=good, default=good, full=Toy(epochs=[1, 2]))
    with pytest.raises(ProfileError, match="unknown profile 'fast'; choose one of smoke, default, full"):
        ProfileSet(smoke=good, default=good, full=good)["fast"]
    with pytest.raises(AttributeError):  # frozen (FrozenInstanceError): a budget cannot drift at run time
        good.epochs = 2


def test_bench_profiles_prints_every_set(tmp_path, capsys):
    assert main(["profiles", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name, profiles in {**declared(), "classifier": CLASSIFIER_PROFILES}.items():
        assert f"\n{name}  ({profiles.type.__name__})" in out
        for field in profiles["smoke"].fields():
            assert f"\n  {field} " in out, (name, field)
    for purpose in PURPOSES.values():
        assert purpose in out
    assert "not trained here yet" in out and "learns while it codes" in out
    assert main(["list", "--profiles", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == out
    assert main(["profiles", "nothing-like-this"]) == 2


def test_a_recorded_training_time_shows_up(tmp_path, capsys):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path)

    def train() -> bytes:
        time.sleep(0.3)
        return b"weights"

    load_or_train(create_codec("conv-ae").identity, "digest", ctx, train, tag="weights")
    load_or_train(create_codec("conv-ae").identity, "digest", ctx, train, tag="weights")  # a hit: no record
    (record_path,) = (tmp_path / "conv-ae" / "trainings").glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["train_s"] >= 0.3 and record["profile"] == "smoke" and record["tag"] == "weights"
    assert main(["profiles", "conv-ae", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"    smoke    weights: 1 trained, {record['train_s']:.1f} s (" in out
    assert "    default  not trained here yet" in out and "older cache" not in out
