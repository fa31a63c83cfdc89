"""MNIST compression benchmark harness: data, codec registry, runner, results and reports."""

from bench.errors import BenchError, CorruptStreamError
from bench.interface import Codec, DatasetCodec, ImageCodec
from bench.registry import create_codec, list_codecs, register_codec

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
