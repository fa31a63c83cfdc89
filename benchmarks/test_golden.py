"""Bytes, bits/pixel, MSE and accuracy of every configuration against benchmarks/golden.json."""

from __future__ import annotations

import json

import pytest

from bench.api.registry import config_label, parse_spec

from .golden import GOLDEN_PATH, compare, is_exact, measure

GOLDEN = json.loads(GOLDEN_PATH.read_text()) if GOLDEN_PATH.exists() else {}
CONFIGS = parse_spec("*")
IDS = [config_label(name, params) for name, params in CONFIGS]


def test_every_configuration_has_a_golden_entry():
    missing = sorted(set(IDS) - set(GOLDEN))
    assert not missing, f"no golden values for {missing}: run python -m benchmarks.golden --update --codecs ..."


@pytest.mark.parametrize("name, params", CONFIGS, ids=IDS)
def test_matches_golden(name, params, fitted_codec, bench_slice, bench_context):
    label = config_label(name, params)
    if label not in GOLDEN:
        pytest.skip("no golden entry (reported by test_every_configuration_has_a_golden_entry)")
    test, train = bench_slice
    measured = measure(fitted_codec(name, params), test, train, bench_context)
    problems = compare(label, GOLDEN[label], measured, is_exact(name))
    assert not problems, "\n".join(problems)
