"""External reference coders: a user's own paq8px or cmix binary, run on the images as one file.

The way CompressAI wraps BPG and VTM: the bench does not ship these programs (nor build them); a codec
here finds the user's binary, writes the images as one 8-bit binary PGM (P5), 28 pixels wide and
28 * n rows tall (the digits stacked in a column, in order), runs the program in a temporary folder,
and reads its archive back. Decoding runs the program the other way and parses the PGM it writes.

- `paq8px`: `$PAQ8PX` (a path) or `paq8px` on PATH. `paq8px -LEVEL images.pgm images.paq8px` and
  `paq8px -d images.paq8px images.pgm`; the archive and output names are given explicitly, since by
  default paq8px names its archive `INPUT.paq8px<VERSION>` (`.paq8px214`) and `-d` without an output
  name insists on that extension (paq8px.cpp). paq8px reports most errors with exit status 0 (its
  `quit()` is caught in `main`), so a missing output is an error whatever the status says.
- `cmix`: `$CMIX` or `cmix` on PATH. `cmix -c images.pgm images.cmix` and `cmix -d images.cmix
  images.pgm` (cmix's help: "cmix -c [input] [output]", "cmix -d [input] [output]").

A variable that is set is the only place looked at: `$PAQ8PX` pointing nowhere makes the codec
unavailable even with a paq8px on PATH. An unavailable codec says why in `bench list`, and `bench run`
leaves a `skipped` row with the reason (not a failed one); `--resume` runs it again.

The stream is the archive in the sealed container (`bench.coding.container.seal`): the header names
the coder, the version its binary printed (None if it printed none), the level (paq8px), the image
count and the CRC-32 of the archive; the digest is that of the images. A decoder refuses a stream of
another coder, or one written by another version of its program (a paq8px archive decodes only with
the version that wrote it), checks the CRC before the program sees the archive (a damaged one would
otherwise run the program for as long as the archive's damaged length field says) and checks the
decoded images against the digest. Any failure of the program (a nonzero exit status,
no output, a time-out derived from the image count) is one line with the program's last output line:
BenchError when coding, CorruptStreamError when decoding.

Nothing here is registered beyond each coder's default (paq8px at -8): at ~25 images/s, paq8px needs
about 45 minutes a direction for the 70,000 images, so which suite runs it is a choice to make there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench import ImageCodec, register_codec
from bench.coding.container import check_content, content_digest, header_count, seal, unseal
from bench.data.mnist import SIDE
from bench.errors import BenchError, CodecUnavailable, CorruptStreamError

#: Magic of every external coder's stream; the header's "coder" tells them apart.
MAGIC = b"EXT1"
#: The most images a PGM column holds before its byte count passes a C int (the programs read ints).
MAX_IMAGES = (2**31 - 1) // (SIDE * SIDE)
#: How long the version probe (the program run with no arguments: its help) may take.
PROBE_TIMEOUT_S = 20


def to_pgm(images: np.ndarray) -> bytes:
    """The images as one binary 8-bit PGM: 28 pixels wide, the digits stacked in a column."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n, h, w = images.shape
    return b"P5\n%d %d\n255\n" % (w, n * h) + images.tobytes()


