"""Float settings that decide the bits a torch model computes, recorded in a stream and checked.

An arithmetic decoder needs bit-identical probabilities to the encoder's. With the same weights,
the same call shapes and the same inputs, torch reproduces its floats bit for bit only on the same
kind of device, with the same kernels: the same torch version, CPU instruction set (AVX2 and
AVX-512 kernels sum in different orders) and thread count, or the same GPU model and CUDA/cuDNN.
A codec records `float_settings(device)` in its stream header; the decoder calls
`check_float_settings(recorded)` first and refuses, in one line, where they differ.
"""

from __future__ import annotations

import platform
from contextlib import contextmanager

from bench.errors import BenchError, CorruptStreamError


class IncompatibleDecoderError(BenchError):
    """This process cannot reproduce the encoder's float arithmetic bit for bit."""


def float_settings(device: str) -> dict:
    """What decides the bits of every float a model computes, in this process on `device`."""
    import torch

    settings = {
        "torch": torch.__version__,
        "device": "cuda" if device.startswith("cuda") else "cpu",
        "matmul_precision": torch.get_float32_matmul_precision(),
    }
    if settings["device"] == "cuda":
        settings["gpu"] = torch.cuda.get_device_name(device)
        settings["cuda"] = torch.version.cuda
        settings["cudnn"] = torch.backends.cudnn.version()
    else:
        settings["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        settings["machine"] = platform.machine()
        settings["threads"] = torch.get_num_threads()
    return settings


def check_float_settings(recorded: object, what: str = "stream") -> str:
    """The device to decode on ("cpu" or "cuda"), or an error naming the first setting that differs."""
    import torch

    if not isinstance(recorded, dict) or recorded.get("device") not in ("cpu", "cuda"):
        raise CorruptStreamError(f"{what} header does not say which device encoded it (corrupt stream)")
    device = recorded["device"]
    if device == "cuda" and not torch.cuda.is_available():
        raise IncompatibleDecoderError(f"{what} was encoded on CUDA; this machine has no CUDA GPU to decode it")
    here = float_settings(device)
    for key in sorted(set(recorded) | set(here)):
        if recorded.get(key) != here.get(key):
            hint = " (torch.set_num_threads)" if key == "threads" else ""
            raise IncompatibleDecoderError(
                f"cannot decode this {what} bit-exactly here: the encoder had {key}={recorded.get(key)!r}, "
                f"this process has {key}={here.get(key)!r}; decode with the same setting{hint}"
            )
    return device


@contextmanager
def torch_threads(device: str, count: int):
    """Run with `count` torch CPU threads (restored afterwards); a no-op on CUDA.

    On a small shared machine, torch's default (one thread per core) can be many times slower than
    one thread: OpenMP workers spin-waiting for a core another process holds. Pinning the count
    while coding also fixes the `threads` setting a stream records, whatever the caller's default.
    """
    import torch

    if device.startswith("cuda"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
