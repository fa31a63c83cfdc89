"""The compression-vs-accuracy figure: one panel per kind, bits/pixel against the judge's error, the
full-data accuracy as the ceiling, the Pareto points numbered, the classical anchors drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.data.mnist import PIXELS
from bench.report import dataset_frontier, verdict
from bench.report.figures.style import (
    CEILING_STYLE,
    KIND_COLOURS,
    Figure,
    Styles,
    encode_figure,
    family_label,
    legend_outside,
    new_figure,
)
from bench.report.rows import KIND_LABELS, FullAccuracy, kind_order, pareto_mask


def merge_seeds(rows: pd.DataFrame) -> pd.DataFrame:
    """Configurations that differ only in their `seed` parameter become one point: mean and spread."""
    if rows.empty:
        return rows.assign(n_seeds=pd.Series(dtype=int))
    keyed = rows.assign(setting=rows["params"].map(dataset_frontier.without_seed), n_seeds=1)
    merged = []
    for _, group in keyed.groupby(["codec", "split", "setting"], sort=False):
        row = group.iloc[0].copy()
        if len(group) > 1:
            row["accuracy_pct"] = group["accuracy_pct"].mean()
            row["accuracy_std_pct"] = group["accuracy_pct"].std()
            row["total_bytes"] = group["total_bytes"].mean()
            row["head_bpp"] = group["head_bpp"].mean()
            row["raw_bytes"] = group["raw_bytes"].mean()
            row["n_seeds"] = len(group)
        merged.append(row)
    return pd.DataFrame(merged)


PANEL_LEGEND_ROWS = 8  # legend entries per column in the per-kind panels of the accuracy plot


#: Accuracy ticks of the compression-vs-accuracy plot (its y axis is scaled by the error rate).
ACCURACY_TICKS = [10, 20, 30, 50, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.8]


def _error_scale(ax) -> None:
    """y: accuracy (%) on a log scale of the error rate, so 98, 99 and 99.5% are as far apart as 60, 80, 90%."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    def forward(a):
        return -np.log10(np.clip(100.0 - np.asarray(a, float), 0.05, None))

    def inverse(y):
        return 100.0 - 10.0 ** (-np.asarray(y, float))

    ax.set_yscale("function", functions=(forward, inverse))
    ax.yaxis.set_major_locator(FixedLocator(ACCURACY_TICKS))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _accuracy_limits(values: pd.Series) -> tuple[float, float]:
    """y limits in accuracy (%) with a margin on the error-rate scale."""
    error = np.clip(100.0 - values.to_numpy(float), 0.1, 100)
    high, low = 100 - error.min() / 1.6, 100 - min(100.0, error.max() * 1.6)
    return max(low, 0.0), min(high, 99.95)


def _bpp_axis(ax, top: bool) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=20))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if top:
        bytes_per_bpp = PIXELS / 8
        secondary = ax.secondary_xaxis("top", functions=(lambda b: b * bytes_per_bpp, lambda n: n / bytes_per_bpp))
        secondary.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        secondary.set_xlabel("bytes per image (payload)")