_PGM_HEADER = re.compile(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s")


def from_pgm(data: bytes, n: int, what: str) -> np.ndarray:
    """The n images of a PGM written by `to_pgm`; CorruptStreamError for anything else."""
    match = _PGM_HEADER.match(data)
    if not match:
        raise CorruptStreamError(f"{what}: the decoded file is not a binary PGM")
    width, height, maxval = (int(g) for g in match.groups())
    if (width, height, maxval) != (SIDE, SIDE * n, 255):
        raise CorruptStreamError(f"{what}: the decoded PGM is {width}x{height} (max {maxval}), "
                                 f"expected {SIDE}x{SIDE * n} (max 255)")
    pixels = data[match.end():]
    if len(pixels) != n * SIDE * SIDE:
        raise CorruptStreamError(f"{what}: the decoded PGM holds {len(pixels)} pixel bytes, expected {n * SIDE * SIDE}")
    return np.frombuffer(pixels, np.uint8).reshape(n, SIDE, SIDE)


def _last_line(*texts: bytes) -> str:
    """The last non-empty line of the first text that has one (stderr, then stdout): what a program
    said last, progress bars (carriage returns) split off."""
    for text in texts:
        lines = [line.strip() for line in re.split(r"[\r\n]+", text.decode(errors="replace")) if line.strip()]
        if lines:
            return lines[-1][:300]
    return "(no output)"


_VERSIONS: dict[tuple, str | None] = {}


class ExternalCoder(ImageCodec):
    """Base: a lossless coder that runs a user's binary on the images as one PGM file."""

    kind = "lossless"
    #: The program's name on PATH, the environment variable that names it, and the archive suffix.
    program: ClassVar[str] = ""
    env_var: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    #: Finds the version in what the program prints when run with no arguments (its help).
    version_pattern: ClassVar[re.Pattern] = re.compile(r"")
    #: Time-out of one run: this plus this many seconds an image (generous: a slow, busy machine).
    startup_s: ClassVar[float] = 120.0
    seconds_per_image: ClassVar[float] = 1.0

    # ---- finding the binary ---------------------------------------------------------------------
    @classmethod
    def _locate(cls) -> tuple[str | None, str | None]:
        """(path of the binary, None) or (None, why there is none)."""
        named = os.environ.get(cls.env_var)
        if named:  # named explicitly: the only place looked at
            path = Path(named).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path), None
            return None, f"${cls.env_var}={named} is not an executable file"
        found = shutil.which(cls.program)
        if found:
            return found, None
        return None, f"no {cls.program} on PATH and ${cls.env_var} unset"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return cls._locate()[1]

    @classmethod
    def binary(cls) -> str:
        path, reason = cls._locate()
        if path is None:
            raise CodecUnavailable(f"{cls.program}: {reason}")
        return path

    @classmethod
    def version(cls, binary: str) -> str | None:
        """The version the binary prints in its help (None if none), probed once per binary file."""
        stat = os.stat(binary)
        key = (binary, stat.st_mtime_ns, stat.st_size)
        if key not in _VERSIONS:
            try:
                done = subprocess.run([binary], stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S)
                match = cls.version_pattern.search((done.stdout + done.stderr).decode(errors="replace"))
                _VERSIONS[key] = match.group(1) if match else None
            except (OSError, subprocess.SubprocessError):
                _VERSIONS[key] = None
        return _VERSIONS[key]

    # ---- what a subclass says about its program ---------------------------------------------------
    def _header(self) -> dict:
        """Header fields besides coder, version and n (e.g. paq8px's level)."""
        return {}

    def _compress_args(self, source: str, archive: str) -> list[str]:
        raise NotImplementedError

    def _decompress_args(self, archive: str, output: str) -> list[str]:
        raise NotImplementedError

    # ---- running it -----------------------------------------------------------------------------
    def _timeout(self, n: int) -> float:
        return self.startup_s + self.seconds_per_image * n

    def _run(self, binary: str, args: list[str], folder: str, n: int, output: str, error: type) -> bytes:
        """Run the program in `folder`; the bytes of the file `output` it wrote there, or `error`."""
        command = f"{self.program} {' '.join(args)}"
        timeout = self._timeout(n)
        try:
            done = subprocess.run([binary, *args], cwd=folder, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise error(f"{self.name}: `{command}` took longer than {timeout:.0f} s ({n} images); killed") from None
        except OSError as exc:
            raise error(f"{self.name}: cannot run {binary}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            raise error(f"{self.name}: `{command}` failed (exit status {done.returncode}): "
                        f"{_last_line(done.stderr, done.stdout)}")
        path = Path(folder, output)
        if not path.is_file() or path.stat().st_size == 0:
            raise error(f"{self.name}: `{command}` wrote no {output}: {_last_line(done.stderr, done.stdout)}")
        return path.read_bytes()

    def compress(self, images: np.ndarray) -> bytes:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
            raise ValueError(f"{self.name}: expected (n, 28, 28) images, got shape {images.shape}")
        binary = self.binary()
        n = len(images)
        archive = b""
        if n:
            with tempfile.TemporaryDirectory(prefix=f"bench-{self.program}-") as folder:
                Path(folder, "images.pgm").write_bytes(to_pgm(images))
                archive_name = f"images.{self.suffix}"
                args = self._compress_args("images.pgm", archive_name)
                archive = self._run(binary, args, folder, n, archive_name, BenchError)
        header = {"coder": self.program, "version": self.version(binary), **self._header(), "n": n,
                  "crc32": zlib.crc32(archive)}
        return seal(MAGIC, header, archive, content_digest(images))

    def decompress(self, data: bytes) -> np.ndarray:
        header, archive, digest = unseal(data, MAGIC, self.name)
        coder = header.get("coder")
        if coder != self.program:
            raise CorruptStreamError(f"{self.name}: the stream was written by {coder!r}, not {self.program}")
        n = header_count(header, "n", MAX_IMAGES, self.name)
        if header.get("crc32") != zlib.crc32(archive):
            raise CorruptStreamError(f"{self.name}: archive checksum mismatch (corrupt stream)")
        if n == 0:
            if archive:
                raise CorruptStreamError(f"{self.name}: an archive of 0 images is not empty (corrupt stream)")
            images = np.zeros((0, SIDE, SIDE), np.uint8)
            check_content(images, digest)
            return images
        binary = self.binary()
        written, here = header.get("version"), self.version(binary)
        if written is not None and here is not None and written != here:
            raise CorruptStreamError(f"{self.name}: the stream was written by {self.program} v{written}, this "
                                     f"binary is v{here} ({binary}); an archive decodes only with the version "
                                     "that wrote it")
        with tempfile.TemporaryDirectory(prefix=f"bench-{self.program}-") as folder:
            archive_name = f"images.{self.suffix}"
            Path(folder, archive_name).write_bytes(archive)
            args = self._decompress_args(archive_name, "images.pgm")
            pgm = self._run(binary, args, folder, n, "images.pgm", CorruptStreamError)
        images = from_pgm(pgm, n, self.name)
        try:
            check_content(images, digest)
        except CorruptStreamError:
            raise CorruptStreamError(f"{self.name}: the decoded images do not match the stream's checksum") from None
        return images


@register_codec("paq8px")
class Paq8px(ExternalCoder):
    """paq8px (the user's binary: $PAQ8PX, or paq8px on PATH) on the images as one PGM; paq8px -LEVEL.

    Levels 1..12 (paq8px's help: -1 uses about 529 MB, -8 2.4 GB, -12 29 GB, in each direction);
    -0 (no compression) is not offered. paq8px finds the PGM header and codes the pixels with its
    8-bit image model. About 25 images/s: the time-out of a run is 120 s plus 0.2 s an image.
    """

    program = "paq8px"
    env_var = "PAQ8PX"
    suffix = "paq8px"
    # "paq8px archiver v214 (c) 2026, Matt Mahoney et al." (older releases: "paq8px_v201 ...").
    version_pattern = re.compile(r"paq8px\S*\s+(?:archiver\s+|data compressor\s+)?v(\w[\w.-]*)", re.IGNORECASE)
    seconds_per_image = 0.2

    def __init__(self, level: int = 8):
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 12:
            raise ValueError(f"paq8px level must be an integer in 1..12 (paq8px -LEVEL), got {level!r}")
        self.level = level

    def _header(self):
        return {"level": self.level}

    def _compress_args(self, source, archive):
        return [f"-{self.level}", source, archive]

    def _decompress_args(self, archive, output):
        return ["-d", archive, output]


@register_codec("cmix")
class Cmix(ExternalCoder):
    """cmix (the user's binary: $CMIX, or cmix on PATH) on the images as one PGM: cmix -c / -d.

    cmix has no level; it needs far more time and memory than paq8px (tens of GB on large inputs):
    the time-out of a run is 120 s plus 3 s an image.
    """

    program = "cmix"
    env_var = "CMIX"
    suffix = "cmix"
    # "cmix version 21" (its help, printed when run with no arguments).
    version_pattern = re.compile(r"cmix\s+version\s+(\w[\w.-]*)", re.IGNORECASE)
    seconds_per_image = 3.0

    def _compress_args(self, source, archive):
        return ["-c", source, archive]

    def _decompress_args(self, archive, output):
        return ["-d", archive, output]
