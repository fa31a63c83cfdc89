"""The verdict: for each kind of coding, the strongest classical and the strongest neural codec of the
table, on the same images, each in its best framing, with the ratio between them and the weights a
neural decoder needs counted beside.

The kinds:
- **lossless, 8-bit**: the real MNIST pixels, checked image by image.
- **exact on binarised images**: codecs exact on the images binarised at 128 (`exact_source`), e.g.
  ar-mnist against the classical coders of the same bits (`bilevel`). Lossy against MNIST.
- **lossy, at a PSNR**: each series' bits/pixel at that PSNR, read off its rate-distortion curve
  (log-rate interpolated linearly between the two points that bracket it; never extrapolated).
- **dataset**: the most accurate coded training set within a byte budget.

"The same images": image codecs are compared on their headline figures, which on split `all` are the
10,000 test images coded alone (every image codec codes them, `test_*` columns), and otherwise the
split's own images; a comparison is made only between rows of one image set. Neural weights are
counted over the 70,000 images of the whole dataset (`WEIGHTS_OVER_IMAGES`): what a decoder holding
the whole of MNIST spends on them per pixel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.data.mnist import BINARISED, PIXELS
from bench.report.bd_rate import rd_curve, series_of

#: The images a neural codec's weights are shared over when its weights are counted in bits/pixel.
WEIGHTS_OVER_IMAGES = 70_000
#: The PSNRs (dB, of the mean squared error) at which the lossy sides are compared: the neural lossy codecs'
#: range (conv-ae 17-21 dB at the write-up's latents, pca-cnn and the hyperprior 23-31 dB).
LOSSY_PSNR_POINTS = (21.0, 23.0, 25.0, 30.0)
#: Byte budgets (payload) at which the dataset sides are compared.
DATASET_BUDGETS = (16_000, 64_000, 100_000)
SIDES = ("classical", "neural")
BINARISED_SOURCE = BINARISED

#: Figures measured outside this bench with a reference tool, shown labelled as such until a run of
#: the bench's own wrapper of the tool (codec `codec`) has a row on the same images. They are never
#: mixed into the bench's measurements: the report draws them apart and names their source.
EXTERNAL_ANCHORS = (
    {"codec": "paq8px", "label": "paq8px v216 -8, measured outside this bench", "images": "test",
     "payload_bytes": 900_342, "n_images": 10_000,
     "source": "issue 34: the 10,000 test images as one 2800x2800 PGM, lossless (checked), 373 s on one core"},
    {"codec": "paq8px", "label": "paq8px v216 -8, measured outside this bench", "images": "all",
     "payload_bytes": 5_953_724, "n_images": 70_000,
     "source": "issue 38: the 70,000 images as one 28-pixel-wide PGM, 2,769 s on one core"},
)


def anchor_bpp(anchor: dict) -> float:
    return 8.0 * anchor["payload_bytes"] / (anchor["n_images"] * PIXELS)


def image_set(row: pd.Series) -> str:
    """Which images a row's headline figures are of: "test" (the 10,000 test images, alone or as split
    `test`), else the split and its image count."""
    if bool(row.get("held_out")) or (row.get("split") == "test" and row.get("n_images") == 10_000):
        return "test"
    return f"{row.get('split')} ({int(row.get('n_images') or 0):,} images)"


IMAGE_SET_LABELS = {"test": "the 10,000 test images", "all": "all 70,000 images"}


def weights_bpp(model_bytes) -> float:
    """A decoder's weights, per pixel of the whole dataset."""
    model_bytes = 0.0 if model_bytes is None or model_bytes != model_bytes else float(model_bytes)
    return 8.0 * model_bytes / (WEIGHTS_OVER_IMAGES * PIXELS)


def _contestants(summary: pd.DataFrame) -> pd.DataFrame:
    frame = summary[summary["approach"].isin(SIDES)].copy()
    if frame.empty:
        return frame.assign(images=pd.Series(dtype=str), series=pd.Series(dtype=str),
                            bpp_with_weights=pd.Series(dtype=float))
    frame["images"] = [image_set(row) for _, row in frame.iterrows()]
    frame["series"] = [series_of(row) for _, row in frame.iterrows()]
    frame["bpp_with_weights"] = frame["head_bpp"] + frame["model_bytes"].map(weights_bpp)
    return frame


def _shared_image_set(frame: pd.DataFrame) -> str | None:
    """The image set both sides have rows of: the test images when they do, else the largest shared one."""
    shared = [s for s in dict.fromkeys(frame["images"])
              if {"classical", "neural"} <= set(frame.loc[frame["images"] == s, "approach"])]
    if not shared:
        return None
    return "test" if "test" in shared else shared[0]


def _strongest(rows: pd.DataFrame, by: str) -> pd.Series | None:
    rows = rows[np.isfinite(rows[by])]
    return None if rows.empty else rows.sort_values([by, "config"]).iloc[0]


def _entry(row: pd.Series | None, value: float, text: str, weights: bool) -> dict | None:
    if row is None:
        return None
    return {"config": row["config"], "value": float(value), "text": text,
            "model_bytes": float(row["model_bytes"]) if weights and row["model_bytes"] == row["model_bytes"] else 0.0}


def _bits_line(kind: str, label: str, frame: pd.DataFrame, images: str) -> dict | None:
    """Strongest of each side by bits/pixel; the neural side also with its weights counted."""
    rows = frame[frame["images"] == images]
    classical = _strongest(rows[rows["approach"] == "classical"], "head_bpp")
    neural = _strongest(rows[rows["approach"] == "neural"], "head_bpp")
    neural_weighted = _strongest(rows[rows["approach"] == "neural"], "bpp_with_weights")
    if classical is None and neural is None:
        return None
    line = {"kind": kind, "what": label, "images": IMAGE_SET_LABELS.get(images, images),
            "classical": _entry(classical, classical["head_bpp"] if classical is not None else np.nan,
                                f"{classical['head_bpp']:.3f} bpp" if classical is not None else "", False),
            "neural": _entry(neural, neural["head_bpp"] if neural is not None else np.nan,
                             f"{neural['head_bpp']:.3f} bpp" if neural is not None else "", True),
            "neural_weighted": _entry(neural_weighted, neural_weighted["bpp_with_weights"]
                                      if neural_weighted is not None else np.nan,
                                      f"{neural_weighted['bpp_with_weights']:.3f} bpp" if neural_weighted is not None
                                      else "", True)}
    return _with_outcome(line, lower_is_better=True)


def _whole_set_line(lossless: pd.DataFrame) -> dict | None:
    """Lossless on all 70,000 images, where a neural codec coded them all: its whole-set bits/pixel
    against the classical rows' and, where no row of its wrapper has coded them, an external anchor's
    figure on the same images (labelled as measured outside the bench)."""
    rows = lossless[lossless["split"].eq("all") & lossless["n_images"].eq(WEIGHTS_OVER_IMAGES)]
    if not rows["approach"].eq("neural").any():
        return None
    rows = rows.assign(head_bpp=rows["bpp"], bpp_with_weights=rows["bpp"] + rows["model_bytes"].map(weights_bpp),
                       images="all")
    anchors = [{"config": a["label"], "approach": "classical", "head_bpp": anchor_bpp(a), "model_bytes": 0.0,
                "images": "all"} for a in pending_anchors(lossless) if a["images"] == "all"]
    return _bits_line("lossless", "bits/pixel, 8-bit pixels", pd.concat([rows, pd.DataFrame(anchors)]), "all")


