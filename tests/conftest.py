import numpy as np
import pytest

from bench.api.registry import _REGISTRY, list_codecs
from bench.data.mnist import load_split


@pytest.fixture(scope="session")
def test_images() -> np.ndarray:
    """The first 64 real MNIST test digits."""
    return load_split("test", limit=64).images


@pytest.fixture
def temporary_codecs():
    """Codecs a test registers are removed again afterwards, so other tests see the real registry."""
    list_codecs()  # the built-in codecs load first, so they are not counted as the test's
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]
