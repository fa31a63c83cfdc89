"""Command line for the weightless codec: encode to a file, decode a file alone, or both in two processes.

    python -m bench_codecs.weightless encode --split all --profile default --out mnist.wlnn
    python -m bench_codecs.weightless decode mnist.wlnn --check-split all --out decoded.npy
    python -m bench_codecs.weightless roundtrip --split all --limit 5000 --out slice.wlnn
    python -m bench_codecs.weightless writeup

`roundtrip` encodes in this process, then decodes in a fresh Python process that reads nothing but
the file, and compares every image with the original.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.api.codec import PROFILES
from bench.data.mnist import load_split
from bench.errors import BenchError

from . import config_for, decode, encode
from .models import MODELS


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _progress(label: str):
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - done) if done else float("nan")
        print(f"  {label}: {done:,}/{total:,} images, {elapsed:,.0f} s, about {eta:,.0f} s left", file=sys.stderr, flush=True)

    return show


def cmd_encode(args) -> dict:
    images = load_split(args.split, limit=args.limit).images
    config = config_for(args.model, args.profile, args.seed)
    stats: dict = {}
    start = _clock()
    data = encode(images, config, args.device, stats, progress=_progress("encode"))
    wall, cpu = _since(start)
    Path(args.out).write_bytes(data)
    result = {
        "file": str(args.out), "split": args.split, "n_images": len(images), "model": args.model,
        "profile": args.profile, "device": args.device, "raw_bytes": int(images.size), "stream_bytes": len(data),
        "bpp": 8 * len(data) / images.size, "ideal_bpp": stats["ideal_bits"] / images.size,
        "n_chunks": stats["n_chunks"], "encode_wall_s": wall, "encode_cpu_s": cpu, "update_s": stats["update_s"],
        "encode_kB_per_s": images.size / 1000 / wall,
    }
    print(json.dumps(result))
    return result


def cmd_decode(args) -> dict:
    data = Path(args.file).read_bytes()
    start = _clock()
    images = decode(data, progress=_progress("decode"))
    wall, cpu = _since(start)
    result = {"file": str(args.file), "n_images": len(images), "decode_wall_s": wall, "decode_cpu_s": cpu,
              "decode_kB_per_s": images.size / 1000 / wall}
    if args.out:
        np.save(args.out, images)
    if args.check_split:
        original = load_split(args.check_split, limit=args.limit).images
        same = original.shape == images.shape and bool(np.all(original.reshape(len(original), -1) == images.reshape(len(images), -1)))
        result["identical_to_split"] = same
    print(json.dumps(result))
    return result


def cmd_roundtrip(args) -> int:
    encoded = cmd_encode(args)
    command = [sys.executable, "-m", "bench_codecs.weightless", "decode", str(args.out), "--check-split", args.split]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    print(f"decoding in a fresh process: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    run = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # its progress lines go to our stderr
    if run.returncode:
        print(f"decoder process failed (exit {run.returncode})", file=sys.stderr)
        return run.returncode
    decoded = json.loads(run.stdout.strip().splitlines()[-1])
    summary = {**encoded, **decoded, "decode_process_wall_s": time.perf_counter() - started}
    print(json.dumps(summary))
    return 0 if decoded.get("identical_to_split") else 1


def cmd_onepass(args) -> dict:
    import torch

    from .mirror import MirroredLearner, one_pass_differences, pinned_float_settings

    images = load_split("test", limit=args.train + args.images).images
    with pinned_float_settings("cpu"):
        lock = MirroredLearner(config_for(args.model, "default"), len(images), "cpu")
        lock.coded[:] = torch.from_numpy(images.copy())
        lock.n_coded = args.train
        lock.update(0)  # weights that have learned something, as mid-stream
        differing, rows = one_pass_differences(lock.model, lock.coded[args.train:])
    result = {"model": args.model, "images": args.images, "tables_compared": rows, "tables_differing": differing}
    print(json.dumps(result))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench_codecs.weightless", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("encode", "roundtrip"):
        p = sub.add_parser(name)
        p.add_argument("--split", default="all", choices=("train", "test", "all"))
        p.add_argument("--limit", type=int, default=None, help="first N images of the split")
        p.add_argument("--model", default="causal", choices=sorted(MODELS))
        p.add_argument("--profile", default="default", choices=PROFILES)
        p.add_argument("--device", default="cpu")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", required=True, help="where to write the stream")
    p = sub.add_parser("decode")
    p.add_argument("file")
    p.add_argument("--out", help="save the decoded images as .npy")
    p.add_argument("--check-split", choices=("train", "test", "all"), help="compare with this MNIST split")
    p.add_argument("--limit", type=int, default=None)
    sub.add_parser("writeup", help="the write-up's 30-line example, reproduced and measured")
    p = sub.add_parser("onepass", help="would scoring a chunk in one batched pass match the lockstep tables here?")
    p.add_argument("--model", default="causal", choices=sorted(MODELS))
    p.add_argument("--train", type=int, default=1024, help="images to train the model on first")
    p.add_argument("--images", type=int, default=256, help="images in the compared chunk")
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            cmd_encode(args)
        elif args.command == "decode":
            return 0 if cmd_decode(args).get("identical_to_split", True) else 1
        elif args.command == "roundtrip":
            return cmd_roundtrip(args)
        elif args.command == "onepass":
            cmd_onepass(args)
        else:
            from .writeup_example import report

            print(json.dumps(report()))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
