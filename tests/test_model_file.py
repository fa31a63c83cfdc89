"""The one model-file format (bench.learn.model_file): what goes in comes back, and what is not a model
file is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.coding.container import pack_chunks, unpack_chunks
from bench.errors import BenchError
from bench.learn.model_file import MAGIC, load_tensors, pack_model, tensors_of, unpack_model

RNG = np.random.default_rng(0)


def test_tensors_stored_as_they_are_come_back_exactly_with_their_dtype():
    tensors = {"w": RNG.normal(size=(3, 4)).astype(np.float32), "d": RNG.normal(size=5),
               "steps": np.array(7, np.int64), "table": np.arange(9, dtype=np.uint16).reshape(3, 3),
               "empty": np.zeros((0, 4), np.float32)}
    model = unpack_model(pack_model({"note": "x", "n": [1, 2]}, tensors, raw={"blob": b"\x00\x01"}))
    assert model.meta == {"note": "x", "n": [1, 2]}
    assert list(model.tensors) == list(tensors)
    for name, tensor in tensors.items():
        assert model.tensors[name].dtype == tensor.dtype and np.array_equal(model.tensors[name], tensor), name
    assert model.raw == {"blob": b"\x00\x01"}
    assert model.stored["w"] == 48 and model.stored["d"] == 40 and model.stored["blob"] == 2
    assert model.stored_bytes("w", "d") == 88 and model.stored_bytes() == sum(model.stored.values())


def test_float16_storage_rounds_floats_and_keeps_integer_tensors():
    weights = RNG.normal(size=(6, 3)).astype(np.float32)
    model = unpack_model(pack_model({}, {"w": weights, "count": np.array([3], np.int64)}, storage="float16"))
    assert model.tensors["w"].dtype == np.float32
    assert np.array_equal(model.tensors["w"], weights.astype(np.float16).astype(np.float32))
    assert model.stored["w"] == 36
    assert model.tensors["count"].dtype == np.int64 and model.tensors["count"][0] == 3


def test_int8_storage_keeps_each_row_within_half_a_step():
    weights = RNG.normal(size=(5, 2, 3)).astype(np.float32)
    weights[2] = 0  # an all-zero row keeps scale 1 and decodes to zeros
    bias = RNG.normal(size=4).astype(np.float32)
    model = unpack_model(pack_model({}, {"w": weights, "b": bias}, storage="int8"))
    assert model.stored["w"] == 5 * 4 + 30 and model.stored["b"] == 4 * 4 + 4
    rows = weights.reshape(5, -1)
    step = np.abs(rows).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(model.tensors["w"].reshape(5, -1) - rows) <= step / 2 + 1e-7)
    assert np.all(model.tensors["w"][2] == 0)
    assert np.allclose(model.tensors["b"], bias, atol=1e-6)  # a 1-D tensor: one scale per value


def test_a_torch_module_round_trips_and_a_mismatched_one_is_refused():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model = unpack_model(pack_model({}, tensors_of(net, "net.")))
    fresh = load_tensors(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)), model, "net.")
    for (name, a), (_, b) in zip(net.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    with pytest.raises(BenchError, match="do not fit the network") as refused:
        load_tensors(torch.nn.Linear(3, 5), model, "net.0.")
    assert "\n" not in str(refused.value)


def _forged(header: dict, parts: list[bytes]) -> bytes:
    return pack_chunks(MAGIC, [json.dumps(header).encode(), *parts])


def test_what_is_not_a_model_file_is_refused_in_one_line():
    good = pack_model({"a": 1}, {"w": np.ones((2, 2), np.float32)})
    _, chunks = unpack_chunks(good, len(MAGIC))
    bad = {
        "empty": b"",
        "another magic": b"TW01" + good[4:],
        "truncated": good[:-1],
        "trailing bytes": good + b"\x00",
        "no header": pack_chunks(MAGIC, []),
        "header not JSON": pack_chunks(MAGIC, [b"{", *chunks[1:]]),
        "a part more than listed": pack_chunks(MAGIC, [*chunks, b"x"]),
        "wrong size": _forged({"meta": {}, "parts": [["w", "<f4", [2, 3]]]}, chunks[1:]),
        "unknown storage": _forged({"meta": {}, "parts": [["w", "<U4", [1]]]}, [b"abcd"]),
        "negative shape": _forged({"meta": {}, "parts": [["w", "<f4", [-1, -4]]]}, chunks[1:]),
        "raw size": _forged({"meta": {}, "parts": [["r", "raw", [3]]]}, [b"ab"]),
        "meta not a dict": _forged({"meta": [1], "parts": [["w", "<f4", [2, 2]]]}, chunks[1:]),
    }
    for what, blob in bad.items():
        with pytest.raises(BenchError, match="test model is not a model file in the bench's format") as refused:
            unpack_model(blob, "test model")
        assert "\n" not in str(refused.value), what


def test_an_unknown_storage_is_refused_when_packing():
    with pytest.raises(ValueError, match="model storage must be one of"):
        pack_model({}, {"w": np.ones(2, np.float32)}, storage="int4")


def test_every_learned_lossy_codec_has_its_name_for_its_refusals():
    from bench.api.registry import get_entry, list_codecs
    from bench.learn.latent_codec import TrainedLossyCodec

    lossy = {name: get_entry(name).cls for name in list_codecs() if issubclass(get_entry(name).cls, TrainedLossyCodec)}
    assert {"conv-ae", "pca-cnn", "bican", "hyperprior"} <= set(lossy)
    assert {name: cls.codec_name for name, cls in lossy.items()} == {name: name for name in lossy}
