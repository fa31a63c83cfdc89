"""`pip install .` (not editable) into a fresh virtual environment, then `bench run` and `bench report`
from a folder outside the checkout: what an installed copy lacks (package data, a sub-package, the
checkout around it) shows up here and nowhere else.

The new environment borrows this one's dependencies through a `.pth` file instead of installing
torch again; only the project itself is built and installed, without network or build isolation.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bench.data import mnist
from bench.run.results import load_table

CHECKOUT = Path(__file__).resolve().parents[1]
MNIST_DIR = mnist._find(mnist.FILES["test"][0], mnist.search_dirs()).parent
#: Never part of a build: local state that only slows the copy down (or would leak into the build).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".cache", ".tox", ".benchmarks", ".pytest_cache",
                                    ".ruff_cache", "__pycache__", "*.egg-info", "build", "dist", "runs")

pytestmark = pytest.mark.slow


def check(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `bin` folder of a fresh venv with the project installed from a copy of the checkout (a copy,
    so that the build's `build/` and `.egg-info` never land in the working tree)."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE)
    venv = root / "venv"
    check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = check([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                          *site.getsitepackages()])
    # Plain path lines: the borrowed folder's own .pth files (this checkout's editable install among
    # them) are not run, so `bench` can only come from the new environment's own site-packages.
    (Path(purelib) / "borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    check([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
           "--disable-pip-version-check", "--quiet", str(source)], env=clean_env(), cwd=root)
    return venv / "bin"


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MNIST_DIR", "VIRTUAL_ENV")}
    return env


def test_installed_copy_has_every_module_and_its_data(installed, tmp_path):
    report = check([installed / "python", "-c", """
import importlib, json, pkgutil, bench, bench_codecs, bench_baselines
names = sorted(m.name for p in (bench, bench_codecs, bench_baselines)
               for m in pkgutil.walk_packages(p.__path__, p.__name__ + "."))
from bench.api.registry import broken_modules
from bench.run.environment import git_sha
print(json.dumps({"file": bench.__file__, "modules": names, "broken": broken_modules(), "git": git_sha()}))
"""], cwd=tmp_path, env=clean_env()).stdout
    found = json.loads(report)
    assert not Path(found["file"]).is_relative_to(CHECKOUT), found["file"]
    expected = sorted(
        ".".join((package, *p.relative_to(CHECKOUT / folder).with_suffix("").parts)).removesuffix(".__init__")
        for package, folder in (("bench", "bench"), ("bench_codecs", "codecs"), ("bench_baselines", "baselines"))
        for p in (CHECKOUT / folder).rglob("*.py")
        if p.relative_to(CHECKOUT / folder).parts != ("__init__.py",)
    ) + ["bench_codecs.weightless._context_mixing"]  # the compiled model, built by `pip install` (setup.py)
    expected.sort()
    assert found["modules"] == expected
    assert "bench_codecs.weightless" in found["modules"]
    assert found["broken"] == {}
    assert found["git"] == "installed mnist-compression-bench 0.1.0"  # the site-packages folder is no checkout
    site_packages = Path(found["file"]).parents[1]
    assert (site_packages / "bench" / "data" / "mnist.sha256").is_file()
    assert (site_packages / "bench" / "report" / "template.html.j2").is_file()
    assert (site_packages / "bench" / "report" / "captions.html.j2").is_file()
    shipped = sorted(p.name for p in (CHECKOUT / "codecs" / "weights").iterdir())
    assert sorted(p.name for p in (site_packages / "bench_codecs" / "weights").iterdir()) == shipped


def test_installed_bench_runs_and_reports_outside_the_checkout(installed, tmp_path):
    out = tmp_path / "out"
    check([installed / "bench", "list"], cwd=tmp_path, env=clean_env())
    # One PCA configuration (its sweep is nine) and the smoke classifier: each lossy row trains a
    # classifier, which at the default budget takes minutes on a shared CPU, and proves nothing more here.
    check([installed / "bench", "run", "--codecs", "gzip,pca:components=256:step=0.25", "--split", "test",
           "--limit", "200", "--profile", "smoke", "--data-dir", str(MNIST_DIR), "--out", str(out), "--no-report"],
          cwd=tmp_path, env=clean_env())
    table = load_table(out)
    assert (table["status"] == "ok").all(), table[["config", "error"]]
    assert table["config"].tolist() == ["gzip", "gzip:framing=per-image", "pca"]
    assert (table["n_images"] == 200).all()
    assert table["git_sha"].eq("installed mnist-compression-bench 0.1.0").all()
    check([installed / "bench", "report", str(out)], cwd=tmp_path, env=clean_env())
    html = (out / "report.html").read_text()
    assert "pca" in html and "gzip" in html
