"""The kind of machine a measurement was taken on: timings and float-sensitive pins compare only
within one kind.

    python -m benchmarks.gates.machine      # prints it, e.g. x86_64-2cpu-amd-epyc-f25m17-py3.11

Architecture, cores, CPU model and Python: another CPU model runs some codecs 50% faster or slower
than others (no calibration cancels that), and other vector units round floats otherwise. A virtual
machine's model name can be as vague as "AMD EPYC" across generations, so the CPU's family and model
numbers are part of the kind (f25m17: Zen 4 with AVX-512).
"""

from __future__ import annotations

import os
import platform
import re
import sys


def _cpu_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def machine_kind() -> str:
    model = re.sub(r"[^a-z0-9]+", "-", _cpu_field("model name").lower()).strip("-") or "unknown"
    family, number = _cpu_field("cpu family"), _cpu_field("model")
    numbers = f"-f{family}m{number}" if family or number else ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{platform.machine()}-{cores}cpu-{model}{numbers}"
            f"-py{sys.version_info[0]}.{sys.version_info[1]}")


if __name__ == "__main__":
    print(machine_kind())
