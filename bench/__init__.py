"""MNIST compression benchmark harness: data, codec registry, runner, results and reports."""

from bench.api.codec import Codec, DatasetCodec, ImageCodec
from bench.api.registry import create_codec, list_codecs, register_codec
from bench.errors import BenchError, CorruptStreamError

__all__ = [
    "BenchError",
    "Codec",
    "CorruptStreamError",
    "DatasetCodec",
    "ImageCodec",
    "create_codec",
    "list_codecs",
    "register_codec",
]
