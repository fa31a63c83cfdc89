"""Wall-clock timing that waits for the GPU inside the timed region."""

from __future__ import annotations

import time
from collections.abc import Callable


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def timed(fn: Callable, device: str = "cpu"):
    """Run `fn()` and return (result, seconds), with queued GPU work finished before the clock stops."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start
