"""The HTML report: one self-contained page rendered from a results table and the run's artifacts.

`render_report(source)` reads `source/results.parquet` (or `.csv`, or a table file), summarises the
repetitions of each configuration, draws the figures with matplotlib (Agg, no pyplot state) as base64
PNGs, and fills `template.html.j2` (beside this module, inside the package). The page loads nothing from anywhere: it opens from disk.

The report reads whatever rows the table holds: any column may be missing or NaN (codecs that have
not run simply have no rows), and every section without data says so instead of breaking.

It knows roles, not codec names: the figures draw one series per codec `family`, and the rows it
singles out (the autoencoder of the per-digit and t-SNE figures, the ceiling rows of the full-data
accuracy) are those whose `roles` say so. Codecs declare both when they register
(`register_codec(family=..., roles=...)`); the runner writes them into every row, and for a table
without them (an older run) they come from the registry, by codec name and parameters.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.mnist import PIXELS
from bench.errors import BenchError
from bench.report import bd_rate, dataset_frontier, verdict
from bench.report.roles import AUTOENCODER_ROLE, CEILING_ROLES
from bench.run import artifacts
from bench.run.measure import derived_columns
from bench.run.results import COLUMNS, load_table

TEMPLATE_DIR = Path(__file__).parent
TEMPLATE_NAME = "template.html.j2"
GRID_DIGITS = 16  # test digits per row of the picture grid
GRID_MAX_ROWS = 40  # reconstructions shown at most (the grid stays readable with many rates)
PER_DIGIT_MAX_SERIES = 4
TSNE_MAX_RECONSTRUCTIONS = 2  # the write-up's two settings (else the highest and lowest rate)
THROUGHPUT_MAX_BARS = 60  # beyond this many configurations the bars show one median per codec family
TSNE_ITERATIONS = 500
TSNE_IMAGES = 150  # per set: originals and each reconstruction
DPI = 100
LEGEND_ROWS = 24  # legend entries per column

#: Columns the report reads besides COLUMNS; any of them may be absent.
EXTRA_NUMERIC = ["nominal_ratio", "nominal_compression_pct", "ideal_bpp", "likelihood_bpp", "ratio_vs_gzip", "n_decoded", "accuracy_std",
                 "full_accuracy",
                 *(f"mse_digit{d}" for d in range(10)),
                 *(f"{prefix}{c}_bytes" for prefix in ("", "orig_") for c in artifacts.CONTAINERS)]
#: The held-out figures of a learned codec fitted on the train split, coded on the 10,000 test images alone
#: (rows of split `all`); where present they are the row's headline figures (`HEADLINE`).
HELD_OUT = ["test_payload_bytes", "test_bpp", "test_mse", "test_psnr", "test_psnr_image_mean"]
#: headline column: (held-out column, whole-split column)
HEADLINE = {"head_bpp": ("test_bpp", "bpp"), "head_mse": ("test_mse", "mse"), "head_psnr": ("test_psnr", "psnr"),
            "head_psnr_image_mean": ("test_psnr_image_mean", "psnr_image_mean")}
EXTRA_NUMERIC += [*HELD_OUT, "psnr_image_mean", "concurrent_cells"]
#: Text columns the report reads besides COLUMNS; any of them may be absent.
EXTRA_TEXT = ["classifier_protocol", "source_table", "exact_source", "run_id"]
NUMERIC = ["n_images", "repetition", "raw_bytes", "payload_bytes", "model_bytes", "total_bytes", "bpp", "ratio",
           "mse", "psnr", "accuracy", "fit_s", "enc_s", "dec_s", "wall_s", "images_per_s", "enc_images_per_s",
           "dec_images_per_s", "seed", *EXTRA_NUMERIC]
#: Summaries over repetitions take the median, except these (the worst case is what a reader needs).
MAX_OVER_REPETITIONS = ["concurrent_cells"]
KIND_ORDER = {"lossless": 0, "lossy": 1, "dataset": 2}
MAIN_DEVICE = "cpu"  # the device of the report's main section when the table has rows of it
CONTAINER_LABELS = {"txt": ".txt", "npy": ".npy", "txt_gz": ".txt.gz", "npy_gz": ".npy.gz"}
SPLIT_ORDER = {"all": 0, "test": 1, "train": 2}
#: 13 markers and 4 shades per kind: neighbours differ in both, and 52 families of one kind get distinct pairs.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "d", "H"]
#: Colour by kind: shades of one hue per kind; the ceiling (the full training set) is black.
KIND_COLOURS = {"lossless": ["#1f5fa8", "#17a2b8", "#6a8fd8", "#0b2e6b"],
                "lossy": ["#d62728", "#f28e1c", "#8c3b1f", "#e377c2"],
                "dataset": ["#2ca02c", "#7a9a01", "#105c2e", "#5fd35f"],
                "?": ["#9467bd", "#7f7f7f", "#4b2a7a", "#bcbd22"]}
CEILING_STYLE = ("#000000", "*")
KIND_LABELS = {"lossless": "lossless", "lossy": "lossy", "dataset": "dataset (coded training sets)"}


# ----------------------------------------------------------------------------------------- the data

def read_source(source: str | os.PathLike) -> tuple[pd.DataFrame, Path, Path]:
    """(table, artifact folder, default report path) for a run folder or a table file."""
    source = Path(source)
    table = load_table(source)
    if source.is_dir():
        return table, source / "artifacts", source / "report.html"
    return table, source.with_name(f"{source.stem}-artifacts"), source.with_suffix(".html")


def normalise(table: pd.DataFrame) -> pd.DataFrame:
    """Every column the report reads exists with a usable type, whatever the table had; of each
    configuration, the rows of its latest run only (`latest_runs`)."""
    frame = table.copy()
    for column in set(COLUMNS) | set(EXTRA_NUMERIC) | set(EXTRA_TEXT):
        if column not in frame:
            frame[column] = np.nan
    for column in NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["status"] = frame["status"].where(frame["status"].notna(), "ok").astype(str)
    frame["codec"] = frame["codec"].where(frame["codec"].notna(), frame["config"]).fillna("?").astype(str)
    frame["config"] = frame["config"].where(frame["config"].notna(), frame["codec"]).astype(str)
    frame["kind"] = frame["kind"].fillna("?").astype(str)
    with_family_and_roles(frame)
    frame["split"] = frame["split"].fillna("?").astype(str)
    frame["lossless_ok"] = frame["lossless_ok"].map(
        lambda v: v if isinstance(v, bool | np.bool_) else str(v).lower() == "true" if v == v else False)
    # Derivable columns a partial table may lack, computed as the runner computes them.
    derived = derived_columns(frame["payload_bytes"], frame["raw_bytes"], frame["model_bytes"].fillna(0),
                              frame["mse"], frame["enc_s"], frame["dec_s"], frame["n_images"])
    for column, values in derived.items():
        frame[column] = frame[column].fillna(values.replace([np.inf, -np.inf], np.nan) if column != "psnr" else values)
    frame["device_type"] = device_types(frame)
    frame["classifier_protocol"] = frame["classifier_protocol"].map(
        lambda v: v.strip() if isinstance(v, str) and v.strip() else np.nan)
    frame["run_id"] = run_ids(frame)
    return latest_runs(frame)


def run_ids(frame: pd.DataFrame) -> pd.Series:
    """The run that wrote each row: its `run_id`, else (a table older than that column) its command
    line less `--resume` (a resumed run is the same run; the output folder tells runs apart), with the
    table it came from."""
    def older(command, source) -> str:
        words = command.split() if isinstance(command, str) else ["?"]
        return " ".join(w for w in words if w != "--resume") + f" [{source if isinstance(source, str) else ''}]"

    derived = pd.Series([older(c, s) for c, s in zip(frame["command"], frame["source_table"], strict=True)],
                        index=frame.index, dtype=object)
    return frame["run_id"].where(frame["run_id"].map(lambda v: isinstance(v, str) and bool(v)), derived)


def latest_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Of each (configuration, split, device), the rows of the latest run that has any: a figure is
    never a median over rows of different runs (one collapsed and one good training would give a
    figure no run produced), and a spread is only ever over the repetitions of one run. The number of
    rows of earlier runs set aside is `frame.attrs["superseded"]`."""
    if frame.empty:
        frame.attrs["superseded"] = 0
        return frame
    started = pd.to_datetime(frame["started_at"], errors="coerce", utc=True)
    run_started = started.groupby(frame["run_id"]).transform("max")
    keys = [frame["config"], frame["split"], frame["device_type"]]
    latest = run_started.fillna(pd.Timestamp.min.tz_localize("UTC")).groupby(keys).transform("max")
    keep = run_started.eq(latest) | (run_started.isna() & latest.eq(pd.Timestamp.min.tz_localize("UTC")))
    # Two runs with the same start (or none) both count as latest: keep the last-listed of them.
    chosen = frame[keep]
    last_run = chosen.groupby([chosen["config"], chosen["split"], chosen["device_type"]])["run_id"].transform("last")
    chosen = chosen[chosen["run_id"].eq(last_run)]
    kept = chosen.copy()
    kept.attrs["superseded"] = len(frame) - len(kept)
    return kept


