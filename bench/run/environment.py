"""Provenance: device resolution, library versions, git commit of the run."""

from __future__ import annotations

import functools
import platform
import subprocess

from bench.data.mnist import PROJECT_ROOT
from bench.errors import BenchError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """`auto` -> `cuda` when torch sees a GPU, else `cpu`; `cuda` without a GPU is an error."""
    if requested not in DEVICES:
        raise BenchError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise BenchError("--device cuda asked for, but torch sees no CUDA GPU on this machine")
    return "cpu"


@functools.lru_cache(maxsize=4)
def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}"


DISTRIBUTION = "mnist-compression-bench"


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """`git describe` of the checkout the code runs from; an installed copy has none to ask (and any
    repository around site-packages is someone else's), so it names the installed version instead."""
    if not (PROJECT_ROOT / "pyproject.toml").is_file() or not (PROJECT_ROOT / "bench").is_dir():
        from importlib import metadata

        try:
            return f"installed {DISTRIBUTION} {metadata.version(DISTRIBUTION)}"
        except metadata.PackageNotFoundError:
            return "unknown"
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "pandas", "zstandard", "brotli", "pillow", "scikit-learn", "constriction"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions
