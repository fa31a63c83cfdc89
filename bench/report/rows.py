"""The report's rows: read a results table, normalise its columns, keep each configuration's latest
run, summarise repetitions, and annotate the summary (headline figures, Pareto marks, the full-data
accuracy). Everything the tables and figures draw comes from here.

It knows roles, not codec names: the rows it singles out (the ceiling rows of the full-data accuracy)
are those whose `roles` say so (`bench.report.roles`); codecs declare them when they register, the
runner writes them into every row, and for a table without them they come from the registry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.report.roles import CEILING_ROLES, RENAMED_ROLES
from bench.run import artifacts
from bench.run.measure import derived_columns
from bench.run.results import COLUMNS, load_table

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


SPLIT_ORDER = {"all": 0, "test": 1, "train": 2}


KIND_LABELS = {"lossless": "lossless", "lossy": "lossy", "dataset": "dataset (coded training sets)"}


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
        roles = [str(v) for v in value]
    else:
        roles = [] if value is None or value != value or not str(value) else str(value).split(",")
    return ",".join(RENAMED_ROLES.get(role, role) for role in roles)


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


#: Figures a summary gives an interval for, over the seeds and repetitions of one run.
INTERVAL_COLUMNS = ("accuracy", "payload_bytes", "bpp", "test_bpp", "psnr", "test_psnr")
#: The intervals are two-sided t intervals of the mean at this confidence.
CONFIDENCE = 0.95


def t_half_width(sd, n) -> np.ndarray:
    """Half the width of the t interval of a mean (`CONFIDENCE`) from its sample's sd and size: NaN for
    fewer than two values."""
    from scipy.stats import t

    n = np.asarray(n, dtype=float)
    sd = np.asarray(sd, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = np.where(n >= 2, t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1)), np.nan)
        return quantile * sd / np.sqrt(n)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, split): medians over the seeds and repetitions of its successful
    cells (one run: `latest_runs`), and for `INTERVAL_COLUMNS` their mean, standard deviation and
    t interval (`<column>_mean`, `_sd`, `_ci`: the interval's half width; NaN below two values)."""
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
    stats = grouped[list(INTERVAL_COLUMNS)].agg(["mean", "std"])
    stats.columns = [f"{column}_{'sd' if stat == 'std' else stat}" for column, stat in stats.columns]
    summary = summary.merge(stats.reset_index(), on=keys)
    # A codec's own accuracy spread where it reports one, else the spread over the run's seeds.
    summary["accuracy_std"] = summary["accuracy_std"].fillna(summary["accuracy_sd"])
    for column in INTERVAL_COLUMNS:
        summary[f"{column}_ci"] = t_half_width(summary[f"{column}_sd"], summary["n_reps"])
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
            if len(rows) > 1:  # several seeds (or repetitions) of the ceiling: their mean
                label += f", the mean of {len(rows)}"
            return FullAccuracy(scale * rows["accuracy"].mean(), label)
    return FullAccuracy(None, "")


def pareto_mask(size: np.ndarray, loss: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
    """Rows no other row beats on both size and loss (lower is better for both; NaN never optimal).
    `margin`: each loss's interval half width; a row beats another's loss only where its interval
    clears the other's (an overlap is a tie, which dominates nothing)."""
    size, loss = np.asarray(size, float), np.asarray(loss, float)
    half = np.zeros(len(loss)) if margin is None else np.nan_to_num(np.asarray(margin, float))
    valid = np.isfinite(size) & ~np.isnan(loss)
    s, e, m = size[valid], loss[valid], half[valid]
    high, low = e + m, e - m  # the interval's ends
    no_worse = (s[None, :] <= s[:, None]) & (high[None, :] <= low[:, None])
    better = (s[None, :] < s[:, None]) | (high[None, :] < low[:, None])
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
    for stat in ("mean", "sd", "ci"):
        frame[f"accuracy_{stat}_pct"] = frame[f"accuracy_{stat}"] * scale if f"accuracy_{stat}" in frame else np.nan
    frame["accuracy_from_full"] = False
    if full.percent is not None:
        inherit = frame["accuracy_pct"].isna() & frame["kind"].eq("lossless")
        frame.loc[inherit, "accuracy_pct"] = full.percent
        frame.loc[inherit, "accuracy_from_full"] = True
    frame["pareto_error"] = False
    frame["pareto_accuracy"] = False
    for _, rows in frame.groupby("device_type"):
        frame.loc[rows.index, "pareto_error"] = pareto_mask(rows["head_bpp"], rows["head_mse"])
        frame.loc[rows.index, "pareto_accuracy"] = pareto_mask(rows["head_bpp"], -rows["accuracy_pct"],
                                                               rows["accuracy_ci_pct"])
    return frame


def ordered_splits(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["split"].unique(), key=lambda s: (SPLIT_ORDER.get(s, 9), s))


def kind_order(kind: str) -> tuple:
    return KIND_ORDER.get(kind, 9), kind


def main_device(frame: pd.DataFrame) -> str:
    """The device of the report's main section: the CPU when the table has CPU rows, else the most common."""
    types = frame["device_type"]
    if types.eq(MAIN_DEVICE).any() or types.empty:
        return MAIN_DEVICE
    return str(types.value_counts().index[0])


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