def device_types(frame: pd.DataFrame) -> pd.Series:
    """'cpu', 'cuda', ... of each row: its `device` ('cuda:0' is 'cuda'), else the prefix of its
    `device_name` ('cuda: NVIDIA H100'), else 'cpu'."""
    def kind(device, name) -> str:
        for value in (device, name):
            if isinstance(value, str) and value.strip():
                return value.split(":")[0].strip().lower() or MAIN_DEVICE
        return MAIN_DEVICE

    return pd.Series([kind(d, n) for d, n in zip(frame["device"], frame["device_name"], strict=True)],
                     index=frame.index, dtype=object)


def with_headline(frame: pd.DataFrame) -> pd.DataFrame:
    """The headline figures: held-out (test) bpp, MSE and PSNR where the row has them, else the whole split's."""
    frame = frame.copy()
    for head, (held_out, whole) in HEADLINE.items():
        frame[head] = frame[held_out].where(frame[held_out].notna(), frame[whole])
    frame["held_out"] = frame["test_bpp"].notna()
    # A row's test figures are the held-out ones; the headline MSE and PSNR follow the bits they go with.
    for head in ("head_mse", "head_psnr", "head_psnr_image_mean"):
        frame.loc[frame["held_out"] & frame[HEADLINE[head][0]].isna(), head] = np.nan
    return frame


def _params(value) -> dict:
    try:
        params = json.loads(value) if isinstance(value, str) else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _role_text(value) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return ",".join(str(v) for v in value)
    return "" if value is None or value != value else str(value)


def with_family_and_roles(frame: pd.DataFrame) -> None:
    """`family`, `roles` and `approach` of every row: the row's own (the runner writes them), else the
    registry's (`report_columns`, by codec name and parameters) for a row without them (an older table)."""
    for column in ("family", "roles", "approach"):
        if column not in frame:
            frame[column] = np.nan
        frame[column] = frame[column].astype(object)
    # A row with a family is the runner's: its roles are what it says (none where empty). A row without
    # one (an older table) takes all three from the registry; one without an approach, that alone.
    from bench.api.registry import report_columns

    for columns, missing in ((("family", "roles", "approach"), frame["family"].isna()),
                             (("approach",), frame["approach"].isna())):
        if not missing.any():
            continue
        keys = list(zip(frame.loc[missing, "codec"], frame.loc[missing, "params"].map(
            lambda p: p if isinstance(p, str) else ""), strict=True))
        derived = {key: report_columns(key[0], _params(key[1])) for key in dict.fromkeys(keys)}
        for column in columns:
            frame.loc[missing, column] = [derived[key][column] for key in keys]
    frame["family"] = frame["family"].astype(str)
    frame["approach"] = frame["approach"].fillna("").astype(str)
    frame["roles"] = frame["roles"].map(_role_text)