def _with_outcome(line: dict, lower_is_better: bool) -> dict:
    """The ratio neural / classical (payload only, then with weights) and who wins, weights counted."""
    classical, neural, weighted = line["classical"], line["neural"], line.get("neural_weighted") or line["neural"]
    line["ratio"] = line["ratio_weighted"] = None
    if classical is None or neural is None:
        line["outcome"] = "only " + ("neural" if classical is None else "classical") + " codecs in this table"
        return line
    if lower_is_better:
        line["ratio"] = neural["value"] / classical["value"]
        line["ratio_weighted"] = weighted["value"] / classical["value"]
        margin = weighted["value"] / classical["value"] - 1
        if abs(margin) < 1e-9:
            line["outcome"] = "tie"
        else:
            winner = "neural" if margin < 0 else "classical"
            line["outcome"] = (f"{winner} by {abs(margin):.1%} (weights counted: neural {weighted['value']:.3f} "
                               f"vs classical {classical['value']:.3f})")
    else:
        difference = neural["value"] - classical["value"]
        # Means over seeds win only where their 95% intervals do not overlap; one seed each, by any margin.
        overlap = np.nansum([neural.get("ci", np.nan), classical.get("ci", np.nan)])
        if abs(difference) < 1e-9 or abs(difference) <= overlap:
            line["outcome"] = "tie" + (f" within the 95% intervals ({difference:+.2f} points)" if overlap else "")
        else:
            line["outcome"] = f"{'neural' if difference > 0 else 'classical'} by {abs(difference):.2f} points"
    return line


def _bpp_at_psnr(rows: pd.DataFrame, target: float, rate: str) -> float:
    """A series' bits/pixel at `target` PSNR: log-rate interpolated between the two curve points around
    it; NaN outside the curve (no extrapolation)."""
    bpp, psnr = rd_curve(rows[rate], rows["head_psnr"])
    if len(bpp) == 0 or not psnr[0] <= target <= psnr[-1]:
        return float("nan")
    if len(bpp) == 1:
        return float(bpp[0])
    return float(np.exp(np.interp(target, psnr, np.log(bpp))))


def _lossy_line(frame: pd.DataFrame, images: str, target: float) -> dict | None:
    rows = frame[(frame["images"] == images) & frame["kind"].eq("lossy")]
    best: dict[str, dict | None] = {"classical": None, "neural": None, "neural_weighted": None}
    for series, group in rows.groupby("series"):
        side = group["approach"].iloc[0]
        value = _bpp_at_psnr(group, target, "head_bpp")
        if np.isfinite(value) and (best[side] is None or value < best[side]["value"]):
            best[side] = {"config": series, "value": value, "text": f"{value:.3f} bpp",
                          "model_bytes": float(group["model_bytes"].max()) if side == "neural" else 0.0}
        if side == "neural":
            weighted = value + weights_bpp(group["model_bytes"].max())
            if np.isfinite(weighted) and (best["neural_weighted"] is None
                                          or weighted < best["neural_weighted"]["value"]):
                best["neural_weighted"] = {"config": series, "value": weighted, "text": f"{weighted:.3f} bpp",
                                           "model_bytes": float(group["model_bytes"].max())}
    if best["classical"] is None and best["neural"] is None:
        return None
    line = {"kind": "lossy", "what": f"bits/pixel at {target:g} dB PSNR", "images": IMAGE_SET_LABELS.get(images, images),
            **best}
    return _with_outcome(line, lower_is_better=True)


def _accuracy_mean(rows: pd.DataFrame) -> pd.Series:
    """Each row's accuracy in percent: the mean over its seeds where the summary has one."""
    mean = rows["accuracy_mean_pct"] if "accuracy_mean_pct" in rows else pd.Series(np.nan, index=rows.index)
    return mean.fillna(rows["accuracy_pct"])


def _accuracy_entry(row: pd.Series | None, mean: float) -> dict | None:
    """A dataset contestant: its mean accuracy, and over several seeds its sd and 95% interval."""
    if row is None:
        return None
    n = int(row.get("n_reps", 1) or 1)
    ci = float(row.get("accuracy_ci_pct", np.nan)) if n > 1 else np.nan
    spread = f" ± {row['accuracy_sd_pct']:.2f}" if n > 1 else ""
    seeds = f", {n} seeds" if n > 1 else ""
    entry = _entry(row, mean, f"{mean:.2f}{spread}% ({int(row['payload_bytes']):,} B{seeds})", True)
    return {**entry, "ci": ci}


