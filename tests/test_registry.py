import pytest

from bench import ImageCodec, create_codec, list_codecs, register_codec
from bench.api.registry import config_label, parse_spec
from bench.errors import CodecError

CLASSICAL = {"raw", "gzip", "zstd", "brotli", "lzma", "bz2", "png", "webp", "webp-lossy"}


def test_classical_codecs_are_registered():
    assert CLASSICAL <= set(list_codecs())
    assert list_codecs("webp*") == ["webp", "webp-lossy"]
    assert list_codecs("no-such-*") == []


def test_create_with_parameters():
    codec = create_codec("zstd", level=3)
    assert codec.name == "zstd" and codec.params == {"level": 3, "long": 27, "framing": "whole"}


def test_unknown_codec_lists_valid_names():
    with pytest.raises(CodecError, match=r"unknown codec 'zip'; valid names: .*gzip"):
        create_codec("zip")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(CodecError, match=r"gzip: unknown parameter\(s\) lvl; valid: level=9, framing='whole'"):
        create_codec("gzip", lvl=3)


@pytest.mark.parametrize("name, params, message", [
    ("gzip", {"level": 12}, "gzip level must be an integer in 0..9"),
    ("zstd", {"framing": "tiles"}, "framing must be one of"),
    ("webp-lossy", {"quality": 101}, "quality must be 0..100"),
])
def test_bad_parameter_values(name, params, message):
    with pytest.raises(CodecError, match=message):
        create_codec(name, **params)


def test_spec_expands_globs_configs_and_overrides():
    assert parse_spec("gzip") == [("gzip", {"framing": "whole"}), ("gzip", {"framing": "per-image"})]
    assert parse_spec("gzip:level=1:framing=whole") == [("gzip", {"level": 1, "framing": "whole"})]
    assert [n for n, _ in parse_spec("webp*")] == ["webp"] + ["webp-lossy"] * 8  # lossy: qualities 0..90
    with pytest.raises(CodecError, match="bad parameter"):
        parse_spec("gzip:level")
    with pytest.raises(CodecError, match="no codec matches"):
        parse_spec("nothing*")


def test_config_label_names_only_changed_parameters():
    assert config_label("gzip", {"level": 9, "framing": "whole"}) == "gzip"
    assert config_label("gzip", {"level": 1, "framing": "per-image"}) == "gzip:framing=per-image,level=1"


def test_registration_rules(temporary_codecs):
    with pytest.raises(TypeError, match="needs a default"):
        @register_codec("needs-default")
        class NoDefault(ImageCodec):
            def __init__(self, level):
                pass

    @register_codec("temp-codec", configs=[{"k": 1}, {"k": 2}])
    class Temp(ImageCodec):
        """A temporary codec."""

        def __init__(self, k: int = 0):
            self.k = k

    assert "temp-codec" in list_codecs() and create_codec("temp-codec").params == {"k": 0}