def plays(frame: pd.DataFrame, role: str) -> pd.Series:
    """Rows whose configuration plays `role`."""
    return frame["roles"].map(lambda roles: role in roles.split(","))


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, split): medians over the repetitions of successful cells."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty:
        return ok.assign(n_reps=pd.Series(dtype=float))
    keys = ["config", "split", "device_type"]
    grouped = ok.groupby(keys, sort=False, dropna=False)
    numeric = grouped[[c for c in NUMERIC if c != "repetition" and c not in MAX_OVER_REPETITIONS]].median()
    numeric = numeric.join(grouped[MAX_OVER_REPETITIONS].max())
    others = grouped[[c for c in ok.columns if c not in NUMERIC and c not in keys]].first()
    summary = numeric.join(others).reset_index()
    counts = grouped.size().rename("n_reps").reset_index()
    summary = summary.merge(counts, on=keys)
    spread = grouped["accuracy"].std().rename("accuracy_rep_std").reset_index()
    summary = summary.merge(spread, on=keys)
    summary["accuracy_std"] = summary["accuracy_std"].fillna(summary["accuracy_rep_std"])
    return summary


def accuracy_scale(frame: pd.DataFrame) -> float:
    """Accuracies are stored as fractions (0..1); a table holding percentages is read as such."""
    values = pd.concat([frame["accuracy"], frame["full_accuracy"]]).dropna()
    return 1.0 if len(values) and values.max() > 1.0 else 100.0


@dataclass
class FullAccuracy:
    percent: float | None
    source: str


def full_data_accuracy(frame: pd.DataFrame, scale: float) -> FullAccuracy:
    """The classifier's accuracy on the real training data: the ceiling every codec is judged against."""
    if frame["full_accuracy"].notna().any():
        return FullAccuracy(scale * frame["full_accuracy"].dropna().median(), "the `full_accuracy` column")
    for role in (*CEILING_ROLES, None):
        rows = frame[frame["kind"] == "lossless"] if role is None else frame[plays(frame, role)]
        rows = rows[rows["accuracy"].notna()]
        if len(rows):
            codecs = ", ".join(dict.fromkeys(rows["codec"]))
            label = "the lossless rows" if role is None else f"the {codecs} row{'s' if len(rows) > 1 else ''}"
            return FullAccuracy(scale * rows["accuracy"].median(), label)
    return FullAccuracy(None, "")


