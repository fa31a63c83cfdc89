"""Size and quality pinned on the fixed 1,000-image slice: bytes, bits/pixel, MSE, accuracy.

pytest-benchmark gates only times; this file gates what the codecs produce. Classical codecs must
match their golden bytes exactly (and their MSE to float rounding: PCA's matrix products sum in an
order that depends on the BLAS threads); learned codecs (fixed seeds, `smoke` profile) within a
small band, since float arithmetic may differ slightly between CPUs.

Regenerate after an intended change (and say why in the commit):

    BENCH_QUICK=1 .venv/bin/python -m benchmarks.golden --update
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.api.registry import config_label, get_entry, parse_spec
from bench.learn.classifier import train_and_score
from bench.run import metrics

GOLDEN_PATH = Path(__file__).with_name("golden.json")
#: Relative band for learned codecs' bytes and MSE, absolute band for accuracy.
LEARNED_REL_TOL = 0.02
ACCURACY_ABS_TOL = 0.03
#: Classical codecs: sizes are exact; a float metric may move in its last digits, never by 1e-5.
FLOAT_REL_TOL = 1e-5
EXACT_KEYS = ("bytes", "bpp")


def is_exact(name: str) -> bool:
    """Classical codecs (baselines/) are deterministic programs: their output is pinned to the byte."""
    entry = get_entry(name)
    return entry.cls.__module__.startswith("bench_baselines") and entry.kind != "dataset"


def measure(codec, test, train, ctx) -> dict:
    if codec.kind == "dataset":
        payload = codec.compress_dataset(train.images, train.labels)
        images, labels = codec.decompress_dataset(payload)
        return {
            "bytes": len(payload),
            "bpp": metrics.bits_per_pixel(len(payload), train.images.size),
            "accuracy": train_and_score(images, labels, ctx),
        }
    payload = codec.compress(test.images)
    decoded = codec.decompress(payload)
    return {
        "bytes": len(payload),
        "bpp": metrics.bits_per_pixel(len(payload), test.images.size),
        "mse": metrics.mse(test.images, decoded),
    }


def compare(label: str, golden: dict, measured: dict, exact: bool) -> list[str]:
    """The differences that break the pins, as readable lines (empty when everything holds)."""
    problems = []
    for key, expected in golden.items():
        got = measured.get(key)
        if got is None:
            problems.append(f"{label}: {key} not measured")
        elif key == "accuracy":
            if abs(got - expected) > ACCURACY_ABS_TOL:
                problems.append(f"{label}: accuracy {got:.4f}, golden {expected:.4f} (band {ACCURACY_ABS_TOL})")
        elif exact and key in EXACT_KEYS:
            if got != expected:
                problems.append(f"{label}: {key} {got}, golden {expected} (pinned exactly)")
        else:
            band = FLOAT_REL_TOL if exact else LEARNED_REL_TOL
            if abs(got - expected) > band * max(abs(expected), 1e-12):
                problems.append(f"{label}: {key} {got:.8g}, golden {expected:.8g} (band {band:.0e} relative)")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="measure every configuration and rewrite golden.json")
    parser.add_argument("--codecs", default=None, help="only these (a bench codec spec); others keep their values")
    args = parser.parse_args(argv)
    if not args.update:
        parser.print_help()
        return 0
    from bench import create_codec
    from bench.data.mnist import load_split

    from .conftest import SLICE, bench_context_value

    ctx = bench_context_value()
    test, train = load_split("test", limit=SLICE), load_split("train", limit=SLICE)
    golden = json.loads(GOLDEN_PATH.read_text()) if GOLDEN_PATH.exists() else {}
    for name, params in parse_spec(args.codecs):
        label = config_label(name, params)
        codec = create_codec(name, **params)
        codec.fit(load_split("train"), ctx)
        golden[label] = measure(codec, test, train, ctx)
        print(label, golden[label], flush=True)
    GOLDEN_PATH.write_text(json.dumps(dict(sorted(golden.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