def figure_accuracy(frame: pd.DataFrame, full: FullAccuracy, styles: Styles) -> Figure:
    figure = Figure("compression-vs-accuracy", "Compression vs accuracy")
    rows = merge_seeds(frame[frame["accuracy_pct"].notna() & (frame["head_bpp"] > 0)])
    if rows.empty:
        figure.missing = ("No accuracy in this table: no lossy or dataset codec with a downstream classifier "
                          "has run yet, and no full-data accuracy is recorded.")
        return figure
    figure.notes.update(drawn=True, seeds=bool(rows["n_seeds"].gt(1).any()))
    rows = rows.assign(ceiling=rows["family"].isin(styles.ceilings))
    kinds = sorted(rows.loc[~rows["ceiling"], "kind"].unique(), key=kind_order)
    per_kind = {kind: rows[rows["kind"].eq(kind) & ~rows["ceiling"]] for kind in kinds}
    columns = max([1 + (g["family"].nunique() + g["ceiling"].any() - 1) // PANEL_LEGEND_ROWS
                   for g in per_kind.values()] + [1])
    fig = new_figure(7.5 + 2.3 * columns, 5.6 + 2.3 * len(kinds))
    axes = fig.subplots(1 + len(kinds), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [2.6] + [1.0] * len(kinds)})[:, 0]
    main = axes[0]

    def draw(ax, group: pd.DataFrame, family: str, label: str | None) -> None:
        color, marker = styles(family)
        group = group.sort_values("head_bpp")
        lossless = group["kind"].eq("lossless").all()
        ceiling = family in styles.ceilings
        ax.plot(group["head_bpp"], group["accuracy_pct"], color=color, marker=marker, markersize=11 if ceiling else 6,
                zorder=3 if ceiling else 2,
                linewidth=1.0, alpha=0.9, linestyle="none" if lossless or len(group) == 1 else "-",
                markerfacecolor="none" if lossless else color, markeredgewidth=1.2, label=label)
        if group["accuracy_std_pct"].gt(0).any():  # spread over seeds or repetitions
            ax.errorbar(group["head_bpp"], group["accuracy_pct"], yerr=group["accuracy_std_pct"].fillna(0),
                        fmt="none", ecolor=color, elinewidth=0.8, capsize=2, alpha=0.8)

    for family, group in rows.groupby("family", sort=False):
        draw(main, group, family, None)
    frontier = rows[rows["pareto_accuracy"]].sort_values("head_bpp")
    if len(frontier):
        main.step(frontier["head_bpp"], frontier["accuracy_pct"], where="post", color="0.55", linewidth=1.0,
                  zorder=0)
        # Numbers, not names, beside the points (names overlap where the frontier is dense); the key
        # below the figure names them.
        key = []
        for i, (_, r) in enumerate(frontier.iterrows(), start=1):
            main.annotate(str(i), (r["head_bpp"], r["accuracy_pct"]), xytext=(4, 4) if i % 2 else (-10, -11),
                          textcoords="offset points", fontsize=8, fontweight="bold", color="0.1")
            key.append(f"{i} {r['config']}{'‡' if r['held_out'] else ''} ({r['head_bpp']:.4g} bpp, "
                       f"{r['accuracy_pct']:.2f}%)")
        figure.key = key
    if full.percent is not None:
        for ax in axes:
            ax.axhline(full.percent, color="0.25", linestyle="--", linewidth=0.9, zorder=0)
    # The main panel's legend names the kinds; the panels below name the families.
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=KIND_COLOURS[k][0] if k in KIND_COLOURS else "0.4", marker="o",
                      linestyle="none", markerfacecolor="none" if k == "lossless" else None,
                      label=KIND_LABELS.get(k, k)) for k in kinds]
    if rows["ceiling"].any():
        handles.append(Line2D([], [], color=CEILING_STYLE[0], marker=CEILING_STYLE[1], linestyle="none",
                              markersize=9, label="full training set (ceiling)"))
    if full.percent is not None:
        handles.append(Line2D([], [], color="0.25", linestyle="--", label=f"full-data accuracy ({full.percent:.2f}%)"))
    if len(frontier):
        handles.append(Line2D([], [], color="0.55", label="Pareto frontier (numbered)"))
    _error_scale(main)
    main.set_ylim(*_accuracy_limits(rows["accuracy_pct"]))
    main.set_ylabel("test accuracy (%)")
    main.set_title("every codec family", fontsize=10, loc="left")
    published = dataset_frontier.published_points()
    published_on = [main] + [ax for ax, kind in zip(axes[1:], kinds, strict=True) if kind == "dataset"]
    if "dataset" in kinds:
        figure.notes["published"] = True
        for ax in published_on:
            ax.plot(published["bpp"], published["accuracy_pct"], linestyle="none", marker="*", markersize=9,
                    color="0.6", markerfacecolor="none", zorder=1,
                    label="published distillation (not measured here)" if ax is not main else None)
        for _, r in published.iterrows():
            main.annotate(f"{r['method']} {r['images_per_class']}", (r["bpp"], r["accuracy_pct"]), xytext=(3, -9),
                          textcoords="offset points", fontsize=6, color="0.45")
        handles.append(Line2D([], [], color="0.6", marker="*", linestyle="none", markerfacecolor="none",
                              label="published distillation (not measured here)"))
    anchors = [a for a in verdict.pending_anchors(frame) if a["images"] == "test"] if full.percent is not None else []
    if anchors:
        figure.notes["anchors"] = [f"{a['label']}: {a['bpp']:.3f} bpp" for a in anchors]
        anchored_on = [main] + [ax for ax, kind in zip(axes[1:], kinds, strict=True) if kind == "lossless"]
        for ax in anchored_on:
            for anchor in anchors:
                ax.plot([anchor["bpp"]], [full.percent], linestyle="none", marker="D", markersize=8, color="0.5",
                        markerfacecolor="none", zorder=1)
                ax.annotate(anchor["label"], (anchor["bpp"], full.percent), xytext=(-6, 8), ha="right",
                            textcoords="offset points", fontsize=7, color="0.35")
        handles.append(Line2D([], [], color="0.5", marker="D", linestyle="none", markerfacecolor="none",
                              label="reference coder, measured outside this bench"))
    legend_outside(main, handles, [h.get_label() for h in handles], title="kind")
    for ax, kind in zip(axes[1:], kinds, strict=True):
        group_rows = per_kind[kind]
        ceiling = rows[rows["ceiling"]]
        for family, group in group_rows.groupby("family", sort=True):
            draw(ax, group, family, family_label(family, group))
        if kind == "dataset":
            best = group_rows[pareto_mask(group_rows["head_bpp"].to_numpy(),
                                          100 - group_rows["accuracy_pct"].to_numpy())].sort_values("head_bpp")
            ax.step(best["head_bpp"], best["accuracy_pct"], where="post", color=KIND_COLOURS["dataset"][0],
                    linewidth=1.0, alpha=0.6, zorder=0, label="best dataset codec at each size")
        for family, group in ceiling.groupby("family", sort=False):
            draw(ax, group, family, f"{family} (ceiling)")
        _error_scale(ax)
        shown = [group_rows["accuracy_pct"], ceiling["accuracy_pct"]] + ([published["accuracy_pct"]] if kind == "dataset" else [])
        ax.set_ylim(*_accuracy_limits(pd.concat(shown)))
        ax.set_ylabel("accuracy (%)", fontsize=9)
        n = group_rows["family"].nunique()
        ax.set_title(f"{KIND_LABELS.get(kind, kind)}: {n} famil{'y' if n == 1 else 'ies'}", fontsize=10, loc="left")
        legend_outside(ax, title=f"{kind} family", rows=PANEL_LEGEND_ROWS)
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=8)
    _bpp_axis(main, top=True)
    axes[-1].set_xlabel("bits per pixel (payload; held-out test images where ‡; log scale)")
    return encode_figure(figure, fig)