def pareto_mask(size: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Rows no other row beats on both size and loss (lower is better for both; NaN never optimal)."""
    size, loss = np.asarray(size, float), np.asarray(loss, float)
    valid = np.isfinite(size) & ~np.isnan(loss)
    s, e = size[valid], loss[valid]
    no_worse = (s[None, :] <= s[:, None]) & (e[None, :] <= e[:, None])
    better = (s[None, :] < s[:, None]) | (e[None, :] < e[:, None])
    dominated = (no_worse & better).any(axis=1)
    mask = np.zeros(len(size), bool)
    mask[np.flatnonzero(valid)[~dominated]] = True
    return mask


def annotate(summary: pd.DataFrame, full: FullAccuracy, scale: float) -> pd.DataFrame:
    """Accuracy in percent (lossless rows at the full-data accuracy), the headline figures, and the Pareto
    marks of the headline bits per pixel against MSE and accuracy, per device (all splits together: bits
    per pixel compare rates over any number of images)."""
    frame = with_headline(summary)
    frame["accuracy_pct"] = frame["accuracy"] * scale
    frame["accuracy_std_pct"] = frame["accuracy_std"] * scale
    frame["accuracy_from_full"] = False
    if full.percent is not None:
        inherit = frame["accuracy_pct"].isna() & frame["kind"].eq("lossless")
        frame.loc[inherit, "accuracy_pct"] = full.percent
        frame.loc[inherit, "accuracy_from_full"] = True
    frame["pareto_error"] = False
    frame["pareto_accuracy"] = False
    for _, rows in frame.groupby("device_type"):
        frame.loc[rows.index, "pareto_error"] = pareto_mask(rows["head_bpp"], rows["head_mse"])
        frame.loc[rows.index, "pareto_accuracy"] = pareto_mask(rows["head_bpp"], -rows["accuracy_pct"])
    return frame


def ordered_splits(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["split"].unique(), key=lambda s: (SPLIT_ORDER.get(s, 9), s))


# ---------------------------------------------------------------------------------------- formatting

def _fmt(value, spec: str, missing: str = "–") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return missing
    if isinstance(value, float) and np.isinf(value):
        return "∞"
    return format(value, spec)


def _fmt_int(value) -> str:
    return _fmt(value if value is None or np.isnan(value) else int(round(value)), ",d")


def _kind_order(kind: str) -> tuple:
    return KIND_ORDER.get(kind, 9), kind


def _marked(value: str, held_out: bool) -> str:
    return value + "‡" if held_out and value != "–" else value


def size_table(frame: pd.DataFrame, split: str) -> dict:
    """The rows of one split, grouped by kind (lossless, lossy, dataset), each group by headline bits per pixel.

    The headline bits per pixel, MSE and PSNR are held-out (‡) where the row has them; the whole split's
    figures are then shown in their own columns too."""
    rows = frame[frame["split"] == split]
    optional = [(c, label) for c, label in (("nominal_ratio", "nominal ratio (write-up)"),
                                             ("ideal_bpp", "ideal bpp (model estimate)"),
                                             ("likelihood_bpp", "likelihood bpp (training model)"),
                                             ("ratio_vs_gzip", "ratio vs gzip"))
                if rows[c].notna().any()]
    any_held_out = bool(rows["held_out"].any())
    any_concurrency = bool(rows["concurrent_cells"].notna().any())
    groups = []
    for kind in sorted(rows["kind"].unique(), key=_kind_order):
        group = rows[rows["kind"] == kind].sort_values(["head_bpp", "total_bytes", "config"], na_position="last")
        body = []
        for _, r in group.iterrows():
            accuracy = _fmt(r["accuracy_pct"], ".2f")
            if r["accuracy_from_full"]:
                accuracy += "†"
            elif not np.isnan(r["accuracy_std_pct"]) and r["accuracy_std_pct"] > 0:
                accuracy += f" ± {r['accuracy_std_pct']:.2f}"
            held = bool(r["held_out"])
            exact_on = r["exact_source"] if isinstance(r["exact_source"], str) else ""
            family = f"{r['family']} (exact on {exact_on})" if exact_on else r["family"]
            head_bpp = r["head_bpp"]
            pixels = r["raw_bytes"]  # one byte per pixel
            total_bpp = 8 * r["total_bytes"] / pixels if pixels > 0 else np.nan
            body.append({
                "config": r["config"], "kind": r["kind"], "approach": r["approach"], "family": family, "n_images": _fmt_int(r["n_images"]),
                "payload": _fmt_int(r["payload_bytes"]), "model": _fmt_int(r["model_bytes"]),
                "total": _fmt_int(r["total_bytes"]), "total_bpp": _fmt(total_bpp, ".3f"),
                "per_image": _fmt(r["payload_bytes"] / r["n_images"], ",.1f"),
                "bpp": _marked(_fmt(head_bpp, ".3f"), held),
                "bpp_whole": _fmt(r["bpp"], ".3f"),
                "ratio": _fmt(8 / head_bpp if head_bpp > 0 else np.nan, ".2f"),
                "saved": _fmt(100 * (1 - head_bpp / 8), ".1f"),
                "mse": _marked("0" if r["head_mse"] == 0 else _fmt(r["head_mse"], ".5f"),
                               held and not np.isnan(r["test_mse"])),
                "mse_whole": "0" if r["mse"] == 0 else _fmt(r["mse"], ".5f"),
                "psnr": _marked(_fmt(r["head_psnr"], ".2f"), held and not np.isnan(r["test_psnr"])),
                "psnr_whole": _fmt(r["psnr"], ".2f"),
                "psnr_image_mean": _marked(_fmt(r["head_psnr_image_mean"], ".2f"),
                                           held and not np.isnan(r["test_psnr_image_mean"])),
                "accuracy": accuracy, "held_out": held,
                "throughput": _fmt_int(r["images_per_s"]),
                "concurrent": _fmt_int(r["concurrent_cells"]),
                "optional": [_fmt(r[c], ".3f") for c, _ in optional],
                "pareto_error": bool(r["pareto_error"]), "pareto_accuracy": bool(r["pareto_accuracy"]),
                "lossless_failed": (r["kind"] == "lossless" or bool(exact_on)) and not r["lossless_ok"],
            })
        groups.append({"kind": kind, "label": KIND_LABELS.get(kind, kind), "rows": body})
    n_images = rows["n_images"].dropna()
    return {"split": split, "groups": groups, "rows": [r for g in groups for r in g["rows"]],
            "optional": [label for _, label in optional], "held_out": any_held_out,
            "concurrency": any_concurrency,
            "n_columns": 19 + len(optional) + 3 * any_held_out + any_concurrency,
            "n_images": _fmt_int(n_images.max()) if len(n_images) else "?"}


def container_tables(frame: pd.DataFrame) -> list[dict]:
    """The BiCAN write-up's table: the original in .txt/.npy/.txt.gz/.npy.gz against each output."""
    orig_columns = [f"orig_{c}_bytes" for c in artifacts.CONTAINERS]
    rows = frame[frame["txt_bytes"].notna() & frame[orig_columns].notna().all(axis=1)]
    tables = []
    for original, group in rows.groupby(orig_columns, sort=False):
        group = group.sort_values(["npy_gz_bytes", "config"])
        first = group.iloc[0]
        subject = ("training set" if first["kind"] == "dataset" else f"split {first['split']}")
        body = [{"config": "original", "cells": [_fmt_int(v) for v in original], "is_original": True}]
        for _, r in group.iterrows():
            cells = []
            for container, base in zip(artifacts.CONTAINERS, original, strict=True):
                size = r[f"{container}_bytes"]
                cells.append(f"{_fmt_int(size)} ({100 * (size / base - 1):+.1f}%)".replace("-", "−"))
            body.append({"config": r["config"], "cells": cells, "is_original": False})
        n = first["n_decoded"] if first["kind"] == "dataset" else first["n_images"]
        tables.append({"subject": subject, "n_images": _fmt_int(first["n_images"]), "n_decoded": _fmt_int(n),
                       "headers": [CONTAINER_LABELS[c] for c in artifacts.CONTAINERS], "rows": body})
    return tables


# ------------------------------------------------------------------------------------------ figures

@dataclass
class Figure:
    id: str
    title: str
    caption: str = ""
    png: str | None = None  # base64
    key: list[str] = field(default_factory=list)  # what the numbers in the figure stand for
    missing: str = ""  # why there is no figure
    width: int = 0
    height: int = 0


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=(width, height), dpi=DPI, layout="constrained")


def _encode(figure, fig, crop: bool = False) -> Figure:
    """PNG of `fig`; `crop` trims empty margins (image grids, whose aspect the layout keeps)."""
    buffer = io.BytesIO()
    # The constrained layout already makes room for the legends; cropping costs one more drawing pass.
    fig.savefig(buffer, format="png", dpi=DPI, **({"bbox_inches": "tight", "pad_inches": 0.05} if crop else {}))
    data = buffer.getvalue()
    figure.png = base64.b64encode(data).decode("ascii")
    figure.width, figure.height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return figure


