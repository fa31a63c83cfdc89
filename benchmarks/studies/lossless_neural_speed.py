"""Side-by-side speed of the lossless neural codecs: today's code (a git commit) against the working tree
(feeds docs/results.md, "Lossless neural coding speed, side by side").

    python benchmarks/studies/lossless_neural_speed.py local-ar --images 2000 --rounds 2

Both versions load the SAME trained model blob (trained once and kept under .cache/lossless_neural_speed/)
and code the same test images; old and new runs alternate (old first in even rounds, new first in odd
ones), so a shared machine's speed swings hit both alike. Printed per version: images/s of encode and
of decode (best round), bits/pixel (len(stream) * 8 / pixels), then the new/old ratios. Every decode
runs in a fresh codec object that has only the stream and the model, and must give back the images
exactly.

Each codec is one part: a function `<name>_part(args) -> Part` that trains or loads its model and
returns a factory of ready codecs for "old" and "new"; `PARTS` lists them. The driver (`compare`)
is shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "lossless_neural_speed"
#: Today's code: the commit the speed-up is measured against.
BASE_COMMIT = "7ea7e39"


@dataclass
class Part:
    """One codec's comparison: `make(version)` -> a codec with the shared model loaded."""

    name: str
    make: Callable[[str], object]
    note: str = ""


# -- shared helpers ------------------------------------------------------------------------------
def load_module_at(commit: str, path: str, module_name: str):
    """Import `path` (a module file, or a package's folder) as it is in `commit` (read with `git show`)
    as a separate module, not registered as a codec (the working tree's copy keeps the name)."""
    folder = Path(tempfile.mkdtemp(prefix="lossless_neural_speed-"))
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, path], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    package = listed != [path]
    for name in listed:
        target = folder / module_name / Path(name).relative_to(path) if package else folder / f"{module_name}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, check=True,
                                         capture_output=True, text=True).stdout)
    return _import_unregistered(folder / module_name / "__init__.py" if package else target, module_name)


def path_at(commit: str, *paths: str) -> str:
    """The first of `paths` that exists in `commit`: a module renamed or made a package since
    (codecs/local_ar/ was codecs/local_ar.py, and before that codecs/pixelcnn.py) is still found at an
    older base."""
    for path in paths:
        found = subprocess.run(["git", "cat-file", "-e", f"{commit}:{path}"], cwd=ROOT, capture_output=True)
        if found.returncode == 0:
            return path
    raise SystemExit(f"none of {', '.join(paths)} exists at {commit}")


def load_module_here(path: str, module_name: str):
    file = ROOT / path
    return _import_unregistered(file / "__init__.py" if file.is_dir() else file, module_name)


def _import_unregistered(file: Path, module_name: str):
    import bench

    package = [str(file.parent)] if file.name == "__init__.py" else None  # its relative imports resolve there
    spec = importlib.util.spec_from_file_location(module_name, file, submodule_search_locations=package)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    register = bench.register_codec
    bench.register_codec = lambda *args, **kwargs: (lambda cls: cls)  # noqa: ARG005
    try:
        spec.loader.exec_module(module)
    finally:
        bench.register_codec = register
    return module


def cached_blob(name: str, train: Callable[[], bytes]) -> bytes:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if path.exists():
        return path.read_bytes()
    start = time.perf_counter()
    blob = train()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    tmp.rename(path)
    print(f"trained {name} in {time.perf_counter() - start:.0f} s", flush=True)
    return blob


def compare(part: Part, images: np.ndarray, rounds: int) -> dict:
    """Interleaved old/new encode and decode rounds; best images/s per version, bpp, exactness."""
    pixels = images.size
    best = {v: {"encode": 0.0, "decode": 0.0} for v in ("old", "new")}
    bpp = {}
    for r in range(rounds):
        for version in (("old", "new") if r % 2 == 0 else ("new", "old")):
            codec = part.make(version)
            start = time.perf_counter()
            stream = codec.compress(images)
            encode_s = time.perf_counter() - start
            fresh = part.make(version)  # the decoder has the stream and the model, nothing else
            start = time.perf_counter()
            decoded = fresh.decompress(stream)
            decode_s = time.perf_counter() - start
            if not np.array_equal(decoded, images):
                raise SystemExit(f"{part.name} {version}: decoded images differ from the input")
            bpp[version] = len(stream) * 8 / pixels
            best[version]["encode"] = max(best[version]["encode"], len(images) / encode_s)
            best[version]["decode"] = max(best[version]["decode"], len(images) / decode_s)
            print(f"  round {r + 1} {version}: encode {len(images) / encode_s:8.1f} img/s  "
                  f"decode {len(images) / decode_s:8.1f} img/s  {bpp[version]:.5f} bpp", flush=True)
    return {"best": best, "bpp": bpp}


