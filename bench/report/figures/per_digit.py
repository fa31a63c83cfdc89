"""The per-digit error figure of the write-up's autoencoder (the configurations playing its role)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.figures.style import Figure, Styles, encode_figure, legend_outside, new_figure
from bench.report.roles import AUTOENCODER_ROLE
from bench.report.rows import plays

PER_DIGIT_MAX_SERIES = 4


def _nominal_fraction(value: float) -> float:
    """The write-up's 'compression percentage' as a fraction, whether stored as 0.95 or 95."""
    return value / 100 if value > 1 else value


def _spread(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most `n` of the rows, spread evenly over their rates (lowest and highest included)."""
    ordered = rows.sort_values("bpp")
    index = np.unique(np.linspace(0, len(ordered) - 1, min(n, len(ordered))).round().astype(int))
    return ordered.iloc[index]


def autoencoder_selection(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The lossy rows that play the write-up's autoencoder (`AUTOENCODER_ROLE`), highest rate first;
    without any, a few lossy configurations spread over their rates, so the chart still compares
    something real."""
    lossy = frame[frame["kind"].eq("lossy") & frame["mse_digit0"].notna()]
    if lossy.empty:
        return lossy, "the lossy codecs"
    cast = lossy[plays(lossy, AUTOENCODER_ROLE)]
    if not cast.empty:
        if len(cast) > PER_DIGIT_MAX_SERIES:
            cast = _spread(cast, PER_DIGIT_MAX_SERIES)
        cast = cast.sort_values("bpp", ascending=False, kind="stable")
        return cast, f"the write-up's autoencoder settings ({', '.join(cast['config'].unique())})"
    return (_spread(lossy, PER_DIGIT_MAX_SERIES),
            f"lossy configurations spread over the measured rates (no row plays the {AUTOENCODER_ROLE} role)")


def _nominal_label(row: pd.Series) -> str:
    """The write-up's 'compression percentage' of a row, where it has one: '95% nominal, '."""
    if not np.isnan(row["nominal_compression_pct"]):
        return f"{row['nominal_compression_pct']:.3g}% nominal, "
    if not np.isnan(row["nominal_ratio"]):
        return f"{100 * _nominal_fraction(row['nominal_ratio']):g}% nominal, "
    return ""


def figure_per_digit(frame: pd.DataFrame, styles: Styles) -> Figure:
    rows, which = autoencoder_selection(frame)
    figure = Figure("per-digit-error", "Reconstruction error per digit", notes={"which": which})
    if rows.empty:
        figure.missing = "No lossy rows with per-digit errors (mse_digit0..9) in this table."
        return figure
    fig = new_figure(9, 4.2)
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    digits = np.arange(10)
    for i, (_, row) in enumerate(rows.iterrows()):
        values = [row[f"mse_digit{d}"] for d in digits]
        color = styles(row["family"])[0] if rows["family"].nunique() > 1 else None
        ax.bar(digits - 0.4 + width * (i + 0.5), values, width,
               label=f"{row['config']} ({_nominal_label(row)}{row['bpp']:.2f} bpp)",
               color=color, alpha=0.55 + 0.45 * (i + 1) / len(rows), edgecolor="0.2", linewidth=0.4)
    ax.set_xticks(digits)
    ax.set_xlabel("digit class")
    ax.set_ylabel("MSE per pixel ([0, 1] scale)")
    ax.grid(True, axis="y", alpha=0.3)
    legend_outside(ax)
    return encode_figure(figure, fig)