def _log_scale(ax, axis: str = "x") -> None:
    """Log scale; over short ranges with plain numbers (2, 5, 10) instead of 2x10^0 (and minor labels)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    _plain_log_labels(ax.xaxis if axis == "x" else ax.yaxis, *(ax.get_xlim() if axis == "x" else ax.get_ylim()))


def _plain_log_labels(target, low: float, high: float) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    span = high / max(low, 1e-12)
    if span < 1000:
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        target.set_major_formatter(plain)
        target.set_minor_formatter(plain if span < 30 else NullFormatter())


def _width_for_legend(n_entries: int, base: float = 7.5) -> float:
    """Figure width that leaves the data area its size when the legend needs several columns."""
    return base + 2.3 * (1 + (n_entries - 1) // LEGEND_ROWS)


def _legend_outside(ax, handles=None, labels=None, title=None, rows: int = LEGEND_ROWS) -> None:
    """Legends sit right of the axes, never over the data; long ones split into columns of `rows` entries."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
              title=title, title_fontsize=8, ncol=1 + (len(handles) - 1) // rows, frameon=False)


@dataclass
class Styles:
    """One colour and marker per codec family, the same in every figure: the colour says the kind
    (shades of blue: lossless, red/orange: lossy, green: dataset; black: the full-training-set ceiling),
    the marker and shade tell the families of a kind apart. No two families share both."""

    families: list[str]
    kinds: dict = field(default_factory=dict)  # family -> kind
    ceilings: set = field(default_factory=set)  # families that play the dataset ceiling
    _map: dict = field(default_factory=dict)

    def __post_init__(self):
        seen: dict[str, int] = {}
        for family in self.families:
            if family in self.ceilings:
                self._map[family] = CEILING_STYLE
                continue
            kind = self.kinds.get(family, "?")
            shades = KIND_COLOURS.get(kind, KIND_COLOURS["?"])
            i = seen.get(kind, 0)
            seen[kind] = i + 1
            # 13 markers against 4 shades: the pair repeats only after 52 families of one kind.
            self._map[family] = (shades[i % len(shades)], MARKERS[i % len(MARKERS)])

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Styles:
        """The styles of every family in `frame`: its kind the kind of most of its rows."""
        if frame.empty:
            return cls([])
        kinds = frame.groupby("family")["kind"].agg(lambda k: k.value_counts().index[0]).to_dict()
        ceilings = set(frame.loc[plays(frame, CEILING_ROLES[0]), "family"])
        order = sorted(kinds, key=lambda f: (_kind_order(kinds[f]), f))
        return cls(order, kinds, ceilings)

    def __call__(self, family: str):
        return self._map.get(family, ("0.4", "o"))


def _merge_seeds(rows: pd.DataFrame) -> pd.DataFrame:
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


def _family_label(family: str, group: pd.DataFrame) -> str:
    return family + ("‡" if group["held_out"].any() else "")


def figure_accuracy(frame: pd.DataFrame, full: FullAccuracy, styles: Styles) -> Figure:
    figure = Figure("compression-vs-accuracy", "Compression vs accuracy",
                    "x: payload bits per pixel of each row's own data (log scale; ‡: learned codecs at their "
                    "held-out figure, the 10,000 test images coded by a model fitted on the train split); "
                    "y: test accuracy (%) on the real 10,000 test images of the classifier trained on the "
                    "decoded training set, on a log scale of the error rate. Colour: the kind (blue lossless, "
                    "red/orange lossy, green dataset codecs, black the full training set); marker and shade: "
                    "the codec family. Lossless codecs (hollow) sit at the full-data accuracy. The grey steps "
                    "join the Pareto-optimal points (no other point is smaller and more accurate), which are "
                    "numbered (the key below the figure names them). Below, one panel per kind on the same "
                    "x axis, each with its own legend.")
    rows = _merge_seeds(frame[frame["accuracy_pct"].notna() & (frame["head_bpp"] > 0)])
    if rows.empty:
        figure.missing = ("No accuracy in this table: no lossy or dataset codec with a downstream classifier "
                          "has run yet, and no full-data accuracy is recorded.")
        return figure
    if rows["n_seeds"].gt(1).any():
        figure.caption += " Codecs run with several seeds: mean and standard deviation over the seeds."
    figure.caption += " Model bytes are not in x (see the table's total columns)."
    rows = rows.assign(ceiling=rows["family"].isin(styles.ceilings))
    kinds = sorted(rows.loc[~rows["ceiling"], "kind"].unique(), key=_kind_order)
    per_kind = {kind: rows[rows["kind"].eq(kind) & ~rows["ceiling"]] for kind in kinds}
    columns = max([1 + (g["family"].nunique() + g["ceiling"].any() - 1) // PANEL_LEGEND_ROWS
                   for g in per_kind.values()] + [1])
    fig = _new_figure(7.5 + 2.3 * columns, 5.6 + 2.3 * len(kinds))
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
        figure.caption += (" Grey stars: published dataset-distillation figures (DC, DM, KIP-ConvNet at 1/10/50 "
                           "images per class; ConvNet judge, their own protocol), placed at the bytes of that "
                           "many 8-bit images: published, not measured here. In the dataset panel the green "
                           "steps join the best dataset codec at each size.")
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
        figure.caption += (" Grey diamonds: lossless reference coders measured outside this bench on the same "
                           "10,000 test images (" + "; ".join(f"{a['label']}: {a['bpp']:.3f} bpp" for a in anchors)
                           + "), at the full-data accuracy as every lossless codec: anchors, not rows of this table.")
        anchored_on = [main] + [ax for ax, kind in zip(axes[1:], kinds, strict=True) if kind == "lossless"]
        for ax in anchored_on:
            for anchor in anchors:
                ax.plot([anchor["bpp"]], [full.percent], linestyle="none", marker="D", markersize=8, color="0.5",
                        markerfacecolor="none", zorder=1)
                ax.annotate(anchor["label"], (anchor["bpp"], full.percent), xytext=(-6, 8), ha="right",
                            textcoords="offset points", fontsize=7, color="0.35")
        handles.append(Line2D([], [], color="0.5", marker="D", linestyle="none", markerfacecolor="none",
                              label="reference coder, measured outside this bench"))
    _legend_outside(main, handles, [h.get_label() for h in handles], title="kind")
    for ax, kind in zip(axes[1:], kinds, strict=True):
        group_rows = per_kind[kind]
        ceiling = rows[rows["ceiling"]]
        for family, group in group_rows.groupby("family", sort=True):
            draw(ax, group, family, _family_label(family, group))
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
        _legend_outside(ax, title=f"{kind} family", rows=PANEL_LEGEND_ROWS)
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=8)
    _bpp_axis(main, top=True)
    axes[-1].set_xlabel("bits per pixel (payload; held-out test images where ‡; log scale)")
    return _encode(figure, fig)


