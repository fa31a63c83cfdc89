"""Fixtures of the report tests."""

import pytest

from bench.api.registry import _REGISTRY, list_codecs
from bench.report.figures import style as style


@pytest.fixture
def fake_codecs():
    """The real codecs are loaded first; what a test registers besides them goes again afterwards."""
    list_codecs()
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]
