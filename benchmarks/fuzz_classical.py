"""Does a classical codec notice a damaged stream? Seeded mutations of a small stream of each
configuration, each decode sorted into: a project error (BenchError), an identical decode, a decode
to other pixels with no error (silent), or any other exception (a library error the codec does not
translate, MemoryError, a hang past the time limit).

    .venv/bin/python -m benchmarks.fuzz_classical [--mutations 1000] [--images 4] [--json out.json]

These formats are what they are (the harness cannot add a checksum to a PNG): the table in
docs/streams.md records which of them detect damage.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import zlib

import numpy as np

from bench import create_codec
from bench.data.mnist import load_split
from bench.errors import BenchError

CONFIGS = [
    (name, {"framing": framing}) for name in ("gzip", "bz2", "lzma", "zstd", "brotli") for framing in ("whole", "per-image")
] + [("png", {}), ("webp", {}), ("jpeg", {"quality": 75}), ("webp-lossy", {"quality": 75})]
DECODE_LIMIT_S = 20


def _mutations(data: bytes, count: int, rng: random.Random) -> list[bytes]:
    out = [data[:n] for n in sorted({0, 1, 2, 3, len(data) // 2, len(data) - 1})]
    out += [data + b"\0", data + rng.randbytes(16), data + data]
    out += [rng.randbytes(min(16, len(data))) + data[16:]]
    while len(out) < count:
        mutated = bytearray(data)
        how = rng.choice((1, 1, 2, 8, 0))
        if how == 0:
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        for _ in range(how):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        out.append(bytes(mutated))
    return out


def _expire(signum, frame):
    raise TimeoutError("decode hung")


def fuzz(name: str, params: dict, images: np.ndarray, count: int) -> dict:
    codec = create_codec(name, **params)
    data = codec.compress(images)
    reference = codec.decompress(data)
    tally: dict[str, int] = {}
    previous = signal.signal(signal.SIGALRM, _expire)
    try:
        for mutated in _mutations(data, count, random.Random(zlib.crc32(f"{name}{params}".encode()))):
            signal.alarm(DECODE_LIMIT_S)
            try:
                decoded = codec.decompress(mutated)
            except BenchError:
                outcome = "error"
            except Exception as exc:  # noqa: BLE001 - the point is to see which escape
                outcome = f"other:{type(exc).__name__}"
            else:
                outcome = "identical" if np.array_equal(decoded, reference) else "silent-different"
            finally:
                signal.alarm(0)
            tally[outcome] = tally.get(outcome, 0) + 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    return {"stream_bytes": len(data), "mutations": sum(tally.values()), "outcomes": tally}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--json")
    args = parser.parse_args()
    images = load_split("test", limit=args.images).images
    results = {}
    for name, params in CONFIGS:
        label = name + "".join(f":{k}={v}" for k, v in params.items())
        results[label] = fuzz(name, params, images, args.mutations)
        r = results[label]
        print(f"{label:24s} {r['stream_bytes']:6d} B  {json.dumps(r['outcomes'], sort_keys=True)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