def figure_rate_distortion(frame: pd.DataFrame, styles: Styles) -> Figure:
    figure = Figure("rate-distortion", "Rate-distortion of the lossy codecs",
                    "x: payload bits per pixel (bottom) and bytes per image (top); y: PSNR in dB on a [0, 1] "
                    "pixel scale (higher is better). Model bytes are not in the payload (see the table's "
                    "total column).")
    rows = frame[frame["kind"].eq("lossy") & np.isfinite(frame["head_psnr"]) & frame["head_bpp"].gt(0)]
    if rows.empty:
        figure.missing = "No lossy codec rows with a measured PSNR in this table."
        return figure
    if rows["held_out"].any():
        figure.caption += (" ‡: learned codecs at their held-out figures (the 10,000 test images coded alone "
                           "by a model fitted on the train split).")
    fig = _new_figure(_width_for_legend(rows.groupby(["family", "split"]).ngroups), 5)
    ax = fig.add_subplot()
    for (family, split), group in rows.groupby(["family", "split"], sort=True):
        color, marker = styles(family)
        group = group.sort_values("head_bpp")
        label = _family_label(family, group) + ("" if rows["split"].nunique() == 1 else f" ({split})")
        ax.plot(group["head_bpp"], group["head_psnr"], color=color, marker=marker, linewidth=1.2, label=label)
    log = rows["head_bpp"].max() / rows["head_bpp"].min() > 8
    if log:
        _log_scale(ax)
    bytes_per_bpp = PIXELS / 8
    # Made after the log scale: a secondary axis resets its formatters when the parent's scale changes.
    top = ax.secondary_xaxis("top", functions=(lambda b: b * bytes_per_bpp, lambda n: n / bytes_per_bpp))
    if log:
        _plain_log_labels(top.xaxis, *ax.get_xlim())
    top.set_xlabel("bytes per image")
    ax.set_xlabel("bits per pixel (payload)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax, title="codec family")
    return _encode(figure, fig)


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
    fig = _new_figure(10, 0.62 * len(samples) + 0.4)
    ax = fig.add_subplot()
    ax.imshow(_mosaic_rows(samples), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * 30 + 14 for r in range(len(samples))], labels, fontsize=8)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(axis="y", length=0)
    return fig


def figure_grid(frame: pd.DataFrame, artifact_dir: Path) -> Figure:
    figure = Figure("reconstructions", "Test digits and their reconstructions",
                    f"The first {GRID_DIGITS} test digits of the run (top row of each block) and each lossy "
                    "codec's reconstruction of them, one row per codec and rate, labelled with its bits per "
                    "pixel and PSNR.")
    found = _lossy_with_artifacts(frame, artifact_dir, GRID_MAX_ROWS)
    if not found:
        figure.missing = "No lossy codec rows with saved reconstructions (artifacts) in this run."
        return figure
    shown = found[:GRID_MAX_ROWS]
    n_lossy = int(frame["kind"].eq("lossy").sum())
    if n_lossy > len(shown):
        figure.caption += f" Showing the first {len(shown)} of {n_lossy} lossy configurations."
    labels, samples, previous = [], [], None
    for row, sample in shown:
        digest = str(sample.get("split_digest", ""))
        if digest != previous:  # a new original sample (another split): show its originals first
            labels.append("original" if previous is None else f"original ({row['split']})")
            samples.append(sample["original"])
            previous = digest
        labels.append(f"{row['config']}  {row['bpp']:.2f} bpp, {row['psnr']:.1f} dB")
        samples.append(sample["decoded"])
    return _encode(figure, _draw_grid(labels, samples), crop=True)


def figure_dataset_samples(frame: pd.DataFrame, artifact_dir: Path) -> Figure:
    figure = Figure("dataset-samples", "Samples of the decoded training sets",
                    f"The first {GRID_DIGITS} images of the training set each dataset codec's receiver decodes "
                    "(synthetic images for generative codecs, selected ones for coresets).")
    labels, samples = [], []
    for _, row in frame[frame["kind"].eq("dataset")].sort_values(["family", "codec", "payload_bytes"]).iterrows():
        sample = artifacts.load(artifact_dir, row["cell_key"])
        if sample is not None and len(sample.get("decoded", [])):
            labels.append(f"{row['config']}  {_fmt_int(row['payload_bytes'])} B")
            samples.append(sample["decoded"])
    if not samples:
        figure.missing = "No dataset codec rows with saved samples in this run."
        return figure
    return _encode(figure, _draw_grid(labels[:GRID_MAX_ROWS], samples[:GRID_MAX_ROWS]), crop=True)


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
    figure = Figure("per-digit-error", "Reconstruction error per digit",
                    f"Mean squared error per pixel ([0, 1] scale) of each digit class, for {which}.")
    if rows.empty:
        figure.missing = "No lossy rows with per-digit errors (mse_digit0..9) in this table."
        return figure
    fig = _new_figure(9, 4.2)
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
    _legend_outside(ax)
    return _encode(figure, fig)


