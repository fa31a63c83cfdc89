"""Codecs from other installed packages (entry-point group `mnist_bench.codecs`), seen by the real CLI.

Each plugin is a module plus a hand-written `.dist-info` with `entry_points.txt` in a folder put on
PYTHONPATH: exactly what `pip install --target` leaves, without a build (seconds, no network).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data import mnist
from bench.run.results import load_table

CHECKOUT = Path(__file__).resolve().parents[1]
MNIST_DIR = mnist._find(mnist.FILES["test"][0], mnist.search_dirs()).parent

TINY_PLUGIN = '''
import numpy as np

from bench import ImageCodec, register_codec


@register_codec("tiny-plugin-raw")
class TinyRaw(ImageCodec):
    """The pixels as they are: a plugin's codec."""

    def compress(self, images):
        return len(images).to_bytes(4, "big") + images.tobytes()

    def decompress(self, data):
        n = int.from_bytes(data[:4], "big")
        return np.frombuffer(data[4:], np.uint8).reshape(n, 28, 28)
'''

BROKEN_PLUGIN = '''
from bench import ImageCodec, register_codec


@register_codec("half-registered")
class HalfRegistered(ImageCodec):
    pass


import tiny_plugin_missing_dependency  # noqa: E402,F401
'''


def install_plugin(folder: Path, dist: str, module: str, source: str, entry_name: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mnist_bench.codecs]\n{entry_name} = {module}\n")
    (info / "RECORD").write_text("")


def bench(*args: str, plugins: Path, cwd: Path) -> subprocess.CompletedProcess:
    # The checkout too, so that the subprocess runs the `bench` under test, not another install's.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), str(CHECKOUT)])}
    env.pop("MNIST_DIR", None)
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def plugins(tmp_path) -> Path:
    folder = tmp_path / "site"
    install_plugin(folder, "tiny-plugin", "tiny_plugin_codec", TINY_PLUGIN, "tiny")
    return folder


def run_args(codecs: str, out: Path) -> list[str]:
    return ["run", "--codecs", codecs, "--split", "test", "--limit", "50", "--out", str(out),
            "--data-dir", str(MNIST_DIR), "--no-report"]


def test_installed_plugin_is_listed_and_runs(plugins, tmp_path):
    listed = bench("list", "tiny*", plugins=plugins, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "tiny-plugin-raw" in listed.stdout and "The pixels as they are: a plugin's codec." in listed.stdout

    ran = bench(*run_args("tiny-plugin-raw", tmp_path / "out"), plugins=plugins, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    row = load_table(tmp_path / "out").iloc[0]
    assert (row["codec"], row["status"], row["n_images"]) == ("tiny-plugin-raw", "ok", 50)
    assert row["lossless_ok"] and row["payload_bytes"] == 4 + 50 * 784


def test_broken_plugin_is_an_error_naming_it(plugins, tmp_path):
    install_plugin(plugins, "broken-plugin", "broken_plugin_codec", BROKEN_PLUGIN, "broken-plugin")
    expected = "ModuleNotFoundError: No module named 'tiny_plugin_missing_dependency'"

    listed = bench("list", plugins=plugins, cwd=tmp_path)
    assert listed.returncode != 0
    assert "broken_plugin_codec" in listed.stdout and expected in listed.stdout
    assert "half-registered" not in listed.stdout  # what it registered before failing is not trusted
    assert "tiny-plugin-raw" in listed.stdout  # one broken plugin hides nothing else
    assert listed.stderr.strip() == ("bench: error: 1 codec module(s) failed to import: broken_plugin_codec")

    # Named by its entry point's name: a failed row with the import error; the run goes on.
    out = tmp_path / "out"
    ran = bench(*run_args("broken-plugin,tiny-plugin-raw", out), plugins=plugins, cwd=tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    table = load_table(out).set_index("codec")
    assert table.loc["broken-plugin", "status"] == "failed"
    assert table.loc["broken-plugin", "error"] == f"module broken_plugin_codec failed to import: {expected}"
    assert table.loc["tiny-plugin-raw", "status"] == "ok"

    # Named by its module's name; and a run of other codecs still says the module is broken.
    ran = bench(*run_args("broken_plugin_codec", out), plugins=plugins, cwd=tmp_path)
    assert ran.returncode == 1 and load_table(out)["codec"].tolist()[-1] == "broken_plugin_codec"
    ran = bench(*run_args("tiny-plugin-raw", tmp_path / "other"), plugins=plugins, cwd=tmp_path)
    assert ran.returncode == 0
    assert f"bench: warning: codec module broken_plugin_codec failed to import: {expected}" in ran.stderr
