"""The t-SNE figure: real test digits beside the write-up's autoencoder's reconstructions of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.figures.per_digit import autoencoder_selection
from bench.report.figures.style import Figure, encode_figure, legend_outside, new_figure
from bench.run import artifacts

TSNE_MAX_RECONSTRUCTIONS = 2  # the write-up's two settings (else the highest and lowest rate)


TSNE_ITERATIONS = 500


TSNE_IMAGES = 150  # per set: originals and each reconstruction


def figure_tsne(frame: pd.DataFrame, artifact_dir: Path) -> Figure:
    rows, which = autoencoder_selection(frame)
    figure = Figure("tsne", "t-SNE of originals and reconstructions",
                    notes={"iterations": TSNE_ITERATIONS, "images": TSNE_IMAGES, "which": which})
    pairs = []
    for _, row in rows.sort_values("bpp", ascending=False).iterrows():
        sample = artifacts.load(artifact_dir, row["cell_key"])
        if sample is not None and "original" in sample:
            if pairs and str(sample["split_digest"]) != str(pairs[0][1]["split_digest"]):
                continue  # one embedding needs one set of originals
            pairs.append((row, sample))
    if len(pairs) > TSNE_MAX_RECONSTRUCTIONS:  # the highest and the lowest rate show the most
        pairs = [pairs[0], pairs[-1]]
    if not pairs:
        figure.missing = "No saved reconstructions (artifacts) of lossy codecs in this run."
        return figure
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    original, labels = pairs[0][1]["original"][:TSNE_IMAGES], pairs[0][1]["labels"][:TSNE_IMAGES]
    sets = [original] + [sample["decoded"][:TSNE_IMAGES] for _, sample in pairs]
    stacked = np.concatenate([s.reshape(len(s), -1) for s in sets]).astype(np.float32) / 255.0
    # One thread: OpenMP threads of the Barnes-Hut gradient slow down ten-fold on a busy 2-core machine.
    with threadpool_limits(limits=1):
        reduced = PCA(n_components=min(50, *stacked.shape), random_state=0).fit_transform(stacked)
        embedded = TSNE(n_components=2, perplexity=min(30, len(stacked) - 1), init="pca", random_state=0,
                        max_iter=TSNE_ITERATIONS).fit_transform(reduced)
    titles = ["originals"] + [f"{row['config']}\n{row['bpp']:.2f} bpp, {row['psnr']:.1f} dB" for row, _ in pairs]
    fig = new_figure(3.3 * len(sets) + 1.2, 3.6)
    axes = fig.subplots(1, len(sets), sharex=True, sharey=True, squeeze=False)[0]
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    for i, (ax, title) in enumerate(zip(axes, titles, strict=True)):
        points = embedded[i * len(original): (i + 1) * len(original)]
        for digit in range(10):
            chosen = labels == digit
            ax.scatter(points[chosen, 0], points[chosen, 1], s=7, color=palette(digit), label=str(digit))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t-SNE 1 (arbitrary units)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("t-SNE 2 (arbitrary units)", fontsize=8)
    legend_outside(axes[-1], title="digit")
    return encode_figure(figure, fig)
