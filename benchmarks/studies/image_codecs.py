"""The measurements behind docs/image-codecs.md: the image-file codecs (baselines/image.py,
baselines/image_standards.py) on MNIST, one subcommand per table.

    .venv/bin/python -m benchmarks.studies.image_codecs measure 'png,webp*,jxl*' --json OUT.jsonl   # 10,000 test digits
    .venv/bin/python -m benchmarks.studies.image_codecs stream-times 'jxl:framing=stream' --json OUT.jsonl  # all 70,000
    .venv/bin/python -m benchmarks.studies.image_codecs tables MEASURE.jsonl [--stream-times OUT.jsonl]
    .venv/bin/python -m benchmarks.studies.image_codecs geometry     # mosaic layouts (576 digits)
    .venv/bin/python -m benchmarks.studies.image_codecs padding      # tile pitch 28 against 32 (1,000 digits)
    .venv/bin/python -m benchmarks.studies.image_codecs pillow       # Pillow against imagecodecs (1,000 digits)
    .venv/bin/python -m benchmarks.studies.image_codecs settings     # efforts, speeds, levels, filters (1,000 digits)
    .venv/bin/python -m benchmarks.studies.image_codecs webp-pages   # 70,000 digits in one WebP image or in pages

`measure` codes and decodes as the runner does (`bench.run.measure.measure`: a 16-digit warm-up, one
timed encode, one timed decode) without training the judge that `bench run` trains for every lossy
row; `stream-times` gives wall and CPU seconds (CPU time does not count what other processes take).
On a shared machine run them under `nice -n 10`; `measure` and `stream-times` append to their JSON
lines and skip the configurations already there, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from bench import create_codec
from bench.api.registry import config_label, parse_spec
from bench.data.mnist import load_split
from bench.run.measure import measure

#: The codecs of the image-file modules, in the order the tables list them.
IMAGE_CODECS = ("png", "webp", "webp-lossy", "jpeg", "jxl", "jxl-lossy", "jpeg2000", "jpeg2000-lossy", "jpegls",
                "jpegls-near", "avif", "avif-lossy")


def psnr_db(original: np.ndarray, decoded: np.ndarray) -> float:
    mse = float(np.mean(((original.astype(np.float64) - decoded) / 255.0) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _done(path: str | None) -> set[str]:
    if not path or not os.path.exists(path):
        return set()
    return {json.loads(line)["config"] for line in Path(path).read_text().splitlines() if line.strip()}


def _append(path: str | None, row: dict) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def _pending(args):
    """(images, and for each configuration of `args.spec` not yet in `args.json`: label, name, params,
    codec): a study resumes where it stopped."""
    images = load_split(args.split, limit=args.limit).images
    done = _done(args.json)
    configs = [(config_label(name, params), name, params) for name, params in parse_spec(args.spec)]
    return images, ((label, name, params, create_codec(name, **params))
                    for label, name, params in configs if label not in done)


def cmd_measure(args) -> None:
    images, pending = _pending(args)
    for label, name, params, codec in pending:
        load = os.getloadavg()[0]
        m = measure(codec, images)
        row = {"config": label, "codec": name, "params": params, "kind": codec.kind,
               "framing": params.get("framing", "per-image"), "n": len(images), "bytes": len(m.payload),
               "bpi": len(m.payload) / len(images), "bpp": 8 * len(m.payload) / images.size,
               "psnr": float("inf") if m.mse == 0 else 10 * math.log10(1 / m.mse), "mse": m.mse,
               "lossless_ok": m.lossless_ok, "enc_s": m.enc_s, "dec_s": m.dec_s, "load1": load}
        _append(args.json, row)
        print(f"{label:45s} {row['bytes']:>11,} B {row['bpp']:.3f} bpp PSNR {row['psnr']:.2f} "
              f"enc {m.enc_s:.2f}s dec {m.dec_s:.2f}s load {load:.1f}", flush=True)


def cmd_stream_times(args) -> None:
    images, pending = _pending(args)
    for label, _, _, codec in pending:
        codec.decompress(codec.compress(images[:16]))  # the runner's warm-up
        load = os.getloadavg()[0]
        payload, enc_wall, enc_cpu = _timed(lambda codec=codec: codec.compress(images))
        decoded, dec_wall, dec_cpu = _timed(lambda codec=codec, payload=payload: codec.decompress(payload))
        row = {"config": label, "n": len(images), "bytes": len(payload), "bpp": 8 * len(payload) / images.size,
               "psnr": psnr_db(images, decoded), "enc_wall": enc_wall, "enc_cpu": enc_cpu, "dec_wall": dec_wall,
               "dec_cpu": dec_cpu, "load1": load}
        _append(args.json, row)
        print(f"{label:40s} {row['bytes']:>11,} B {row['bpp']:.3f} bpp {row['psnr']:.2f} dB enc {enc_wall:.2f}s wall "
              f"{enc_cpu:.2f}s cpu dec {dec_wall:.2f}s wall {dec_cpu:.2f}s cpu load {load:.1f}", flush=True)


# -- tables ---------------------------------------------------------------------------------------------
def _psnr_cell(row) -> str:
    return "exact" if row.get("kind") == "lossless" or row["psnr"] == float("inf") else f"{row['psnr']:.2f}"


def _setting(row) -> tuple:
    return tuple(sorted((k, v) for k, v in row["params"].items() if k != "framing"))


def _pairs(rows, name):
    streams = {_setting(r): r for r in rows if r["codec"] == name and r["framing"] == "stream"}
    return [(r, streams[_setting(r)]) for r in rows
            if r["codec"] == name and r["framing"] == "per-image" and _setting(r) in streams]


def _curve(rows, name, framing):
    points = [r for r in rows if r["codec"] == name and r["framing"] == framing]
    return np.array([r["bpp"] for r in points]), np.array([r["psnr"] for r in points])


def cmd_tables(args) -> None:
    from bench.report.bd_rate import bd_rate

    rows = [json.loads(line) for line in Path(args.measured).read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: IMAGE_CODECS.index(r["codec"]) if r["codec"] in IMAGE_CODECS else len(IMAGE_CODECS))
    print("### Every configuration\n")
    print("| configuration | payload bytes | bytes/image | bits/pixel | PSNR dB | encode s | decode s | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['config']}` | {r['bytes']:,} | {r['bpi']:.1f} | {r['bpp']:.3f} | {_psnr_cell(r)} | "
              f"{r['enc_s']:.2f} | {r['dec_s']:.2f} | {r['load1']:.1f} |")
    print("\n### Per-image against stream\n")
    print("| codec | setting | per-image B/image | stream B/image | stream / per-image | per-image PSNR | "
          "stream PSNR | per-image enc + dec s | stream enc + dec s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in IMAGE_CODECS:
        for p, s in _pairs(rows, name):
            setting = ",".join(f"{k}={v}" for k, v in _setting(p)) or "default"
            print(f"| {name} | {setting} | {p['bpi']:.1f} | {s['bpi']:.1f} | {s['bytes'] / p['bytes']:.2f} | "
                  f"{_psnr_cell(p)} | {_psnr_cell(s)} | {p['enc_s'] + p['dec_s']:.2f} | {s['enc_s'] + s['dec_s']:.2f} |")
    print("\n### Lossless, smallest first\n")
    print("| configuration | bytes/image | bits/pixel | encode s | decode s |")
    print("|---|---:|---:|---:|---:|")
    for r in sorted((r for r in rows if r["kind"] == "lossless"), key=lambda r: r["bytes"]):
        print(f"| `{r['config']}` | {r['bpi']:.1f} | {r['bpp']:.3f} | {r['enc_s']:.2f} | {r['dec_s']:.2f} |")
    print("\n### BD-rate (PSNR) against WebP lossy in the same framing\n")
    print("| codec | per-image | stream | PSNR range (stream) |")
    print("|---|---:|---:|---|")
    lossy = [n for n in IMAGE_CODECS if n != "webp-lossy" and any(r["codec"] == n and r["kind"] == "lossy" for r in rows)]
    for name in lossy:
        cells = [bd_rate(*_curve(rows, "webp-lossy", f), *_curve(rows, name, f)) for f in ("per-image", "stream")]
        anchor, test = _curve(rows, "webp-lossy", "stream")[1], _curve(rows, name, "stream")[1]
        print(f"| {name} | {cells[0]:+.1f}% | {cells[1]:+.1f}% | "
              f"{max(anchor.min(), test.min()):.1f}-{min(anchor.max(), test.max()):.1f} dB |")
    print("\n### BD-rate (PSNR) of each lossy stream (row) against each other (column)\n")
    names = [n for n in IMAGE_CODECS if any(r["codec"] == n and r["kind"] == "lossy" for r in rows)]
    print("| stream | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for name in names:
        cells = ["–" if name == anchor else f"{bd_rate(*_curve(rows, anchor, 'stream'), *_curve(rows, name, 'stream')):+.1f}%"
                 for anchor in names]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.stream_times:
        print("\n### Streams of all 70,000 digits\n")
        print("| configuration | bytes | bits/pixel | PSNR dB | encode s (wall / CPU) | decode s (wall / CPU) | load |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for line in Path(args.stream_times).read_text().splitlines():
            r = json.loads(line)
            print(f"| `{r['config']}` | {r['bytes']:,} | {r['bpp']:.3f} | {_psnr_cell(r)} | "
                  f"{r['enc_wall']:.2f} / {r['enc_cpu']:.2f} | {r['dec_wall']:.2f} / {r['dec_cpu']:.2f} | {r['load1']:.1f} |")


# -- the design measurements ----------------------------------------------------------------------------
def grid(images: np.ndarray, cols: int, pitch: int = 28) -> np.ndarray:
    """The 28x28 digits as one image, `cols` cells a row, each digit at the top left of a pitch x pitch
    cell (black padding beyond 28); the last row filled with black cells. Pitch 28 is exactly what
    `bench.coding.mosaic.to_mosaic` (the codecs' stream framing) lays out."""
    rows = -(-len(images) // cols)
    cells = np.zeros((rows * cols, pitch, pitch), np.uint8)
    cells[: len(images), :28, :28] = images
    return cells.reshape(rows, cols, pitch, pitch).transpose(0, 2, 1, 3).reshape(rows * pitch, cols * pitch)


def digits_of(page: np.ndarray, n: int, cols: int, pitch: int = 28) -> np.ndarray:
    """The n digits of a `grid` image."""
    rows = page.shape[0] // pitch
    cells = page.reshape(rows, pitch, cols, pitch).transpose(0, 2, 1, 3).reshape(rows * cols, pitch, pitch)
    return cells[:n, :28, :28]


def _page_round_trip(codec, page: np.ndarray) -> tuple[bytes, np.ndarray]:
    data = bytes(codec._encode(page))
    return data, codec._decode(data)


def cmd_geometry(args) -> None:
    """One image of the first N digits, cols tiles wide: a column, three widths, the square grid."""
    images = load_split("test", limit=args.images).images
    n = len(images)
    square = math.isqrt(n - 1) + 1
    cases = [("WebP lossless, method 6", "webp", {}, 16383), ("JPEG XL lossless, effort 7", "jxl", {"effort": 7}, 16384),
             ("WebP lossy, quality 50", "webp-lossy", {"quality": 50}, 16383),
             ("JPEG, quality 50", "jpeg", {"quality": 50}, 65500),
             ("JPEG XL lossy, distance 1, effort 7", "jxl-lossy", {"distance": 1.0}, 16384)]
    print("| format | " + " | ".join(f"{c} wide" for c in (1, 4, 16, 64)) + f" | grid, {square} wide |")
    print("|---|" + "---:|" * 5)
    for title, name, params, limit in cases:
        codec, cells = create_codec(name, **params), []
        for cols in (1, 4, 16, 64, square):
            if -(-n // cols) * 28 > limit:
                cells.append(f"over {limit} px")
                continue
            data, page = _page_round_trip(codec, grid(images, cols))
            decoded = digits_of(page, n, cols)
            cells.append(f"{len(data):,}" + ("" if codec.kind == "lossless" else f" ({psnr_db(images, decoded):.2f} dB)"))
        print(f"| {title} | " + " | ".join(cells) + " |", flush=True)


def cmd_padding(args) -> None:
    """Tiles 28 px apart against 32 px apart (black padding): bytes at equal PSNR."""
    images = load_split("test", limit=args.images).images
    n, cols = len(images), math.isqrt(len(images) - 1) + 1
    sweeps = {"jpeg": ("quality", (5, 10, 25, 50, 75, 90)), "webp-lossy": ("quality", (1, 10, 25, 50, 75, 90)),
              "jxl-lossy": ("distance", (15.0, 8.0, 5.0, 3.0, 2.0, 1.0, 0.5)),
              "jpeg2000-lossy": ("psnr", (20, 25, 30, 35, 40, 45)), "avif-lossy": ("quality", (10, 30, 50, 70, 90))}
    print("| codec | setting | PSNR dB at pitch 28 | bytes at pitch 28 | pitch 32 at that PSNR |")
    print("|---|---|---:|---:|---:|")
    for name, (param, values) in sweeps.items():
        curves = {}
        for pitch in (28, 32):
            points = []
            for value in values:
                data, page = _page_round_trip(create_codec(name, **{param: value}), grid(images, cols, pitch))
                points.append((psnr_db(images, digits_of(page, n, cols, pitch)), len(data), value))
            curves[pitch] = sorted(points)
        psnr32, log_bytes32 = np.array([p for p, _, _ in curves[32]]), np.log([b for _, b, _ in curves[32]])
        for psnr, size, value in curves[28]:
            at32 = (f"{100 * (math.exp(np.interp(psnr, psnr32, log_bytes32)) / size - 1):+.1f}%"
                    if psnr32.min() <= psnr <= psnr32.max() else "outside the 32-px curve")
            print(f"| {name} | {param}={value} | {psnr:.2f} | {size:,} | {at32} |", flush=True)


def cmd_pillow(args) -> None:
    """Each digit one file through Pillow and through the codec (imagecodecs) at equal settings."""
    from PIL import Image

    images = load_split("test", limit=args.images).images

    def pillow_file(image, fmt, **save):
        buf = io.BytesIO()
        Image.fromarray(image, mode="L").save(buf, fmt, **save)
        return buf.getvalue()

    def pillow_decode(data):
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return np.asarray(img.convert("L"))

    cases = [("PNG level 9 (Pillow: optimize)", "PNG", {"compress_level": 9, "optimize": True}, "png", {}),
             *[(f"WebP lossless, method {m}", "WEBP", {"lossless": True, "quality": 100, "method": m}, "webp", {"method": m})
               for m in (6, 5)],
             *[(f"WebP lossy, quality {q}", "WEBP", {"quality": q, "method": 6}, "webp-lossy", {"quality": q})
               for q in (1, 10, 50, 90)],
             *[(f"JPEG, quality {q}, optimised Huffman", "JPEG", {"quality": q, "optimize": True}, "jpeg", {"quality": q})
               for q in (5, 25, 50, 90)]]
    print("| format, setting | Pillow bytes | imagecodecs bytes | same files | Pillow enc / dec s | "
          "imagecodecs enc / dec s | same decode |")
    print("|---|---:|---:|---|---:|---:|---|")
    for title, fmt, save, name, params in cases:
        codec = create_codec(name, **params)
        theirs, pe, _ = _timed(lambda fmt=fmt, save=save: [pillow_file(im, fmt, **save) for im in images])
        ours, oe, _ = _timed(lambda codec=codec: [codec.encode_image(im) for im in images])
        their_pixels, pd, _ = _timed(lambda theirs=theirs: np.stack([pillow_decode(b) for b in theirs]))
        our_pixels, od, _ = _timed(lambda codec=codec, ours=ours: np.stack([codec.decode_image(b) for b in ours]))
        print(f"| {title} | {sum(map(len, theirs)):,} | {sum(map(len, ours)):,} | {'yes' if theirs == ours else 'no'} | "
              f"{pe:.3f} / {pd:.3f} | {oe:.3f} / {od:.3f} | {'yes' if np.array_equal(their_pixels, our_pixels) else 'no'} |",
              flush=True)


def cmd_settings(args) -> None:
    """The sweeps behind each codec's default: JPEG XL efforts, AVIF speeds, JPEG 2000 levels, PNG filters."""
    import imagecodecs

    images = load_split("test", limit=args.images).images
    n = len(images)
    cols = math.isqrt(n - 1) + 1
    page = grid(images, cols)

    def stream(name, **params):
        codec = create_codec(name, **params)
        (data, decoded), wall, _ = _timed(lambda: _page_round_trip(codec, page))
        quality = "" if codec.kind == "lossless" else f" ({psnr_db(images, digits_of(decoded, n, cols)):.2f} dB)"
        return f"{len(data):,}{quality}, {wall:.2f} s"

    def per_image(name, **params):
        codec = create_codec(name, **params)
        files, wall, _ = _timed(lambda: [(f, codec.decode_image(f)) for f in map(codec.encode_image, images)])
        return f"{sum(len(f) for f, _ in files):,}, {wall:.2f} s"

    print(f"JPEG XL lossless by effort ({n} digits; bytes, encode + decode seconds)\n")
    print("| effort | one image | one file per image |\n|---:|---:|---:|")
    for effort in range(1, 11):
        print(f"| {effort} | {stream('jxl', effort=effort)} | {per_image('jxl', effort=effort)} |", flush=True)
    print("\nJPEG XL lossy, effort 7 against 9 (one image)\n")
    print("| distance | effort 7 | effort 9 |\n|---:|---:|---:|")
    for distance in (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 15.0):
        print(f"| {distance} | {stream('jxl-lossy', distance=distance)} | "
              f"{stream('jxl-lossy', distance=distance, effort=9)} |", flush=True)
    print("\nAVIF by speed (one image)\n")
    print("| speed | lossless | quality 10 | quality 50 | quality 90 |\n|---:|---:|---:|---:|---:|")
    for speed in (2, 4, 6, 8):
        cells = [stream("avif", speed=speed)] + [stream("avif-lossy", quality=q, speed=speed) for q in (10, 50, 90)]
        print(f"| {speed} | " + " | ".join(cells) + " |", flush=True)
    print("\nJPEG 2000 by resolution levels\n")
    print("| resolutions | lossless, one image | lossless, one file per image | 30 dB target, one image |")
    print("|---:|---:|---:|---:|")
    for levels in (1, 2, 3, 4, 6):
        print(f"| {levels} | {stream('jpeg2000', resolutions=levels)} | {per_image('jpeg2000', resolutions=levels)} | "
              f"{stream('jpeg2000-lossy', psnr=30, resolutions=levels)} |", flush=True)
    print("\nPNG level 9 by row filter (imagecodecs' libpng; the codec uses none)\n")
    print("| filter | one image | one file per image |\n|---|---:|---:|")
    for title, flt in (("none", imagecodecs.PNG.FILTER.NONE), ("libpng's adaptive choice", None)):
        files = [imagecodecs.png_encode(im, level=9, filter=flt) for im in images]
        print(f"| {title} | {len(imagecodecs.png_encode(page, level=9, filter=flt)):,} | {sum(map(len, files)):,} |")


def cmd_webp_pages(args) -> None:
    """All 70,000 digits as one WebP image (the format allows 16383 px) against pages of at most 5600 px."""
    images = load_split("all").images
    print("| configuration | page side | pages | bytes | PSNR dB | encode s (CPU) |\n|---|---:|---:|---:|---:|---:|")
    for name, params in (("webp-lossy", {"quality": 1}), ("webp-lossy", {"quality": 50}), ("webp", {"method": 5})):
        for side in (16383, 5600):
            codec = create_codec(name, **params, framing="stream")
            codec.max_side = side
            payload, _, cpu = _timed(lambda codec=codec: codec.compress(images))
            cols, rows = codec.geometry(len(images))
            quality = "exact" if codec.kind == "lossless" else f"{psnr_db(images, codec.decompress(payload)):.2f}"
            print(f"| `{config_label(name, {**params, 'framing': 'stream'})}` | {side} | {-(-len(images) // (cols * rows))} | "
                  f"{len(payload):,} | {quality} | {cpu:.2f} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command, default_split in (("measure", "test"), ("stream-times", "all")):
        p = sub.add_parser(command)
        p.add_argument("spec", help="codec spec, as bench run --codecs takes it")
        p.add_argument("--split", default=default_split)
        p.add_argument("--limit", type=int)
        p.add_argument("--json", help="append one JSON line per configuration here (and skip those already there)")
    p = sub.add_parser("tables")
    p.add_argument("measured")
    p.add_argument("--stream-times")
    sub.add_parser("geometry").add_argument("--images", type=int, default=576)
    for command in ("padding", "pillow", "settings"):
        sub.add_parser(command).add_argument("--images", type=int, default=1000)
    sub.add_parser("webp-pages")
    args = parser.parse_args(argv)
    {"measure": cmd_measure, "stream-times": cmd_stream_times, "tables": cmd_tables, "geometry": cmd_geometry,
     "padding": cmd_padding, "pillow": cmd_pillow, "settings": cmd_settings, "webp-pages": cmd_webp_pages}[
        args.command](args)


if __name__ == "__main__":
    main()
