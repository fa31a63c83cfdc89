"""The pictures: test digits beside each lossy configuration's reconstruction, and samples of each
dataset codec's decoded training set (from the per-cell artifacts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.figures.style import Figure, encode_figure, new_figure
from bench.report.tables import fmt_int
from bench.run import artifacts

GRID_DIGITS = 16  # test digits per row of the picture grid


GRID_MAX_ROWS = 40  # reconstructions shown at most (the grid stays readable with many rates)


def _lossy_with_artifacts(frame: pd.DataFrame, artifact_dir: Path, limit: int) -> list[tuple[pd.Series, dict]]:
    rows = frame[frame["kind"].eq("lossy")].sort_values(["family", "codec", "bpp"])
    found = []
    for _, row in rows.iterrows():
        if len(found) == limit:
            break
        sample = artifacts.load(artifact_dir, row["cell_key"])
        if sample is not None and "original" in sample:
            found.append((row, sample))
    return found


def _mosaic_rows(samples: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Stack rows of GRID_DIGITS digits into one grey image with thin separating lines."""
    height = 28 * len(samples) + gap * (len(samples) - 1)
    width = 28 * GRID_DIGITS + gap * (GRID_DIGITS - 1)
    canvas = np.full((height, width), 128, np.uint8)
    for r, images in enumerate(samples):
        for c, image in enumerate(images[:GRID_DIGITS]):
            canvas[r * (28 + gap): r * (28 + gap) + 28, c * (28 + gap): c * (28 + gap) + 28] = image
    return canvas


def _draw_grid(labels: list[str], samples: list[np.ndarray]):
    fig = new_figure(10, 0.62 * len(samples) + 0.4)
    ax = fig.add_subplot()
    ax.imshow(_mosaic_rows(samples), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * 30 + 14 for r in range(len(samples))], labels, fontsize=8)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(axis="y", length=0)
    return fig


def figure_grid(frame: pd.DataFrame, artifact_dir: Path) -> Figure:
    figure = Figure("reconstructions", "Test digits and their reconstructions", notes={"digits": GRID_DIGITS})
    found = _lossy_with_artifacts(frame, artifact_dir, GRID_MAX_ROWS)
    if not found:
        figure.missing = "No lossy codec rows with saved reconstructions (artifacts) in this run."
        return figure
    shown = found[:GRID_MAX_ROWS]
    n_lossy = int(frame["kind"].eq("lossy").sum())
    if n_lossy > len(shown):
        figure.notes.update(shown=len(shown), lossy=n_lossy)
    labels, samples, previous = [], [], None
    for row, sample in shown:
        digest = str(sample.get("split_digest", ""))
        if digest != previous:  # a new original sample (another split): show its originals first
            labels.append("original" if previous is None else f"original ({row['split']})")
            samples.append(sample["original"])
            previous = digest
        labels.append(f"{row['config']}  {row['bpp']:.2f} bpp, {row['psnr']:.1f} dB")
        samples.append(sample["decoded"])
    return encode_figure(figure, _draw_grid(labels, samples), crop=True)


def figure_dataset_samples(frame: pd.DataFrame, artifact_dir: Path) -> Figure:
    figure = Figure("dataset-samples", "Samples of the decoded training sets", notes={"digits": GRID_DIGITS})
    labels, samples = [], []
    for _, row in frame[frame["kind"].eq("dataset")].sort_values(["family", "codec", "payload_bytes"]).iterrows():
        sample = artifacts.load(artifact_dir, row["cell_key"])
        if sample is not None and len(sample.get("decoded", [])):
            labels.append(f"{row['config']}  {fmt_int(row['payload_bytes'])} B")
            samples.append(sample["decoded"])
    if not samples:
        figure.missing = "No dataset codec rows with saved samples in this run."
        return figure
    return encode_figure(figure, _draw_grid(labels[:GRID_MAX_ROWS], samples[:GRID_MAX_ROWS]), crop=True)
