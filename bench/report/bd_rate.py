"""Bjøntegaard delta rate (BD-rate): how many percent more (positive) or fewer (negative) bits a codec
spends than an anchor codec for the same PSNR, averaged over the PSNR range both curves cover.

The computation is the one video and learned-image-compression papers report (Bjøntegaard, VCEG-M33,
2001, with the piecewise-cubic interpolation of VCEG-AL22 and the JVET common test conditions):
each curve is log(rate) as a function of PSNR, interpolated by a monotone piecewise-cubic Hermite
polynomial (PCHIP) through its points; the two are integrated over the overlap of their PSNR ranges;
the mean difference d of log-rates gives BD-rate = (exp(d) - 1) * 100.

A curve is the codec's rate-distortion points that no other point of the same codec beats (higher PSNR
at no more rate): PSNR must rise with rate for log(rate) to be a function of it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

#: Fewer points than this and a family gets no BD-rate (the issue's rule, and the JVET one: four rates).
MIN_POINTS = 4
#: The fixed anchors, by family name, in the table's column order (their one-file-per-image curves where
#: the table has both framings). The strongest classical curve of the table joins them first.
ANCHORS = ("webp-lossy", "jpeg")
FIXED_ANCHOR_FRAMING = "per-image"


def series_of(row) -> str:
    """A family's curve, per framing: one family's one-file-per-image and one-stream points are two
    curves ("jpeg [stream]"); a family without a framing parameter is one curve, named by the family."""
    try:
        params = json.loads(row["params"]) if isinstance(row.get("params"), str) else {}
    except ValueError:
        params = {}
    framing = params.get("framing") if isinstance(params, dict) else None
    return f"{row['family']} [{framing}]" if framing else str(row["family"])


def rd_curve(rate, psnr) -> tuple[np.ndarray, np.ndarray]:
    """The points of one codec, sorted by rate, that keep PSNR strictly rising (the others are beaten)."""
    rate, psnr = np.asarray(rate, float), np.asarray(psnr, float)
    keep = np.isfinite(rate) & np.isfinite(psnr) & (rate > 0)
    order = np.lexsort((-psnr[keep], rate[keep]))  # by rate; at equal rate the best PSNR first
    rate, psnr = rate[keep][order], psnr[keep][order]
    kept_rate, kept_psnr = [], []
    for r, p in zip(rate, psnr, strict=True):
        if not kept_psnr or p > kept_psnr[-1]:
            kept_rate.append(r)
            kept_psnr.append(p)
    return np.array(kept_rate), np.array(kept_psnr)


def bd_rate(anchor_rate, anchor_psnr, test_rate, test_psnr) -> float:
    """BD-rate of the test curve against the anchor, in percent; NaN where either curve has fewer than
    two usable points or their PSNR ranges do not overlap."""
    from scipy.integrate import quad
    from scipy.interpolate import PchipInterpolator

    curves = [rd_curve(anchor_rate, anchor_psnr), rd_curve(test_rate, test_psnr)]
    if any(len(rate) < 2 for rate, _ in curves):
        return float("nan")
    low = max(psnr[0] for _, psnr in curves)
    high = min(psnr[-1] for _, psnr in curves)
    if not high > low:
        return float("nan")
    # PCHIP through the points is exactly cubic between them; quad integrates it to rounding error.
    integrals = [quad(PchipInterpolator(psnr, np.log(rate)), low, high, limit=200)[0] for rate, psnr in curves]
    return float((np.exp((integrals[1] - integrals[0]) / (high - low)) - 1) * 100)


def psnr_overlap(anchor_psnr, test_psnr) -> tuple[float, float]:
    return max(np.nanmin(anchor_psnr), np.nanmin(test_psnr)), min(np.nanmax(anchor_psnr), np.nanmax(test_psnr))


def bd_rate_table(frame: pd.DataFrame, rate: str = "head_bpp", psnr: str = "head_psnr") -> dict | None:
    """Every lossy family with at least MIN_POINTS rate points: its BD-rate against each anchor family
    present, and the PSNR range that comparison covers. None without an anchor.

    The splits are pooled, as the report's Pareto marks pool them: bits per pixel and PSNR are averages
    over the images coded, so a curve measured on the test split and one on the whole dataset compare
    (a learned codec's headline figures are its held-out test images in either case)."""
    lossy = frame[frame["kind"].eq("lossy") & np.isfinite(frame[rate]) & np.isfinite(frame[psnr])
                  & frame[rate].gt(0)]
    lossy = lossy.assign(series=[series_of(row) for _, row in lossy.iterrows()])
    curves = {series: rd_curve(group[rate], group[psnr]) for series, group in lossy.groupby("series")}
    anchors = [next(s for s in (f"{a} [{FIXED_ANCHOR_FRAMING}]", a) if s in curves) for a in ANCHORS
               if f"{a} [{FIXED_ANCHOR_FRAMING}]" in curves or a in curves]
    if not anchors:
        return None
    strongest = strongest_classical(lossy, curves, anchors[0])
    if strongest is not None and strongest not in anchors:
        anchors.insert(0, strongest)
    rows = []
    for family in sorted(curves):
        group = lossy[lossy["series"] == family]
        if len(group) < MIN_POINTS:
            continue
        cells = []
        for anchor in anchors:
            if anchor == family:
                cells.append({"value": "–", "range": ""})
                continue
            value = bd_rate(*curves[anchor], *curves[family])
            low, high = psnr_overlap(curves[anchor][1], curves[family][1])
            cells.append({"value": "no overlap" if np.isnan(value) else f"{value:+.1f}%",
                          "range": f"{low:.1f}–{high:.1f} dB" if high > low else "", "number": value})
        rows.append({"family": family, "splits": ", ".join(sorted(group["split"].unique())), "points": len(group),
                     "curve_points": len(curves[family][0]), "cells": cells})
    if not rows:
        return None
    return {"anchors": anchors, "strongest_classical": strongest, "rows": rows, "min_points": MIN_POINTS}


def strongest_classical(lossy: pd.DataFrame, curves: dict, reference: str) -> str | None:
    """The classical curve with the lowest BD-rate against `reference` (itself included, at 0%), among
    those with MIN_POINTS points: the strongest classical contestant the table has."""
    if "approach" not in lossy:
        return None
    best, best_value = None, float("inf")
    for series, group in lossy[lossy["approach"].eq("classical")].groupby("series"):
        if len(group) < MIN_POINTS:
            continue
        value = 0.0 if series == reference else bd_rate(*curves[reference], *curves[series])
        if np.isfinite(value) and value < best_value:
            best, best_value = series, value
    return best
