"""The throughput figure: encode and decode images/s of every configuration (or family), and the note
on how many cells ran side by side while they were timed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.figures.style import Figure, encode_figure, legend_outside, log_scale, new_figure

THROUGHPUT_MAX_BARS = 60  # beyond this many configurations the bars show one median per codec family


def figure_throughput(frame: pd.DataFrame) -> Figure:
    rows = frame[frame["enc_images_per_s"].gt(0) & frame["dec_images_per_s"].gt(0)]
    devices = sorted(rows["device_name"].dropna().astype(str).unique())
    figure = Figure("throughput", "Throughput", notes={"devices": devices})
    if rows.empty:
        figure.missing = "No timed rows in this table."
        return figure
    name = "config"
    if len(rows) > THROUGHPUT_MAX_BARS:
        name = "family"
        grouped = rows.assign(device_name=rows["device_name"].fillna("?")).groupby(["family", "device_name"])
        rows = grouped[["enc_images_per_s", "dec_images_per_s", "images_per_s"]].median().join(
            grouped[["concurrent_cells"]].max()).reset_index()
        figure.notes["per_family"] = len(frame)
    if rows["concurrent_cells"].gt(1).any():
        figure.notes["concurrent"] = True
    rows = rows.sort_values("images_per_s")
    multi_device = len(devices) > 1

    def label(r) -> str:
        text = f"{r[name]} [{r['device_name']}]" if multi_device else str(r[name])
        return text + (f" [×{int(r['concurrent_cells'])}]" if r["concurrent_cells"] > 1 else "")

    labels = [label(r) for _, r in rows.iterrows()]
    fig = new_figure(9, 0.24 * len(rows) + 1.3)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y + 0.2, rows["enc_images_per_s"], 0.4, label="encode", color="#4c72b0")
    ax.barh(y - 0.2, rows["dec_images_per_s"], 0.4, label="decode", color="#dd8452")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    log_scale(ax)
    ax.set_xlabel(f"images per second (log scale) on {', '.join(devices) or 'an unrecorded device'}")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    legend_outside(ax)
    return encode_figure(figure, fig)


def concurrency_note(frame: pd.DataFrame) -> str:
    """How many configurations were timed alone and how many beside other cells (`concurrent_cells`)."""
    counts = frame["concurrent_cells"]
    if counts.isna().all():
        return ("The table does not record how many cells ran at once (`concurrent_cells`, an older run): "
                "the times may include other cells' load.")
    parts = []
    alone = int(counts.eq(1).sum())
    if alone:
        parts.append(f"{alone} configuration{'s' if alone > 1 else ''} timed alone (1 cell on the machine)")
    for n, k in counts[counts.gt(1)].round().astype(int).value_counts().sort_index().items():
        parts.append(f"{k} timed with {n} cells running side by side")
    if counts.isna().any():
        parts.append(f"{int(counts.isna().sum())} without a record")
    return ("Concurrency: " + "; ".join(parts) + ". Cells that shared the machine share its cores, so their "
            "throughput is lower than alone; the size table's “cells at once” column says it per row.")
