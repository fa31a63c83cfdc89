"""The rate-distortion figure: PSNR against bits/pixel of every lossy family (held-out figures)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.data.mnist import PIXELS
from bench.report.figures.style import (
    Figure,
    Styles,
    encode_figure,
    family_label,
    legend_outside,
    log_scale,
    new_figure,
    plain_log_labels,
    width_for_legend,
)


def figure_rate_distortion(frame: pd.DataFrame, styles: Styles) -> Figure:
    figure = Figure("rate-distortion", "Rate-distortion of the lossy codecs")
    rows = frame[frame["kind"].eq("lossy") & np.isfinite(frame["head_psnr"]) & frame["head_bpp"].gt(0)]
    if rows.empty:
        figure.missing = "No lossy codec rows with a measured PSNR in this table."
        return figure
    figure.notes["held_out"] = bool(rows["held_out"].any())
    fig = new_figure(width_for_legend(rows.groupby(["family", "split"]).ngroups), 5)
    ax = fig.add_subplot()
    for (family, split), group in rows.groupby(["family", "split"], sort=True):
        color, marker = styles(family)
        group = group.sort_values("head_bpp")
        label = family_label(family, group) + ("" if rows["split"].nunique() == 1 else f" ({split})")
        ax.plot(group["head_bpp"], group["head_psnr"], color=color, marker=marker, linewidth=1.2, label=label)
    log = rows["head_bpp"].max() / rows["head_bpp"].min() > 8
    if log:
        log_scale(ax)
    bytes_per_bpp = PIXELS / 8
    # Made after the log scale: a secondary axis resets its formatters when the parent's scale changes.
    top = ax.secondary_xaxis("top", functions=(lambda b: b * bytes_per_bpp, lambda n: n / bytes_per_bpp))
    if log:
        plain_log_labels(top.xaxis, *ax.get_xlim())
    top.set_xlabel("bytes per image")
    ax.set_xlabel("bits per pixel (payload)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, which="both", alpha=0.3)
    legend_outside(ax, title="codec family")
    return encode_figure(figure, fig)
