"""Dataset codecs at equal bytes: the best accuracy of each family within each byte budget, and the
published dataset-distillation figures that no paper counted in bytes.

The published figures are reference points, not measurements of this bench: MNIST, ConvNet judge,
synthetic images stored as float32 in the papers; placed here at what the same number of images costs
as raw 8-bit pixels (784 B each), which is what a reader could store them in at most.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bench.data.mnist import N_CLASSES, PIXELS, TRAIN_IMAGES
from bench.report.rows import t_half_width

#: (method, images per class, test accuracy %, source).
PUBLISHED_DISTILLATION = (
    ("DC", 1, 91.7, "Zhao et al., Dataset Condensation with Gradient Matching, ICLR 2021"),
    ("DC", 10, 97.4, "Zhao et al., Dataset Condensation with Gradient Matching, ICLR 2021"),
    ("DC", 50, 98.8, "Zhao et al., Dataset Condensation with Gradient Matching, ICLR 2021"),
    ("DM", 1, 89.7, "Zhao & Bilen, Dataset Condensation with Distribution Matching, WACV 2023"),
    ("DM", 10, 97.5, "Zhao & Bilen, Dataset Condensation with Distribution Matching, WACV 2023"),
    ("DM", 50, 98.6, "Zhao & Bilen, Dataset Condensation with Distribution Matching, WACV 2023"),
    ("KIP-ConvNet", 1, 96.5, "Nguyen et al., Dataset Distillation with Infinitely Wide Convolutional Networks, 2021"),
    ("KIP-ConvNet", 10, 99.1, "Nguyen et al., Dataset Distillation with Infinitely Wide Convolutional Networks, 2021"),
    ("KIP-ConvNet", 50, 99.5, "Nguyen et al., Dataset Distillation with Infinitely Wide Convolutional Networks, 2021"),
)
TRAIN_PIXELS = TRAIN_IMAGES * PIXELS
#: The budgets of the table (bytes): about 1 KB to 100 KB.
BUDGETS = (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 100_000)
#: The families compared, in the table's column order (a family absent from the rows is left out).
FAMILIES = ("random-subset", "kmedoids-coreset", "compressed-random", "compressed-kmedoids", "distilled", "lgc")
BASELINE_FAMILY = "kmedoids-coreset"


def published_points() -> pd.DataFrame:
    """The published figures with their 8-bit storage cost and its bits per train pixel."""
    frame = pd.DataFrame(PUBLISHED_DISTILLATION, columns=["method", "images_per_class", "accuracy_pct", "source"])
    frame["bytes_8bit"] = frame["images_per_class"] * N_CLASSES * PIXELS
    frame["bpp"] = frame["bytes_8bit"] * 8 / TRAIN_PIXELS
    return frame


def without_seed(params) -> str:
    """A row's parameters (JSON) without `seed`: configurations that differ only by seed share it."""
    try:
        values = json.loads(params) if isinstance(params, str) else {}
    except ValueError:
        return str(params)
    return json.dumps({k: v for k, v in values.items() if k != "seed"}, sort_keys=True)


def _pooled(group: pd.DataFrame) -> tuple[float, float, int]:
    """(mean, standard deviation, count) of the accuracies (percent) of a setting's rows, each row the
    mean of its own seeds of the run (`n_reps` values, sd `accuracy_sd`) or one value."""
    n = group["n_reps"].to_numpy(float)
    means = group["accuracy_mean"].to_numpy(float) * 100
    sds = group["accuracy_sd"].fillna(0).to_numpy(float) * 100  # one value: no spread of its own
    total = n.sum()
    mean = float((n * means).sum() / total)
    if total < 2:
        return mean, np.nan, int(total)
    variance = (((n - 1) * sds**2).sum() + (n * (means - mean) ** 2).sum()) / (total - 1)
    return mean, float(np.sqrt(variance)), int(total)


def settings(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset-codec setting (its `seed` parameter's configurations and the run's seeds
    merged): mean, standard deviation and t interval (`ci`, half width) of the accuracy, the largest
    payload over the seeds (what a budget must hold), the number of values."""
    rows = summary[(summary["kind"] == "dataset") & summary["accuracy"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=["family", "config", "accuracy_pct", "accuracy_std_pct", "accuracy_ci_pct",
                                     "payload_bytes", "n_seeds"])
    keyed = rows.assign(setting=rows["params"].map(without_seed))
    merged = []
    for (family, _, _), group in keyed.groupby(["family", "codec", "setting"], sort=False):
        mean, sd, n = _pooled(group)
        merged.append({
            "family": family,
            "config": group["config"].iloc[0] if n == 1 else f"{group['config'].iloc[0]} ({n} seeds)",
            "accuracy_pct": mean,
            "accuracy_std_pct": sd,
            "accuracy_ci_pct": float(t_half_width(sd, n)),
            "payload_bytes": int(group["payload_bytes"].max()),
            "n_seeds": n,
        })
    return pd.DataFrame(merged)


def interval(row) -> tuple[float, float]:
    """The row's accuracy interval (percent): its t interval, or the point itself for one value."""
    half = row["accuracy_ci_pct"] if row["n_seeds"] > 1 and not np.isnan(row["accuracy_ci_pct"]) else 0.0
    return row["accuracy_pct"] - half, row["accuracy_pct"] + half


def ties_with(best, other) -> bool:
    """Whether `other` cannot be told from `best`: their intervals overlap (a single value is a point,
    which ties with an interval holding it)."""
    low, _ = interval(best)
    _, high = interval(other)
    return high >= low


def budget_table(summary: pd.DataFrame) -> dict | None:
    """Per budget, the best setting of each family whose payload fits it, and the overall best with its
    margin over the plain k-medoids coreset. None when the rows hold no dataset codec."""
    table = settings(summary)
    if table.empty:
        return None
    families = [f for f in FAMILIES if f in set(table["family"])]
    families += sorted(set(table["family"]) - set(families) - {"full-train-set"})
    rows = []
    for budget in BUDGETS:
        fits = table[table["payload_bytes"] <= budget]
        cells, best, tops = [], None, []
        for family in families:
            candidates = fits[fits["family"] == family]
            if candidates.empty:
                cells.append("–")
                continue
            top = candidates.loc[candidates["accuracy_pct"].idxmax()]
            spread = f" ± {top['accuracy_std_pct']:.2f}" if top["n_seeds"] > 1 else ""
            cells.append(f"{top['accuracy_pct']:.2f}{spread} ({top['payload_bytes']:,} B)")
            tops.append(top)
            if best is None or top["accuracy_pct"] > best["accuracy_pct"]:
                best = top
        baseline = fits[fits["family"] == BASELINE_FAMILY]
        margin = "–"
        if best is not None and not baseline.empty:
            margin = f"{best['accuracy_pct'] - baseline['accuracy_pct'].max():+.2f}"
        tied = [top for top in tops if best is not None and top is not best and ties_with(best, top)]
        if best is None:
            verdict = "–"
        elif tied:  # the intervals do not clear each other: no best
            verdict = "tie (intervals overlap): " + ", ".join(
                f"{top['config']} {top['accuracy_pct']:.2f}%" for top in [best, *tied])
        else:
            verdict = f"{best['config']}: {best['accuracy_pct']:.2f}%"
        rows.append({"budget": f"{budget:,}", "cells": cells, "best": verdict, "margin": margin})
    return {"families": families, "rows": rows}
