"""External reference coders (baselines/external.py) against stand-in executables that keep paq8px's and
cmix's command-line contracts; without a binary the codec is unavailable, listed so, and skipped."""

import os
import sys
import textwrap
import zlib

import numpy as np
import pytest
from bench_baselines.external import MAGIC, from_pgm, to_pgm

from bench import create_codec
from bench.cli import main
from bench.coding.container import seal, unseal
from bench.errors import BenchError, CodecError, CodecUnavailable, CorruptStreamError
from bench.run.results import load_table

# paq8px: `-LEVEL INPUT [OUTPUT]` writes OUTPUT (default INPUT.paq8px<VERSION>), `-d ARCHIVE [OUTPUT]`
# (without OUTPUT the archive must end in .paq8px<VERSION>); errors print a line and exit 0 (quit()).
PAQ8PX = '''
import lzma, os, sys
VERSION = "{version}"
print(f"paq8px archiver v{{VERSION}} (c) 2026, stand-in")
args = sys.argv[1:]
if not args:
    print("Usage: ...")
    sys.exit(0)
if {fail}:
    print("Creating archive...")
    print("model exploded at byte 42", file=sys.stderr)
    sys.exit(1)
command, files = args[0], args[1:]
if command == "-d":
    archive = files[0]
    data = open(archive, "rb").read()
    if data[:6] != b"paq8px":
        print(f"{{archive}}: not a valid paq8px file.")
        sys.exit(0)
    output = files[1] if len(files) > 1 else archive[: -len(".paq8px" + VERSION)]
    open(output, "wb").write(lzma.decompress(data[8:]))
else:
    level = int(command[1:])
    output = files[1] if len(files) > 1 else files[0] + ".paq8px" + VERSION
    open(output, "wb").write(b"paq8px" + bytes([level, 0]) + lzma.compress(open(files[0], "rb").read()))
'''

# cmix: `-c INPUT OUTPUT`, `-d INPUT OUTPUT`; no arguments: its help and exit status 255.
CMIX = '''
import lzma, sys
args = sys.argv[1:]
if len(args) != 3:
    print("cmix version 21")
    print("    compress:   cmix -c [input] [output]")
    sys.exit(255)
mode, source, target = args
data = open(source, "rb").read()
open(target, "wb").write(lzma.compress(data) if mode == "-c" else lzma.decompress(data))
'''


def standin(folder, name, body, **fields):
    path = folder / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body.format(**fields) if fields else body))
    path.chmod(0o755)
    return path


@pytest.fixture
def paq8px(tmp_path, monkeypatch):
    path = standin(tmp_path, "paq8px", PAQ8PX, version="999", fail=False)
    monkeypatch.setenv("PAQ8PX", str(path))
    return path


@pytest.fixture
def cmix(tmp_path, monkeypatch):
    path = standin(tmp_path, "cmix", CMIX)
    monkeypatch.setenv("CMIX", str(path))
    return path


@pytest.fixture
def no_binaries(monkeypatch):
    """Neither variable set, and PATH without a folder that holds either program (git stays on it)."""
    monkeypatch.delenv("PAQ8PX", raising=False)
    monkeypatch.delenv("CMIX", raising=False)
    folders = os.environ.get("PATH", "").split(os.pathsep)
    kept = [f for f in folders if not any(os.access(os.path.join(f, p), os.X_OK) for p in ("paq8px", "cmix"))]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))


def test_pgm_is_a_column_of_the_digits(test_images):
    pgm = to_pgm(test_images[:3])
    assert pgm.startswith(b"P5\n28 84\n255\n") and len(pgm) == len(b"P5\n28 84\n255\n") + 3 * 784
    assert np.array_equal(from_pgm(pgm, 3, "t"), test_images[:3])
    with pytest.raises(CorruptStreamError, match="28x84"):
        from_pgm(pgm, 4, "t")


def test_paq8px_round_trip_through_the_binary(paq8px, test_images):
    codec = create_codec("paq8px", level=5)
    stream = codec.compress(test_images[:7])
    header, archive, _ = unseal(stream, MAGIC)
    assert header == {"coder": "paq8px", "version": "999", "level": 5, "n": 7, "crc32": zlib.crc32(archive)}
    assert archive.startswith(b"paq8px\x05")  # the stand-in's archive, as the binary wrote it
    assert np.array_equal(codec.decompress(stream), test_images[:7])
    assert create_codec("paq8px").decompress(stream).shape == (7, 28, 28)  # the level is in the archive


def test_cmix_round_trip_through_the_binary(cmix, test_images):
    codec = create_codec("cmix")
    stream = codec.compress(test_images[:5])
    header, archive, _ = unseal(stream, MAGIC)
    assert header == {"coder": "cmix", "version": "21", "n": 5, "crc32": zlib.crc32(archive)}
    assert np.array_equal(codec.decompress(stream), test_images[:5])


def test_a_stream_of_another_coder_or_version_is_refused(paq8px, cmix, tmp_path, monkeypatch, test_images):
    stream = create_codec("paq8px").compress(test_images[:3])
    with pytest.raises(CorruptStreamError, match="written by 'paq8px', not cmix"):
        create_codec("cmix").decompress(stream)
    monkeypatch.setenv("PAQ8PX", str(standin(tmp_path, "paq8px-998", PAQ8PX, version="998", fail=False)))
    with pytest.raises(CorruptStreamError, match="written by paq8px v999, this binary is v998"):
        create_codec("paq8px").decompress(stream)


