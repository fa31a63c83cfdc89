"""Bytes, bits/pixel, MSE and accuracy of every configuration against benchmarks/gates/golden.json."""

from __future__ import annotations

import json
import warnings

import pytest

from bench.api.registry import broken_modules, config_label, get_entry, parse_spec

from .golden import GOLDEN_PATH, bands, compare, golden_values, is_exact

GOLDEN = json.loads(GOLDEN_PATH.read_text()) if GOLDEN_PATH.exists() else {}
CONFIGS = parse_spec("*")
IDS = [config_label(name, params) for name, params in CONFIGS]


def test_every_configuration_has_a_golden_entry():
    # A codec this machine cannot run (an external program it lacks) cannot be measured here.
    unavailable = {config_label(n, p) for n, p in CONFIGS if get_entry(n).cls.unavailable_reason()}
    missing = sorted(set(IDS) - set(GOLDEN) - unavailable)
    assert not missing, f"no golden values for {missing}: run python -m benchmarks.gates.golden --update --codecs ..."


def test_every_golden_entry_is_still_registered():
    # A codec module that fails to import takes its configurations out of CONFIGS, so without this
    # its pins would simply stop being checked.
    stale = sorted(set(GOLDEN) - set(IDS))
    broken = "".join(f"; {module} failed to import: {error}" for module, error in broken_modules().items())
    assert not stale, (f"golden entries of configurations no longer registered: {stale}{broken} "
                       "(remove a retired one from benchmarks/gates/golden.json)")


def test_no_codec_module_is_broken():
    assert not broken_modules(), f"codec modules that failed to import: {broken_modules()}"


@pytest.mark.parametrize("name, params", CONFIGS, ids=IDS)
def test_matches_golden(name, params, fitted_codec, bench_slice):
    label = config_label(name, params)
    if label not in GOLDEN:
        pytest.skip("no golden entry (reported by test_every_configuration_has_a_golden_entry)")
    test, train = bench_slice
    measured = golden_values(fitted_codec(name, params), test, train)
    notes: list[str] = []
    problems = compare(label, GOLDEN[label], measured, is_exact(name), bands(name), notes)
    for note in notes:
        warnings.warn(note, stacklevel=1)
    assert not problems, "\n".join(problems)
