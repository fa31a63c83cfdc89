"""bench.api.identity: code versions by content and module name, identities by value."""

from bench.api.identity import CodecIdentity, module_files, source_digest
from bench.api.registry import get_entry


def test_source_digest_ignores_comments_and_layout_not_code(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b" / "a.py", tmp_path / "c" / "a.py"
    b.parent.mkdir(), c.parent.mkdir()
    a.write_text("def f(x):\n    return x + 1\n")
    b.write_text("# a comment\ndef f(x):  # another\n\n    return (x + 1)\n")
    c.write_text("def f(x):\n    return x + 2\n")
    assert source_digest([a]) == source_digest([b])  # same file name, another folder, same code
    assert source_digest([a]) != source_digest([c])


def test_a_codec_package_is_versioned_by_all_its_modules():
    files = {p.name for p in module_files(get_entry("weightless").cls)}
    assert {"__init__.py", "mirror.py", "models.py", "stream.py"} <= files
    assert [p.name for p in module_files(get_entry("gzip").cls)] == ["bytestream.py"]


def test_identities_compare_and_key_by_value():
    one = CodecIdentity("conv-ae", {"latent_dims": 78, "step": 1.0}, "v1")
    assert one == CodecIdentity("conv-ae", {"step": 1.0, "latent_dims": 78}, "v1")
    assert one.key(data="d") == CodecIdentity("conv-ae", {"step": 1.0, "latent_dims": 78}, "v1").key(data="d")
    assert one.with_params({"latent_dims": 78}).key(data="d") != one.key(data="d")
    assert one.key(data="d") != one.key(data="e")