def test_the_stream_refuses_truncation_and_damage(paq8px, test_images):
    codec = create_codec("paq8px")
    stream = codec.compress(test_images[:4])
    flipped = bytearray(stream)
    flipped[-5] ^= 0x01
    for damaged in (stream[:-1], stream[: len(stream) // 2], stream + b"\0", b""):
        with pytest.raises(CorruptStreamError):
            codec.decompress(damaged)
    with pytest.raises(CorruptStreamError, match="archive checksum mismatch"):  # before the binary runs
        codec.decompress(bytes(flipped))
    # An archive whose CRC was made to match reaches the binary: its failure, or other pixels, is refused.
    header, archive, digest = unseal(stream, MAGIC)
    damaged = archive[:-5] + bytes([archive[-5] ^ 1]) + archive[-4:]
    forged = seal(MAGIC, {**header, "crc32": zlib.crc32(damaged)}, damaged, digest)
    with pytest.raises(CorruptStreamError) as caught:
        codec.decompress(forged)
    assert "\n" not in str(caught.value)


def test_a_failing_binary_is_one_line_with_its_last_words(tmp_path, monkeypatch, paq8px, test_images):
    stream = create_codec("paq8px").compress(test_images[:2])
    monkeypatch.setenv("PAQ8PX", str(standin(tmp_path, "paq8px-broken", PAQ8PX, version="999", fail=True)))
    with pytest.raises(BenchError) as caught:
        create_codec("paq8px").compress(test_images[:2])
    message = str(caught.value)
    assert "\n" not in message and "exit status 1" in message and message.endswith("model exploded at byte 42")
    with pytest.raises(CorruptStreamError, match="exit status 1.*model exploded at byte 42"):
        create_codec("paq8px").decompress(stream)


def test_a_binary_that_writes_nothing_is_an_error_whatever_its_exit_status(tmp_path, monkeypatch, test_images):
    monkeypatch.setenv("PAQ8PX", str(standin(tmp_path, "paq8px", "import sys\nprint('Invalid command: -8')\n")))
    with pytest.raises(BenchError, match="wrote no images.paq8px: Invalid command: -8"):
        create_codec("paq8px").compress(test_images[:2])


def test_bad_level_is_refused():
    with pytest.raises(CodecError, match=r"paq8px level must be an integer in 1..12"):
        create_codec("paq8px", level=0)
    with pytest.raises(CodecError, match=r"paq8px level must be an integer in 1..12"):
        create_codec("paq8px", level=13)


def test_without_a_binary_the_codec_is_unavailable(no_binaries, tmp_path, monkeypatch, capsys, test_images):
    codec = create_codec("paq8px")  # creating it is fine: only running it needs the binary
    assert type(codec).unavailable_reason() == "no paq8px on PATH and $PAQ8PX unset"
    with pytest.raises(CodecUnavailable, match="no paq8px on PATH"):
        codec.compress(test_images[:2])
    assert main(["list", "paq8px"]) == 0
    assert "(unavailable: no paq8px on PATH and $PAQ8PX unset)" in capsys.readouterr().out
    monkeypatch.setenv("CMIX", str(tmp_path / "nowhere" / "cmix"))  # named: the only place looked at
    assert main(["list", "cmix"]) == 0
    assert f"(unavailable: $CMIX={tmp_path / 'nowhere' / 'cmix'} is not an executable file)" in capsys.readouterr().out


def test_an_unavailable_codec_leaves_a_skipped_row_and_resume_runs_it(no_binaries, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    args = ["run", "--split", "test", "--limit", "6", "--codecs", "paq8px,gzip:framing=whole", "--jobs", "1",
            "--out", str(out), "--no-report"]
    assert main(args) == 0  # skipped is not failed
    printed = capsys.readouterr().out
    assert "SKIPPED no paq8px on PATH and $PAQ8PX unset" in printed
    assert "2 row(s), 0 failed, 1 skipped" in printed
    table = load_table(out).set_index("codec")
    assert table.loc["paq8px", "status"] == "skipped"
    assert table.loc["paq8px", "error"] == "no paq8px on PATH and $PAQ8PX unset"
    assert table.loc["gzip", "status"] == "ok"
    # The binary installed since: --resume runs the skipped cell (and not the finished one).
    monkeypatch.setenv("PAQ8PX", str(standin(tmp_path, "paq8px", PAQ8PX, version="999", fail=False)))
    assert main([*args, "--resume"]) == 0
    assert "resumed: 1 finished cell(s) skipped" in capsys.readouterr().out
    rows = load_table(out)
    assert rows["status"].tolist() == ["skipped", "ok", "ok"]
    done = rows[(rows["codec"] == "paq8px") & (rows["status"] == "ok")].iloc[0]
    assert done["lossless_ok"] and done["n_images"] == 6 and done["payload_bytes"] > 0


def test_the_variable_wins_over_path(tmp_path, monkeypatch, test_images):
    on_path = tmp_path / "bin"
    on_path.mkdir()
    standin(on_path, "paq8px", PAQ8PX, version="999", fail=False)
    monkeypatch.setenv("PATH", f"{on_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("PAQ8PX", raising=False)
    assert create_codec("paq8px").unavailable_reason() is None  # found on PATH
    monkeypatch.setenv("PAQ8PX", str(tmp_path / "missing"))
    assert "is not an executable file" in create_codec("paq8px").unavailable_reason()
