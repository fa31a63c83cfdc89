"""deep-ar (smoke profile): the coding form is the trained network, decoding in a fresh process, batches,
refusals, and the shipped model file (checksum, recipe, weights-only load)."""

import hashlib
import json
import subprocess
import sys
import textwrap

import bench_codecs.deep_ar as deep_ar
import numpy as np
import pytest
import torch

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding.container import seal, unseal
from bench.coding.reproducible import IncompatibleDecoderError
from bench.data.mnist import load_split
from bench.errors import BenchError, CorruptStreamError

SMOKE = deep_ar.DeepAr.profiles["smoke"]


def random_network(seed: int = 0, profile=SMOKE):
    """A network of the profile's shape (smoke's width), weights large enough that every connection matters."""
    torch.manual_seed(seed)
    net = deep_ar.build_network(SMOKE.channels, profile.dilations, profile.first_kernel, profile.kernel).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    return net


def coding_form_probabilities(net, images):
    """(n, 784, 256) probabilities the lockstep coding form gives, before integer quantisation."""
    coding = deep_ar.StackCodingNet(net)
    out = np.zeros((len(images), deep_ar.PIXELS, deep_ar.LEVELS))
    real_quantise = deep_ar.quantize_float32
    deep_ar.quantize_float32 = lambda probs: probs.copy()
    try:
        with torch.inference_mode():
            coding.begin(len(images))
            for r in range(28):
                coding.start_row(r)
                for c in range(28):
                    out[:, r * 28 + c] = coding.tables(c)
                    coding.write(c, images[:, r, c])
    finally:
        deep_ar.quantize_float32 = real_quantise
    return out


def test_the_lockstep_coding_form_computes_the_trained_network(test_images):
    """Row and pixel caches, taps as products: the same function as the convolutions (to rounding).
    The coding form reads only pixels already written, so this also proves the network causal."""
    net = random_network(0, deep_ar.DeepAr.profiles["default"])
    images = test_images[:6]
    with torch.no_grad():
        x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
        trained = torch.softmax(net(x), 1).permute(0, 2, 3, 1).reshape(len(images), 784, 256).numpy()
    assert np.abs(coding_form_probabilities(net, images) - trained).max() < 1e-5


def test_a_pixel_changes_only_the_predictions_after_it(test_images):
    net = random_network(1, deep_ar.DeepAr.profiles["default"])
    x = torch.from_numpy(test_images[:1].astype(np.float32) / 255.0)[:, None]
    changed = x.clone()
    changed[0, 0, 14, 9] = 1.0 - changed[0, 0, 14, 9]
    with torch.no_grad():
        difference = (net(x) - net(changed)).abs().amax(dim=1)[0].flatten()
    at = 14 * 28 + 9
    assert difference[: at + 1].max() == 0  # the pixel itself and every earlier one: untouched
    # The whole causal future sees it: the next pixel, the rest of the row, every later row's pixels
    # (the receptive field covers the whole causal past, so no later pixel is blind to it).
    assert (difference[at + 1 :] > 0).all()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cache = tmp_path_factory.mktemp("deep-ar-cache")
    codec = create_codec("deep-ar", ctx=RunContext(profile="smoke", cache_dir=cache))
    codec.fit(load_split("train", limit=500))
    return codec, next((cache / "deep-ar").glob("*.bin")).read_bytes()


def test_round_trip_real_bytes_and_ideal_length(fitted, test_images):
    codec, blob = fitted
    images = test_images[:20]
    stream = codec.compress(images)
    assert np.array_equal(codec.decompress(stream), images)
    columns = codec.extra_columns()
    real_bpp = 8 * len(stream) / images.size
    assert 0 < columns["ideal_bpp"] < real_bpp < 8
    assert columns["bpp_gap"] == pytest.approx(real_bpp - columns["ideal_bpp"])
    assert columns["model_source"] == "trained" and codec.model_bytes == len(blob)


def test_several_lockstep_batches_and_a_partial_one_round_trip(fitted, test_images, monkeypatch):
    codec, _ = fitted
    monkeypatch.setattr(deep_ar, "LOCKSTEP_BATCH", 5)
    stream = codec.compress(test_images[:12])
    assert np.array_equal(codec.decompress(stream), test_images[:12])
    monkeypatch.setattr(deep_ar, "LOCKSTEP_BATCH", 4)  # a decoder cutting the batches elsewhere refuses
    with pytest.raises(CorruptStreamError, match="batch 5"):
        codec.decompress(stream)


