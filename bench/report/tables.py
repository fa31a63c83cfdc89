"""The report's HTML tables: the size table of each split (one row per configuration, by kind) and
the container table (the decoded output as .txt and .npy, raw and gzipped)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.rows import KIND_LABELS, kind_order
from bench.run import artifacts

CONTAINER_LABELS = {"txt": ".txt", "npy": ".npy", "txt_gz": ".txt.gz", "npy_gz": ".npy.gz"}


def fmt(value, spec: str, missing: str = "–") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return missing
    if isinstance(value, float) and np.isinf(value):
        return "∞"
    return format(value, spec)

def accuracy_text(r) -> str:
    """A summary row's accuracy in percent as every table prints it: over several seeds or repetitions
    of one run `mean ± sd (n)`, else the value, with the codec's own spread where it reports one."""
    if r.get("n_reps", 1) > 1 and not np.isnan(r.get("accuracy_sd_pct", np.nan)):
        return f"{r['accuracy_mean_pct']:.2f} ± {r['accuracy_sd_pct']:.2f} ({int(r['n_reps'])})"
    spread = r.get("accuracy_std_pct", np.nan)
    return fmt(r["accuracy_pct"], ".2f") + (f" ± {spread:.2f}" if not np.isnan(spread) and spread > 0 else "")


def fmt_int(value) -> str:
    return fmt(value if value is None or np.isnan(value) else int(round(value)), ",d")


def _marked(value: str, held_out: bool) -> str:
    return value + "‡" if held_out and value != "–" else value


def size_table(frame: pd.DataFrame, split: str) -> dict:
    """The rows of one split, grouped by kind (lossless, lossy, dataset), each group by headline bits per pixel.

    The headline bits per pixel, MSE and PSNR are held-out (‡) where the row has them; the whole split's
    figures are then shown in their own columns too."""
    rows = frame[frame["split"] == split]
    optional = [(c, label) for c, label in (("nominal_ratio", "nominal ratio (write-up)"),
                                             ("ideal_bpp", "ideal bpp (model estimate)"),
                                             ("likelihood_bpp", "likelihood bpp (training model)"),
                                             ("ratio_vs_gzip", "ratio vs gzip"))
                if rows[c].notna().any()]
    any_held_out = bool(rows["held_out"].any())
    any_concurrency = bool(rows["concurrent_cells"].notna().any())
    groups = []
    for kind in sorted(rows["kind"].unique(), key=kind_order):
        group = rows[rows["kind"] == kind].sort_values(["head_bpp", "total_bytes", "config"], na_position="last")
        body = []
        for _, r in group.iterrows():
            accuracy = fmt(r["accuracy_pct"], ".2f") + "†" if r["accuracy_from_full"] else accuracy_text(r)
            held = bool(r["held_out"])
            exact_on = r["exact_source"] if isinstance(r["exact_source"], str) else ""
            family = f"{r['family']} (exact on {exact_on})" if exact_on else r["family"]
            head_bpp = r["head_bpp"]
            pixels = r["raw_bytes"]  # one byte per pixel
            total_bpp = 8 * r["total_bytes"] / pixels if pixels > 0 else np.nan
            body.append({
                "config": r["config"], "kind": r["kind"], "approach": r["approach"], "family": family, "n_images": fmt_int(r["n_images"]),
                "payload": fmt_int(r["payload_bytes"]), "model": fmt_int(r["model_bytes"]),
                "total": fmt_int(r["total_bytes"]), "total_bpp": fmt(total_bpp, ".3f"),
                "per_image": fmt(r["payload_bytes"] / r["n_images"], ",.1f"),
                "bpp": _marked(fmt(head_bpp, ".3f"), held),
                "bpp_whole": fmt(r["bpp"], ".3f"),
                "ratio": fmt(8 / head_bpp if head_bpp > 0 else np.nan, ".2f"),
                "saved": fmt(100 * (1 - head_bpp / 8), ".1f"),
                "mse": _marked("0" if r["head_mse"] == 0 else fmt(r["head_mse"], ".5f"),
                               held and not np.isnan(r["test_mse"])),
                "mse_whole": "0" if r["mse"] == 0 else fmt(r["mse"], ".5f"),
                "psnr": _marked(fmt(r["head_psnr"], ".2f"), held and not np.isnan(r["test_psnr"])),
                "psnr_whole": fmt(r["psnr"], ".2f"),
                "psnr_image_mean": _marked(fmt(r["head_psnr_image_mean"], ".2f"),
                                           held and not np.isnan(r["test_psnr_image_mean"])),
                "accuracy": accuracy, "held_out": held,
                "throughput": fmt_int(r["images_per_s"]),
                "concurrent": fmt_int(r["concurrent_cells"]),
                "optional": [fmt(r[c], ".3f") for c, _ in optional],
                "pareto_error": bool(r["pareto_error"]), "pareto_accuracy": bool(r["pareto_accuracy"]),
                "lossless_failed": (r["kind"] == "lossless" or bool(exact_on)) and not r["lossless_ok"],
            })
        groups.append({"kind": kind, "label": KIND_LABELS.get(kind, kind), "rows": body})
    n_images = rows["n_images"].dropna()
    return {"split": split, "groups": groups, "rows": [r for g in groups for r in g["rows"]],
            "optional": [label for _, label in optional], "held_out": any_held_out,
            "concurrency": any_concurrency,
            "n_columns": 19 + len(optional) + 3 * any_held_out + any_concurrency,
            "n_images": fmt_int(n_images.max()) if len(n_images) else "?"}


def container_tables(frame: pd.DataFrame) -> list[dict]:
    """The BiCAN write-up's table: the original in .txt/.npy/.txt.gz/.npy.gz against each output."""
    orig_columns = [f"orig_{c}_bytes" for c in artifacts.CONTAINERS]
    rows = frame[frame["txt_bytes"].notna() & frame[orig_columns].notna().all(axis=1)]
    tables = []
    for original, group in rows.groupby(orig_columns, sort=False):
        group = group.sort_values(["npy_gz_bytes", "config"])
        first = group.iloc[0]
        subject = ("training set" if first["kind"] == "dataset" else f"split {first['split']}")
        body = [{"config": "original", "cells": [fmt_int(v) for v in original], "is_original": True}]
        for _, r in group.iterrows():
            cells = []
            for container, base in zip(artifacts.CONTAINERS, original, strict=True):
                size = r[f"{container}_bytes"]
                cells.append(f"{fmt_int(size)} ({100 * (size / base - 1):+.1f}%)".replace("-", "−"))
            body.append({"config": r["config"], "cells": cells, "is_original": False})
        n = first["n_decoded"] if first["kind"] == "dataset" else first["n_images"]
        tables.append({"subject": subject, "n_images": fmt_int(first["n_images"]), "n_decoded": fmt_int(n),
                       "headers": [CONTAINER_LABELS[c] for c in artifacts.CONTAINERS], "rows": body})
    return tables
