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


def test_a_renamed_codec_answers_with_its_new_name():
    message = r"^codec 'pixelcnn' was renamed 'local-ar': ask for 'local-ar'$"
    with pytest.raises(CodecError, match=message):
        create_codec("pixelcnn")
    with pytest.raises(CodecError, match=message):
        parse_spec("gzip,pixelcnn:head=softmax")
    with pytest.raises(CodecError, match=r"^no codec matches 'pixel\*'; codec 'pixelcnn' was renamed 'local-ar'; "):
        parse_spec("pixel*")
    assert [name for name, _ in parse_spec("local-ar")] == ["local-ar"]


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
    # lossless: methods 6, 5; lossy: qualities 0..90; each one file per image, then as one stream
    assert [n for n, _ in parse_spec("webp*")] == ["webp"] * 4 + ["webp-lossy"] * 16
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


@pytest.fixture
def broken_module(monkeypatch):
    """A codec module that failed to import, as the registry records one (names like a real one's)."""
    from bench.api import registry

    registry._load_plugins()
    monkeypatch.setitem(registry._BROKEN, "bench_codecs.fake_broken",
                        registry.BrokenModule("bench_codecs.fake_broken", "ImportError: needs libfake"))
    return "bench_codecs.fake_broken"


def test_broken_module_is_kept_with_its_error(broken_module):
    from bench.api.registry import broken_modules

    assert broken_modules()[broken_module] == "ImportError: needs libfake"


@pytest.mark.parametrize("requested", ["fake-broken", "fake_broken", "bench_codecs.fake_broken", "Fake-Broken"])
def test_name_of_a_broken_module_is_a_placeholder(broken_module, requested):
    from bench.api.registry import BrokenConfig

    configs = parse_spec(f"gzip:framing=whole,{requested}", broken=True)
    assert configs[0] == ("gzip", {"framing": "whole"})
    assert configs[1] == BrokenConfig(requested, {}, broken_module, "ImportError: needs libfake")
    assert configs[1].message == f"module {broken_module} failed to import: ImportError: needs libfake"
    # Without `broken`, the same request is a one-line error naming the module and its error.
    with pytest.raises(CodecError, match=rf"codec '{requested}' is unavailable: module {broken_module} "
                                         "failed to import: ImportError: needs libfake"):
        parse_spec(requested)


def test_every_codec_includes_one_placeholder_per_broken_module(broken_module):
    from bench.api.registry import BrokenConfig

    configs = parse_spec("*", broken=True)
    placeholders = [c for c in configs if isinstance(c, BrokenConfig)]
    assert [(p.name, p.module) for p in placeholders] == [(broken_module, broken_module)]
    assert len(configs) == len(parse_spec("*")) + 1  # without `broken`, `*` is only what is registered
    assert parse_spec("fake*,fake-broken:level=3", broken=True) == placeholders  # once per module
    assert parse_spec("fake-broken:level=3", broken=True)[0].label == "fake-broken:level=3"


def test_unknown_names_mention_broken_modules(broken_module):
    with pytest.raises(CodecError, match=r"unknown codec 'zip'; valid names: .*; modules that failed to import: "
                                         r"bench_codecs.fake_broken \(ImportError: needs libfake\)"):
        parse_spec("zip", broken=True)
    with pytest.raises(CodecError, match=r"no codec matches 'fake\*'.*fake_broken"):
        parse_spec("fake*")


def test_module_that_fails_half_way_registers_nothing(tmp_path, monkeypatch, temporary_codecs):
    from bench.api import registry

    (tmp_path / "half_way_plugin.py").write_text(
        "from bench import ImageCodec, register_codec\n"
        "@register_codec('half-way')\n"
        "class HalfWay(ImageCodec):\n"
        "    pass\n"
        "raise RuntimeError('then it broke\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_BROKEN", {})
    registry._import_plugin("half_way_plugin")
    assert "half-way" not in list_codecs()
    assert registry.broken_modules() == {"half_way_plugin": "RuntimeError: then it broke"}
