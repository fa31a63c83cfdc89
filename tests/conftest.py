import numpy as np
import pytest

from bench.data import load_split
from bench.registry import _REGISTRY


@pytest.fixture(scope="session")
def test_images() -> np.ndarray:
    """The first 64 real MNIST test digits."""
    return load_split("test", limit=64).images


@pytest.fixture
def temporary_codecs():
    """Codecs a test registers are removed again afterwards, so other tests see the real registry."""
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]
