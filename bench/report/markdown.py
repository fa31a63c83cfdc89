"""The README's headline table, from a results table: one row per family, in Markdown.

`bench report SOURCE --headline` prints it. Each family is shown at one configuration: the smallest
headline bits/pixel (held-out where the row has it, marked ‡) among its configurations whose
accuracy is within `WITHIN_POINTS` of the judge's accuracy on the real training data; a family
that never gets that close is shown at its most accurate configuration (marked †). Every figure
comes from the table; the report holds every row.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bench.report import verdict
from bench.report.rows import (
    KIND_ORDER,
    accuracy_scale,
    annotate,
    full_data_accuracy,
    main_device,
    normalise,
    read_source,
    summarise,
    with_extra_tables,
)
from bench.report.tables import accuracy_text, fmt

#: How close to the full-data accuracy (percentage points) a configuration must come to be "as good".
WITHIN_POINTS = 1.0


def _pick(rows: pd.DataFrame, full_percent: float | None) -> tuple[pd.Series, bool]:
    """(the family's headline row, whether it reaches the accuracy bar)."""
    if full_percent is not None and rows["accuracy_pct"].notna().any():
        # With seeds, a configuration is within the bar when its interval reaches it.
        reach = rows["accuracy_mean_pct"].fillna(rows["accuracy_pct"]) + rows["accuracy_ci_pct"].fillna(0)
        close = rows[reach >= full_percent - WITHIN_POINTS]
        if len(close):
            return close.sort_values("head_bpp").iloc[0], True
        mean = rows["accuracy_mean_pct"].fillna(rows["accuracy_pct"])
        return rows.assign(mean=mean).sort_values(["mean", "head_bpp"], ascending=[False, True]).iloc[0], False
    return rows.sort_values("head_bpp").iloc[0], True


def headline_markdown(source: str | os.PathLike, extra_tables: list | None = None) -> str:
    """The verdict and the family table of a run folder or table file (with the rows of `extra_tables`
    appended, as `bench report --with` does)."""
    table, _, _ = read_source(source)
    if extra_tables:
        table = with_extra_tables(table, extra_tables)
    frame = normalise(table)
    scale = accuracy_scale(frame)
    device = main_device(frame)
    frame = frame[frame["device_type"] == device]
    full = full_data_accuracy(frame, scale)
    summary = annotate(summarise(frame), full, scale)
    lines = verdict_markdown(summary) + ["", *family_markdown(summary, full, device)]
    return "\n".join(lines)


def verdict_markdown(summary: pd.DataFrame) -> list[str]:
    """The verdict (`bench.report.verdict`), one line per kind and measure, external anchors after."""
    lines = ["| kind | measure | images | strongest classical | | strongest neural | | weights B "
             "| neural, weights counted | neural / classical (weights counted) | outcome |",
             "|---|---|---|---|---:|---|---:|---:|---:|---:|---|"]
    for v in verdict.verdict_lines(summary):
        classical, neural, weighted = v["classical"], v["neural"], v["neural_weighted"]
        ratio = (f"{v['ratio']:.3f}" + (f" ({v['ratio_weighted']:.3f})" if v["ratio_weighted"] != v["ratio"] else "")
                 if v["ratio"] is not None else "–")
        cells = [v["kind"], v["what"], v["images"],
                 f"`{classical['config']}`" if classical else "–", classical["text"] if classical else "–",
                 f"`{neural['config']}`" if neural else "–", neural["text"] if neural else "–",
                 fmt(neural["model_bytes"], ",.0f") if neural else "–", weighted["text"] if weighted else "–",
                 ratio, v["outcome"]]
        lines.append("| " + " | ".join(cells) + " |")
    for a in verdict.pending_anchors(summary):
        lines.append(f"| lossless | bits/pixel, 8-bit pixels | {a['images_label']} | {a['label']} | {a['bpp']:.3f} bpp "
                     f"| | | | | | anchor, not a row of this table: {a['payload_bytes']:,} B |")
    return lines


def family_markdown(summary: pd.DataFrame, full, device: str) -> list[str]:
    """One row per family at its headline configuration."""
    lines = [
        "| family | kind | configuration | bytes (payload) | weights | bits/pixel | PSNR dB | accuracy % "
        "| encode img/s | decode img/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    families = sorted(summary.groupby("family"), key=lambda item: (KIND_ORDER.get(item[1]["kind"].iloc[0], 9),
                                                                   item[1]["head_bpp"].min()))
    for family, rows in families:
        row, close = _pick(rows, full.percent)
        payload = row["test_payload_bytes"] if row["held_out"] else row["payload_bytes"]
        held = " ‡" if row["held_out"] else ""
        psnr = row["head_psnr"] if row["kind"] == "lossy" else np.nan
        lines.append(
            f"| {family} | {row['kind']} | `{row['config']}`{'' if close else ' †'} | {fmt(payload, ',.0f')}{held} "
            f"| {fmt(row['model_bytes'], ',.0f')} | {fmt(row['head_bpp'], '.3f')}{held} | {fmt(psnr, '.2f')} "
            f"| {accuracy_text(row)} | {fmt(row['enc_images_per_s'], ',.0f')} "
            f"| {fmt(row['dec_images_per_s'], ',.0f')} |")
    bar = f"{full.percent:.2f}%" if full.percent is not None else "not in this table"
    lines += ["", f"Accuracy bar: within {WITHIN_POINTS:g} point of the judge's accuracy on the real training "
                  f"images ({bar}, {full.source or 'no such row'}); † never reaches it (most accurate "
                  "configuration shown); ‡ the 10,000 test images coded alone (every image codec on split "
                  "`all`: the same images for every row); dataset codecs' bytes are the whole coded training "
                  f"set. Device: {device}."]
    return lines
