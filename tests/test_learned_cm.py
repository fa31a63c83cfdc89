"""learned-cm, local-ar's network mixed into the context mixer: the compiled network computes local-ar's,
real round trips image by image with the weights counted, adaptation and the ablation, decoding in a
fresh process from the stream and the model file, shipped weights and --retrain, refusals in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from bench_codecs import learned_cm, local_ar
from bench_codecs.weightless import context_mixing

from bench import create_codec
from bench.api.codec import RunContext
from bench.coding.container import pack_chunks, seal, unpack_chunks, unseal
from bench.data.mnist import PIXELS, load_split
from bench.errors import BenchError, CodecError, CorruptStreamError
from bench.learn.model_file import MAGIC, pack_model, unpack_model
from bench.learn.shipped import write_shipped


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_split("test", limit=40).images


@pytest.fixture(scope="module")
def train():
    return load_split("train", limit=500)


@pytest.fixture(scope="module")
def fitted(train, tmp_path_factory):
    codec = create_codec("learned-cm", RunContext(profile="smoke", cache_dir=tmp_path_factory.mktemp("cache")))
    codec.fit(train)
    blob = next((codec.ctx.cache_dir / "learned-cm").glob("model-*.bin")).read_bytes()
    return codec, blob


@pytest.fixture(scope="module")
def encoded(fitted, digits) -> bytes:
    return fitted[0].compress(digits)


def test_the_compiled_network_computes_local_ars(fitted, digits):
    _, blob = fitted
    config, tensors = learned_cm.network_weights(blob)
    window = local_ar.CausalWindow(*config["window"])
    net = local_ar.build_network(window.size, config["hidden"], config["layers"], "softmax")
    net.load_state_dict({name: torch.from_numpy(tensor) for name, tensor in tensors.items()})
    image = digits[3]
    prior = learned_cm.prior_from_blob(blob, rate=0.0)
    compiled = np.frombuffer(context_mixing._compiled().predict(image.tobytes(), prior.spec()), np.float32)
    compiled = compiled.reshape(PIXELS, 256)
    frame = window.pad(torch.from_numpy(image[None].copy()))
    positions = np.arange(PIXELS)
    windows = window.gather(frame, torch.zeros(PIXELS, dtype=torch.long), positions)
    with torch.no_grad():
        expected = local_ar.probabilities(net(windows, torch.as_tensor(positions)), "softmax").numpy()
    asked = ~np.isnan(compiled[:, 0])
    assert np.array_equal(asked, windows.numpy().any(axis=1))  # the network is asked where the window is not blank
    assert asked.sum() > 100
    np.testing.assert_allclose(compiled[asked], expected[asked], atol=2e-5)


def test_round_trip_with_the_weights_counted_and_real_bytes_beside_the_ideal(fitted, digits, encoded):
    codec, blob = fitted
    decoded = codec.decompress(encoded)
    for i, (original, image) in enumerate(zip(digits, decoded, strict=True)):
        assert np.array_equal(original, image), f"image {i} differs"
    assert codec.model_bytes == len(blob) > 0
    columns = codec.extra_columns()
    assert 0 < columns["bpp_gap"] * digits.size / 8 < 150
    assert columns["ideal_bpp"] < 2.0
    assert columns["model_source"] == "trained"


@pytest.mark.parametrize("without", ["adaptation", "exact", "mixing"])
def test_each_ingredient_switched_off_codes_other_bytes_and_decodes_itself(without, fitted, digits, encoded):
    codec, blob = fitted
    ablated = create_codec("learned-cm", codec.ctx, without=without)
    ablated.load_model(blob)
    payload = ablated.compress(digits)
    assert np.array_equal(ablated.decompress(payload), digits)
    assert payload != encoded


def test_the_network_mixed_in_codes_other_bytes_than_weightless_cm(digits, encoded):
    weightless = context_mixing.encode(digits, 0, 16)
    assert len(weightless) != len(encoded)


def test_bad_parameters_are_refused_at_once():
    for bad in ("nothing", "adaptation,adaptation"):
        with pytest.raises(CodecError, match="learned-cm: without must be a comma list of .*adaptation"):
            create_codec("learned-cm", without=bad)
    with pytest.raises(CodecError, match="weightless-cm: without must be a comma list"):
        create_codec("weightless-cm", without="adaptation")  # it has no network to adapt


def test_coding_before_fitting_is_a_one_line_error(digits):
    with pytest.raises(BenchError, match="learned-cm must be fitted"):
        create_codec("learned-cm", RunContext(profile="smoke")).compress(digits)


def test_decodes_in_a_fresh_process_from_the_stream_and_the_model_file(fitted, encoded, digits, tmp_path):
    _, blob = fitted
    (tmp_path / "slice.lcm").write_bytes(encoded)
    (tmp_path / "model.bin").write_bytes(blob)
    rate = learned_cm.LearnedContextMixing.profiles["smoke"].rate
    script = ("import sys, numpy as np; from bench_codecs import learned_cm; "
              "from bench_codecs.weightless import context_mixing as cm; "
              "prior = learned_cm.prior_from_blob(open(sys.argv[2], 'rb').read(), float(sys.argv[3])); "
              "np.save(sys.argv[4], cm.decode(open(sys.argv[1], 'rb').read(), prior)); print('torch' in sys.modules)")
    out = tmp_path / "decoded.npy"
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "slice.lcm"), str(tmp_path / "model.bin"),
                          str(rate), str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(np.load(out), digits)
    assert run.stdout.strip() == "False"  # the decoder reads the weights with NumPy: no torch


def test_a_mismatched_decoder_or_a_forged_stream_fails_in_one_line(fitted, encoded, train, tmp_path):
    codec, blob = fitted
    other_blob = learned_cm.train_model(train.images[:200], codec.profiles["smoke"].network(), 7, "cpu")
    other = create_codec("learned-cm", codec.ctx)
    other.load_model(other_blob)
    no_adaptation = create_codec("learned-cm", codec.ctx, without="adaptation")
    no_adaptation.load_model(blob)
    header, body, digest = unseal(encoded, context_mixing.LEARNED_MAGIC)
    cases = [
        (other, encoded, "coded with a different trained model"),
        (no_adaptation, encoded, "coded with adaptation rate"),
        (codec, encoded[:-5], "learned-cm: "),
        (codec, seal(context_mixing.LEARNED_MAGIC, {**header, "flags": 1}, body, digest), "learned-cm: "),
        (codec, seal(context_mixing.LEARNED_MAGIC, {**header, "n_images": 10**9}, body, digest), "invalid fields"),
        (codec, seal(context_mixing.LEARNED_MAGIC, {**header, "extra": 1}, body, digest), "invalid fields"),
        (codec, seal(context_mixing.LEARNED_MAGIC, header, body[:-8], digest), "learned-cm: "),
    ]
    for decoder, data, message in cases:
        with pytest.raises(CorruptStreamError, match=message) as error:
            decoder.decompress(data)
        assert "\n" not in str(error.value)
    with pytest.raises(CorruptStreamError, match="not a WCM2 stream"):
        create_codec("weightless-cm", RunContext(profile="smoke")).decompress(encoded)


def test_the_model_file_holds_int8_weights_within_half_a_step_of_local_ars(train):
    raw = local_ar.train_network(train.images[:200], learned_cm.LearnedContextMixing.profiles["smoke"].network(),
                                 "softmax", 0, "cpu")
    _, net = local_ar.weights_from_bytes(raw)
    packed = learned_cm.pack_network(raw)
    _, tensors = learned_cm.network_weights(packed)
    assert len(packed) < 0.6 * len(raw)
    for name, original in net.state_dict().items():
        rows = original.numpy().reshape(original.shape[0], -1)
        step = np.abs(rows).max(axis=1, keepdims=True) / 127
        assert np.all(np.abs(tensors[name].reshape(rows.shape) - rows) <= step / 2 + 1e-7), name


def test_a_file_that_is_not_a_model_file_is_refused_in_one_line(fitted):
    _, blob = fitted
    model = unpack_model(blob)
    not_model_files = [b"", MAGIC + b"garbage", local_ar.MAGIC + b"\x00" * 10]
    other_networks = [pack_model({**model.meta, "hidden": model.meta["hidden"] + 1}, model.tensors, "int8"),
                      pack_model({**model.meta, "format": "other"}, model.tensors, "int8"),
                      pack_model(model.meta, model.tensors, "int8", raw={"extra": b"1"})]
    for bad, message in [*((b, "not a model file") for b in not_model_files),
                         *((b, "not a network in its format") for b in other_networks)]:
        with pytest.raises(BenchError, match=message) as error:
            learned_cm.prior_from_blob(bad, 0.0)
        assert "\n" not in str(error.value)
    magic, chunks = unpack_chunks(blob, len(MAGIC))
    cut = pack_chunks(magic, [*chunks[:-1], chunks[-1][:-3]])
    with pytest.raises(BenchError, match="tensor out.bias: .* bytes where its shape needs"):
        learned_cm.prior_from_blob(cut, 0.0)


def test_shipped_weights_are_taken_and_retrain_trains_instead(fitted, train, tmp_path, monkeypatch):
    codec, blob = fitted
    monkeypatch.setattr(learned_cm, "WEIGHTS_DIR", tmp_path)
    write_shipped(tmp_path / "learned-cm-smoke.bin", blob, codec.recipe(train.digest), 1.0, "cpu")
    shipped = create_codec("learned-cm", RunContext(profile="smoke", cache_dir=tmp_path / "empty-cache"))
    shipped.fit(train)
    assert shipped.model_source == "shipped learned-cm-smoke.bin"
    assert shipped.model_bytes == len(blob)
    assert not (tmp_path / "empty-cache").exists()  # nothing trained
    retrained = create_codec("learned-cm", RunContext(profile="smoke", cache_dir=tmp_path / "cache", retrain=True))
    retrained.fit(train)
    assert retrained.model_source == "trained"
    assert (tmp_path / "cache" / "learned-cm").is_dir()


def test_every_shipped_learned_cm_file_matches_its_card_and_its_profile():
    cards = [json.loads(card.read_text()) for card in sorted(learned_cm.WEIGHTS_DIR.glob("*.json"))]
    cards = [card for card in cards if card["recipe"]["codec"] == "learned-cm"]
    for card in cards:
        blob = (learned_cm.WEIGHTS_DIR / card["file"]).read_bytes()
        assert len(blob) == card["bytes"]
        recipe = card["recipe"]
        assert recipe["model_version"] == learned_cm.MODEL_VERSION
        network = learned_cm.LearnedContextMixing.profiles[recipe["profile"]].network()
        assert recipe["settings"] == json.loads(json.dumps(learned_cm.asdict(network)))
        prior = learned_cm.prior_from_blob(blob, 0.0)
        assert (prior.hidden, prior.layers, list(prior.window)) == (
            network.hidden, network.layers, [network.rows_above, network.half_width, network.left])