def _dataset_line(frame: pd.DataFrame, budget: int) -> dict | None:
    rows = frame[frame["kind"].eq("dataset") & (frame["payload_bytes"] <= budget) & frame["accuracy_pct"].notna()]
    rows = rows.assign(accuracy_by=_accuracy_mean(rows))
    best = {}
    for side in SIDES:
        side_rows = rows[rows["approach"] == side].sort_values(["accuracy_by", "payload_bytes"], ascending=[False, True])
        row = side_rows.iloc[0] if len(side_rows) else None
        best[side] = _accuracy_entry(row, row["accuracy_by"] if row is not None else np.nan)
    if best["classical"] is None and best["neural"] is None:
        return None
    line = {"kind": "dataset", "what": f"accuracy within {budget / 1000:g} KB", "images": "the 60,000 train images",
            **best, "neural_weighted": None}
    return _with_outcome(line, lower_is_better=False)


def verdict_lines(summary: pd.DataFrame) -> list[dict]:
    """The verdict's lines, in the order the report and the README show them."""
    frame = _contestants(summary)
    if frame.empty:
        return []
    lines = []
    lossless = frame[frame["kind"].eq("lossless")]
    images = _shared_image_set(lossless)
    if images is not None or len(lossless):
        images = images or lossless["images"].iloc[0]
        lines.append(_bits_line("lossless", "bits/pixel, 8-bit pixels", lossless, images))
    whole_set = _whole_set_line(lossless)
    if whole_set is not None:
        lines.append(whole_set)
    binarised = frame[frame["exact_source"].eq(BINARISED_SOURCE)] if "exact_source" in frame else frame.iloc[:0]
    if len(binarised):
        images = _shared_image_set(binarised) or binarised["images"].iloc[0]
        lines.append(_bits_line("exact on binarised", "bits/pixel, images binarised at 128", binarised, images))
    lossy = frame[frame["kind"].eq("lossy")]
    images = _shared_image_set(lossy)
    if images is not None:
        lines += [_lossy_line(lossy, images, target) for target in LOSSY_PSNR_POINTS]
    lines += [_dataset_line(frame, budget) for budget in DATASET_BUDGETS]
    return [line for line in lines if line is not None]


def _covers(row: pd.Series, images: str) -> bool:
    if images == "all":
        return row.get("split") == "all" and row.get("n_images") == WEIGHTS_OVER_IMAGES
    return image_set(row) == images


def pending_anchors(summary: pd.DataFrame) -> list[dict]:
    """The external anchors that no row of the table has replaced (the wrapper's row on the same images)."""
    shown = []
    for anchor in EXTERNAL_ANCHORS:
        rows = summary[summary["codec"] == anchor["codec"]]
        if not any(_covers(row, anchor["images"]) for _, row in rows.iterrows()):
            shown.append({**anchor, "bpp": anchor_bpp(anchor),
                          "images_label": IMAGE_SET_LABELS.get(anchor["images"], anchor["images"])})
    return shown


def binarised_table(summary: pd.DataFrame) -> list[dict]:
    """Every codec exact on the binarised images, neural and classical, on its headline images, smallest
    first: the comparison ar-mnist's bits/pixel call for (they code one bit of eight-bit pixels)."""
    frame = _contestants(summary)
    if frame.empty or "exact_source" not in frame:
        return []
    rows = frame[frame["exact_source"].eq(BINARISED_SOURCE)].sort_values(["head_bpp", "config"])
    payload = rows["test_payload_bytes"].where(rows["held_out"], rows["payload_bytes"]) if len(rows) else rows
    return [{"config": r["config"], "approach": r["approach"], "images": IMAGE_SET_LABELS.get(r["images"], r["images"]),
             "payload": f"{payload[i]:,.0f}", "bpp": f"{r['head_bpp']:.4f}",
             "model": f"{(r['model_bytes'] if r['model_bytes'] == r['model_bytes'] else 0):,.0f}",
             "bpp_with_weights": f"{r['bpp_with_weights']:.4f}",
             "enc": f"{r['enc_images_per_s']:,.0f}" if np.isfinite(r["enc_images_per_s"]) else "–",
             "dec": f"{r['dec_images_per_s']:,.0f}" if np.isfinite(r["dec_images_per_s"]) else "–"}
            for i, r in rows.iterrows()]
