"""Helpers shared by test modules (imported as `helpers`: pytest puts this folder on sys.path)."""

from __future__ import annotations

import signal
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: int):
    """Fail (instead of hanging) if the block runs longer than `seconds`."""

    def expire(signum, frame):
        raise TimeoutError(f"decoding took longer than {seconds} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