def test_a_fresh_process_decodes_every_image_from_the_files(fitted, test_images, tmp_path):
    codec, blob = fitted
    (tmp_path / "model.bin").write_bytes(blob)
    (tmp_path / "stream.bin").write_bytes(codec.compress(test_images[:8]))
    np.save(tmp_path / "expected.npy", test_images[:8])
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        import numpy as np
        from bench import create_codec
        folder = Path(sys.argv[1])
        codec = create_codec("deep-ar")
        codec.load_model((folder / "model.bin").read_bytes())
        decoded = codec.decompress((folder / "stream.bin").read_bytes())
        expected = np.load(folder / "expected.npy")
        print(len(decoded), sum(bool(np.array_equal(a, b)) for a, b in zip(decoded, expected)))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8", "8"]


def test_streams_of_other_float_settings_or_another_model_are_refused(fitted, test_images, tmp_path):
    codec, _ = fitted
    header, body, digest = unseal(codec.compress(test_images[:1]), deep_ar.MAGIC)
    header["float"]["threads"] = 7
    with pytest.raises(IncompatibleDecoderError, match="threads=7"):
        codec.decompress(seal(deep_ar.MAGIC, header, body, digest))
    other = create_codec("deep-ar", ctx=RunContext(profile="smoke", cache_dir=tmp_path, seed=1))
    other.fit(load_split("train", limit=500))
    with pytest.raises(CorruptStreamError, match="different trained model"):
        other.decompress(codec.compress(test_images[:1]))


def write_card(folder, blob: bytes, recipe: dict, name: str = "deep-ar-smoke.bin"):
    (folder / name).write_bytes(blob)
    card = {"file": name, "sha256": hashlib.sha256(blob).hexdigest(), "recipe": recipe}
    (folder / name).with_suffix(".json").write_text(json.dumps(card))


def test_fit_uses_a_shipped_model_whose_recipe_matches(fitted, tmp_path, monkeypatch):
    codec, blob = fitted
    train = load_split("train", limit=500)
    monkeypatch.setattr(deep_ar, "WEIGHTS_DIR", tmp_path)
    write_card(tmp_path, blob, json.loads(json.dumps(codec.recipe(train.digest))))
    shipped = create_codec("deep-ar", ctx=RunContext(profile="smoke", cache_dir=tmp_path / "empty-cache"))
    shipped.fit(train)
    assert shipped.model_source == "shipped deep-ar-smoke.bin"
    assert shipped.model_bytes == (tmp_path / "deep-ar-smoke.bin").stat().st_size
    assert not (tmp_path / "empty-cache").exists()  # nothing trained
    # Another recipe (here: another seed) trains instead of taking the file.
    other = create_codec("deep-ar", ctx=RunContext(profile="smoke", cache_dir=tmp_path / "cache", seed=3))
    other.fit(train)
    assert other.model_source == "trained"


def test_a_tampered_shipped_file_is_refused_in_one_line(fitted, tmp_path, monkeypatch):
    codec, blob = fitted
    train = load_split("train", limit=500)
    monkeypatch.setattr(deep_ar, "WEIGHTS_DIR", tmp_path)
    write_card(tmp_path, blob, json.loads(json.dumps(codec.recipe(train.digest))))
    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 1
    (tmp_path / "deep-ar-smoke.bin").write_bytes(bytes(tampered))
    fresh = create_codec("deep-ar", ctx=RunContext(profile="smoke", cache_dir=tmp_path / "cache"))
    with pytest.raises(BenchError, match="fails its SHA-256 check") as refused:
        fresh.fit(train)
    assert "\n" not in str(refused.value)


def test_a_pickle_with_code_is_refused_without_being_unpickled(tmp_path):
    import io

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    buffer = io.BytesIO()
    torch.save({"format": "deep-ar", "config": {}, "state": Payload()}, buffer)
    with pytest.raises(BenchError, match="deep-ar model is not a model file") as refused:
        deep_ar.weights_from_bytes(buffer.getvalue())
    assert "\n" not in str(refused.value)


def test_every_shipped_model_file_matches_its_card():
    cards = sorted(deep_ar.WEIGHTS_DIR.glob("*.json"))
    for card_path in cards:
        card = json.loads(card_path.read_text())
        if card["recipe"]["codec"] != "deep-ar":
            continue
        blob = (card_path.parent / card["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == card["sha256"]
        assert len(blob) == card["bytes"] <= 16 * 2**20
        config, _ = deep_ar.weights_from_bytes(blob)
        recipe = card["recipe"]
        assert recipe["model_version"] == config["model_version"] == deep_ar.MODEL_VERSION
        settings = deep_ar.DeepAr.profiles[recipe["profile"]]
        assert recipe["settings"] == json.loads(json.dumps(deep_ar.asdict(settings)))
        assert config["channels"] == settings.channels and config["dilations"] == list(settings.dilations)