def figure_tsne(frame: pd.DataFrame, artifact_dir: Path) -> Figure:
    rows, which = autoencoder_selection(frame)
    figure = Figure("tsne", "t-SNE of originals and reconstructions",
                    f"One joint t-SNE embedding (scikit-learn, perplexity 30, {TSNE_ITERATIONS} iterations, seed 0) of the run's first "
                    f"{TSNE_IMAGES} test digits and their reconstructions by {which}; colour: the "
                    "true digit. Reconstructions that keep the classes apart keep their clusters.")
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
    fig = _new_figure(3.3 * len(sets) + 1.2, 3.6)
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
    _legend_outside(axes[-1], title="digit")
    return _encode(figure, fig)


def figure_throughput(frame: pd.DataFrame) -> Figure:
    rows = frame[frame["enc_images_per_s"].gt(0) & frame["dec_images_per_s"].gt(0)]
    devices = sorted(rows["device_name"].dropna().astype(str).unique())
    figure = Figure("throughput", "Throughput",
                    "Images per second of the timed encode and decode of each configuration (after a "
                    f"warm-up; GPU synchronised), log scale. Device: {', '.join(devices) or 'not recorded'}.")
    if rows.empty:
        figure.missing = "No timed rows in this table."
        return figure
    name = "config"
    if len(rows) > THROUGHPUT_MAX_BARS:
        name = "family"
        grouped = rows.assign(device_name=rows["device_name"].fillna("?")).groupby(["family", "device_name"])
        rows = grouped[["enc_images_per_s", "dec_images_per_s", "images_per_s"]].median().join(
            grouped[["concurrent_cells"]].max()).reset_index()
        figure.caption += (f" With {len(frame)} configurations, each bar is the median over a codec family's "
                           "configurations.")
    if rows["concurrent_cells"].gt(1).any():
        figure.caption += (" [×N]: timed while N cells ran side by side on the machine (the most over the bar's "
                           "cells); bars without it ran alone or did not record it.")
    rows = rows.sort_values("images_per_s")
    multi_device = len(devices) > 1

    def label(r) -> str:
        text = f"{r[name]} [{r['device_name']}]" if multi_device else str(r[name])
        return text + (f" [×{int(r['concurrent_cells'])}]" if r["concurrent_cells"] > 1 else "")

    labels = [label(r) for _, r in rows.iterrows()]
    fig = _new_figure(9, 0.24 * len(rows) + 1.3)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y + 0.2, rows["enc_images_per_s"], 0.4, label="encode", color="#4c72b0")
    ax.barh(y - 0.2, rows["dec_images_per_s"], 0.4, label="decode", color="#dd8452")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    _log_scale(ax)
    ax.set_xlabel(f"images per second (log scale) on {', '.join(devices) or 'an unrecorded device'}")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    _legend_outside(ax)
    return _encode(figure, fig)


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


def protocol_paragraph(frame: pd.DataFrame, full: FullAccuracy) -> dict:
    """The classifier protocol the accuracies come from (the rows' `classifier_protocol`, normally one)
    and the accuracy it reaches on the real 60,000 training images."""
    scored = frame[frame["accuracy"].notna()]
    values = list(dict.fromkeys(scored["classifier_protocol"].dropna()))
    if not values:
        values = list(dict.fromkeys(frame["classifier_protocol"].dropna()))
    profiles = [str(v) for v in dict.fromkeys(scored["profile"].dropna())]
    if full.percent is not None:
        reach = f"{full.percent:.2f}% (from {full.source})"
    else:
        reach = "not in this run"
    return {"protocols": values, "profiles": profiles, "full_accuracy": reach,
            "has_full": full.percent is not None}


def device_names(frame: pd.DataFrame, device: str) -> str:
    """The rows' device names without the device type they start with ('cuda: NVIDIA H100' -> 'NVIDIA H100')."""
    names = [str(v).removeprefix(f"{device}:").strip() for v in dict.fromkeys(frame["device_name"].dropna())]
    return ", ".join(n for n in names if n) or "not recorded"


def main_device(frame: pd.DataFrame) -> str:
    """The device of the report's main section: the CPU when the table has CPU rows, else the most common."""
    types = frame["device_type"]
    if types.eq(MAIN_DEVICE).any() or types.empty:
        return MAIN_DEVICE
    return str(types.value_counts().index[0])


def device_section(summary: pd.DataFrame, frame: pd.DataFrame, device: str, scale: float) -> dict:
    """A device other than the main one: its own size tables (its own Pareto marks), its own full-data
    accuracy and protocol; never mixed into the main figures and tables."""
    rows = frame[frame["device_type"] == device]
    full = full_data_accuracy(rows, scale)
    return {"device": device, "id": f"device-{device}", "names": device_names(rows, device),
            "n_configs": len(summary),
            "size_tables": [size_table(summary, split) for split in ordered_splits(summary)],
            "protocol": protocol_paragraph(rows, full), "full_accuracy": full,
            "sources": [str(v) for v in dict.fromkeys(rows["source_table"].dropna())]}


# --------------------------------------------------------------------------------------- provenance

