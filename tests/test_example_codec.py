"""The README's worked example, docs/examples/levels.py, is a codec that works: registered from its
file, it runs as cells through `bench run` and gives pinned figures, so the guide cannot rot."""

import importlib.util
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.run.results import load_table

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "levels.py"


def test_the_worked_example_registers_runs_and_gives_its_figures(tmp_path, temporary_codecs, monkeypatch):
    spec = importlib.util.spec_from_file_location("levels_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # a codec's version is its module's source
    spec.loader.exec_module(module)  # @register_codec("levels", ...)
    out = tmp_path / "out"
    assert main(["run", "--codecs", "levels", "--split", "test", "--limit", "200", "--profile", "smoke",
                 "--jobs", "1", "--no-report", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    rows = load_table(out).set_index("config")
    assert list(rows.index) == ["levels:levels=2", "levels", "levels:levels=16"]
    assert (rows["status"] == "ok").all() and (rows["kind"] == "lossy").all()
    # Deterministic (Lloyd on the histogram of 1,000 train images, zlib): pinned like a golden entry.
    assert rows["payload_bytes"].tolist() == PINNED_BYTES
    assert rows["psnr"].tolist() == pytest.approx(PINNED_PSNR, abs=1e-6)
    assert rows.loc["levels", "model_bytes"] == 4  # the four gray levels a decoder holds


PINNED_BYTES = [6210, 11208, 19317]
PINNED_PSNR = [21.9979575460073, 30.04234450066854, 43.62615227650658]
