"""Does a classical codec notice a damaged stream? Seeded mutations of a small stream of each
configuration, each decode sorted into: a project error (BenchError), an identical decode, a decode
to other pixels with no error (silent), or any other exception (a library error the codec does not
translate, MemoryError, a hang past the time limit).

    .venv/bin/python -m benchmarks.studies.fuzz_classical [--mutations 1000] [--images 4] [--json out.json] [--only 'jxl*,png*']

These formats are what they are (the harness cannot add a checksum to a PNG): the table in
docs/streams.md records which of them detect damage.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import signal
import zlib

import numpy as np

from bench import create_codec
from bench.data.mnist import load_split
from bench.errors import BenchError

#: The image-file codecs, one file per image (unsealed: the formats' own checks) and as one stream
#: (the sealed mosaic); the default parameters unless a rate is named.
IMAGE_FILES = [("png", {}), ("webp", {}), ("jpeg", {"quality": 75}), ("webp-lossy", {"quality": 75}),
               ("jxl", {}), ("jxl-lossy", {}), ("jpeg2000", {}), ("jpeg2000-lossy", {}), ("jpegls", {}),
               ("jpegls-near", {}), ("avif", {}), ("avif-lossy", {})]
CONFIGS = [
    (name, {"framing": framing}) for name in ("gzip", "bz2", "lzma", "zstd", "brotli") for framing in ("whole", "per-image")
] + IMAGE_FILES + [(name, {**params, "framing": "stream"}) for name, params in IMAGE_FILES]
#: zpaq and PPMd in the sealed container (a CRC of the body, checked before the library decodes it).
CONFIGS += [("zpaq", {"method": m, "framing": f}) for m in (1, 3, 5) for f in ("whole", "per-image")]
CONFIGS += [("ppmd", {"variant": v, "order": k, "framing": f})
            for v, k in (("H", 2), ("I", 4)) for f in ("whole", "per-image")]
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
    parser.add_argument("--only", help="only the configurations whose label matches one of these comma-separated "
                                       "globs (e.g. 'jxl*,png*')")
    args = parser.parse_args()
    images = load_split("test", limit=args.images).images
    results = {}
    for name, params in CONFIGS:
        label = name + "".join(f":{k}={v}" for k, v in params.items())
        if args.only and not any(fnmatch.fnmatchcase(label, g) for g in args.only.split(",")):
            continue
        results[label] = fuzz(name, params, images, args.mutations)
        r = results[label]
        print(f"{label:36s} {r['stream_bytes']:6d} B  {json.dumps(r['outcomes'], sort_keys=True)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