def print_summary(name: str, result: dict, images: int) -> None:
    best, bpp = result["best"], result["bpp"]
    print(f"{name}, {images} test images (best of the rounds):")
    for version in ("old", "new"):
        print(f"  {version}: encode {best[version]['encode']:8.1f} img/s  decode {best[version]['decode']:8.1f} img/s"
              f"  {bpp[version]:.5f} bpp")
    print(f"  new/old: encode {best['new']['encode'] / best['old']['encode']:.2f}x  "
          f"decode {best['new']['decode'] / best['old']['decode']:.2f}x  "
          f"bpp {100 * (bpp['new'] / bpp['old'] - 1):+.3f}%  (decoded == images: yes)")


# -- local-ar ------------------------------------------------------------------------------------
def _local_ar_class(module):
    """The codec class of codecs/local_ar/, or of codecs/pixelcnn.py at a base before the rename."""
    return getattr(module, "LocalAr", None) or module.PixelCnn


def local_ar_part(args) -> Part:
    from bench.data.mnist import load_split

    new = load_module_here("codecs/local_ar", "local_ar_speed_new")
    old = load_module_at(args.base, path_at(args.base, "codecs/local_ar", "codecs/local_ar.py", "codecs/pixelcnn.py"),
                         "local_ar_speed_old")
    settings = new.LocalAr.profiles["default"]
    steps = args.steps or settings.steps
    if steps != settings.steps:
        from dataclasses import replace

        settings = replace(settings, steps=steps)

    def train() -> bytes:
        print(f"training local-ar (default architecture, {steps} steps) on the train split ...", flush=True)
        return new.train_network(load_split("train").images, settings, "softmax", 0, "cpu")

    blob = cached_blob(f"local-ar-default-{steps}steps-seed0.bin", train)
    modules = {"old": old, "new": new}

    def make(version: str):
        codec = _local_ar_class(modules[version])()
        codec.load_model(blob)
        return codec

    return Part("local-ar", make, note=f"default profile architecture, {steps} training steps")


# -- weightless ----------------------------------------------------------------------------------
def _weightless_package_at(commit: str, alias: str):
    """codecs/weightless (a package: relative imports) as it was at `commit`, imported as `alias`;
    its codec registers under another name (the registry refuses a second class under one)."""
    folder = Path(tempfile.mkdtemp(prefix="lossless_neural_speed-")) / alias
    folder.mkdir()
    names = subprocess.run(["git", "ls-tree", "--name-only", commit, "codecs/weightless/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for path in (n for n in names if n.endswith(".py")):
        text = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout
        (folder / Path(path).name).write_text(text.replace('register_codec("weightless")',
                                                           f'register_codec("weightless-{commit}")'))
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module(alias)


class _Weightless:
    """The package's encode/decode as a codec object: no model to load, the stream is all a decoder gets."""

    def __init__(self, package, config: dict):
        self.package, self.config = package, config

    def compress(self, images: np.ndarray) -> bytes:
        return self.package.encode(images, dict(self.config))

    def decompress(self, data: bytes) -> np.ndarray:
        return self.package.decode(data)


def weightless_part(args) -> Part:
    import bench_codecs.weightless as new

    modules = {"old": _weightless_package_at(args.base, "weightless_speed_old"), "new": new}
    config = new.config_for("causal", "default")
    return Part("weightless", lambda version: _Weightless(modules[version], config),
                note="default profile (causal MLP, learned in lockstep: no model to load)")


PARTS: dict[str, Callable] = {"local-ar": local_ar_part, "weightless": weightless_part}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("codecs", nargs="*", default=sorted(PARTS), help=f"parts to run: {', '.join(PARTS)}")
    parser.add_argument("--images", type=int, default=2000, help="test images coded per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new rounds, alternating order (default 2)")
    parser.add_argument("--base", default=BASE_COMMIT, help=f"commit of today's code (default {BASE_COMMIT})")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the profile's)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bench.api.registry import RENAMED
    from bench.data.mnist import load_split

    for name in args.codecs:
        if name in RENAMED:
            raise SystemExit(f"part {name!r} was renamed {RENAMED[name]!r}: ask for {RENAMED[name]!r}")
    images = load_split("test", limit=args.images).images
    for name in args.codecs:
        if name not in PARTS:
            raise SystemExit(f"unknown part {name!r}; choose from {', '.join(PARTS)}")
        part = PARTS[name](args)
        print(f"{name}: {part.note}; base {args.base} vs working tree", flush=True)
        print_summary(name, compare(part, images, args.rounds), len(images))


if __name__ == "__main__":
    main()