def provenance(frame: pd.DataFrame, source: Path, extra_tables: list | None = None) -> list[tuple[str, str]]:
    from bench.run.environment import git_sha, library_versions

    def values(column: str, limit: int = 8) -> str:
        found = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                 for v in frame[column].dropna().unique()]
        text = "; ".join(found[:limit]) or "not recorded"
        return text + (f" (and {len(found) - limit} more)" if len(found) > limit else "")

    started = pd.to_datetime(frame["started_at"], errors="coerce", utc=True).dropna()
    period = (f"{started.min():%Y-%m-%d %H:%M} to {started.max():%Y-%m-%d %H:%M} UTC" if len(started)
              else "not recorded")
    try:
        import matplotlib

        versions = {**library_versions(), "matplotlib": matplotlib.__version__}
    except Exception:  # provenance must never stop a report
        versions = {}
    return [
        ("results table", str(source)),
        *([("extra tables", "; ".join(str(t) for t in extra_tables))] if extra_tables else []),
        ("cells run", period),
        ("git commit of the run", values("git_sha")),
        ("device", values("device_name")),
        ("profile", values("profile")),
        ("seed", values("seed")),
        ("torch of the run", values("torch_version")),
        ("command line", values("command", limit=4)),
        ("runs shown", f"{frame['run_id'].nunique()}; of each configuration the latest run's rows"
                       + (f" ({frame.attrs.get('superseded', 0)} row(s) of earlier runs set aside)"
                          if frame.attrs.get("superseded") else "")),
        ("report rendered", f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC at commit {git_sha()}"),
        ("libraries at rendering", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]


# ------------------------------------------------------------------------------------------- render

def build_context(table: pd.DataFrame, artifact_dir: Path, source: Path,
                  extra_tables: list[str | os.PathLike] | None = None) -> dict:
    """Everything the template shows. Rows of the main device (the CPU, when the table has CPU rows) make
    the figures and the main tables; rows of any other device (a GPU run, an extra table's rows) get a
    section of their own."""
    frame = normalise(table)
    scale = accuracy_scale(frame)
    device = main_device(frame)
    on_main = frame["device_type"] == device
    full = full_data_accuracy(frame[on_main], scale)
    everything = annotate(summarise(frame), full, scale)
    summary = everything[everything["device_type"] == device]
    styles = Styles.of(summary)
    others = []
    for other in sorted(set(frame["device_type"]) - {device}):
        rows = frame[frame["device_type"] == other]
        other_full = full_data_accuracy(rows, scale)
        # Lossless rows of that device inherit that device's full-data accuracy, not the main one's.
        other_summary = annotate(summarise(rows), other_full, scale)
        others.append(device_section(other_summary, frame, other, scale))
    failed = frame[~frame["status"].isin(["ok", "skipped"])]
    # A skipped cell that a later --resume ran is not pending any more: only the latest word counts.
    skipped = frame[frame["status"].eq("skipped")
                    & ~frame["cell_key"].isin(frame.loc[frame["status"].eq("ok"), "cell_key"])]
    figures = {
        "accuracy": figure_accuracy(summary, full, styles),
        "rate_distortion": figure_rate_distortion(summary, styles),
        "grid": figure_grid(summary, artifact_dir),
        "dataset_samples": figure_dataset_samples(summary, artifact_dir),
        "per_digit": figure_per_digit(summary, styles),
        "tsne": figure_tsne(summary, artifact_dir),
        "throughput": figure_throughput(summary),
    }
    return {
        "title": "MNIST compression benchmark",
        "n_rows": len(frame),
        "n_ok": int((frame["status"] == "ok").sum()),
        "n_configs": len(summary),
        "max_reps": int(summary["n_reps"].max()) if len(summary) else 0,
        "size_tables": [size_table(summary, split) for split in ordered_splits(summary)],
        "container_tables": container_tables(summary),
        "dataset_budgets": dataset_frontier.budget_table(summary),
        "bd_rates": bd_rate.bd_rate_table(summary),
        "verdict": verdict.verdict_lines(summary),
        "anchors": verdict.pending_anchors(summary),
        "binarised": verdict.binarised_table(summary),
        "full_accuracy": full,
        "protocol": protocol_paragraph(frame[on_main], full),
        "concurrency_note": concurrency_note(summary),
        "main_device": device,
        "main_device_names": device_names(frame[on_main], device),
        "device_sections": others,
        "any_held_out": bool(summary["held_out"].any()),
        "figures": figures,
        "failed": [{"config": r["config"], "split": r["split"], "error": r["error"]} for _, r in failed.iterrows()],
        "skipped": [{"config": r["config"], "split": r["split"], "error": r["error"]} for _, r in skipped.iterrows()],
        "provenance": provenance(frame, source, extra_tables or []),
        "gzip_level": artifacts.GZIP_LEVEL,
    }


def render_html(context: dict) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE_NAME).render(**context)


def with_extra_tables(table: pd.DataFrame, extra_tables: list[str | os.PathLike]) -> pd.DataFrame:
    """The table with the rows of each extra table appended (column union; `source_table` says whence)."""
    frames = [table.assign(source_table=table["source_table"] if "source_table" in table else np.nan)]
    for path in extra_tables:
        path = Path(path)
        if not path.exists():
            raise BenchError(f"no run folder or results table at {path}")
        extra, _, _ = read_source(path)
        frames.append(extra.assign(source_table=str(path)))
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True, sort=False)


def render_report(source: str | os.PathLike, out: str | os.PathLike | None = None,
                  export_table: str | os.PathLike | None = None,
                  extra_tables: list[str | os.PathLike] | None = None) -> Path:
    """Render the report of a run folder or table file; returns the HTML path.

    `export_table` also writes the tidy table as CSV there, with the run's artifacts beside it
    (`NAME-artifacts/`), so the report can be rendered again from the copy (the reference run).
    `extra_tables` (run folders or table files, e.g. `results/lossy-gpu.csv`) append their rows; rows of
    a device other than the main one get their own section (their own table), never mixed with the CPU's.
    The exported table holds the source's rows only.
    """
    source = Path(source)
    if not source.exists():
        raise BenchError(f"no run folder or results table at {source}")
    table, artifact_dir, default_out = read_source(source)
    if export_table is not None:
        export_table = Path(export_table)
        if export_table.suffix != ".csv":
            raise BenchError(f"--export-table must name a .csv file, got {export_table}")
        export_table.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(export_table, index=False)
        copied = export_table.with_name(f"{export_table.stem}-artifacts")
        if artifact_dir.is_dir() and artifact_dir.resolve() != copied.resolve():
            shutil.rmtree(copied, ignore_errors=True)
            shutil.copytree(artifact_dir, copied, ignore=shutil.ignore_patterns(".*"))
    out = Path(out) if out is not None else default_out
    shown = with_extra_tables(table, extra_tables) if extra_tables else table
    page = render_html(build_context(shown, artifact_dir, source, extra_tables))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
