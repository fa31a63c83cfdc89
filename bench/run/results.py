"""Tidy results: one row per (codec, params, split, repetition).

`rows.jsonl` is the durable log: each finished cell appends one line and flushes it to disk, so an
interrupted run keeps every finished cell. `results.csv` and `results.parquet` are regenerated from
the log after every cell (written to a temporary name, then renamed, so a reader never sees half a file).
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from bench.errors import BenchError

# The guaranteed columns, in this order; codecs may add more (per-digit MSE, ideal code length, ...).
COLUMNS = [
    "codec", "config", "kind", "family", "roles", "params", "split", "n_images", "repetition",
    "raw_bytes", "payload_bytes", "model_bytes", "total_bytes", "bpp", "ratio",
    "mse", "psnr", "lossless_ok", "accuracy",
    "fit_s", "enc_s", "dec_s", "wall_s", "images_per_s", "enc_images_per_s", "dec_images_per_s",
    "device", "device_name", "profile", "seed", "judge_seed", "torch_version", "git_sha", "started_at", "command",
    "run_id", "cell_key", "status", "error",
]


def check_results_dir(out_dir: str | os.PathLike) -> None:
    """BenchError unless `out_dir` is a folder, or can become one (no file in the way)."""
    path = Path(out_dir)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                what = "is a file" if part == path else f"cannot be created: {part} is a file"
                raise BenchError(f"--out {out_dir}: {what}, not a results folder")
            if not os.access(part, os.W_OK | os.X_OK):
                raise BenchError(f"--out {out_dir}: {part} is not writable")
            return


def new_run_id() -> str:
    """A run's name: when it started (UTC, sortable) and 6 random hex digits."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class ResultsStore:
    """The rows of a results folder. `run_id`: the run the next rows belong to; every row appended gets
    it (the report never puts rows of two runs into one figure). `resume=True` continues the folder's
    latest run, else a new run starts (its rows beside the older ones in the log)."""

    def __init__(self, out_dir: str | os.PathLike, resume: bool = False):
        self.dir = Path(out_dir)
        check_results_dir(self.dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a file created in its place since the check
            raise BenchError(f"--out {out_dir}: cannot create the results folder ({exc.strerror})") from None
        self.log = self.dir / "rows.jsonl"
        #: Cell keys in plan order: the tables list rows in this order whatever order cells finished in
        #: (side by side, they finish out of order); rows of other cells come first, as logged.
        self.order: list[str] = []
        earlier = [row["run_id"] for row in self.rows() if isinstance(row.get("run_id"), str)] if resume else []
        self.run_id = earlier[-1] if earlier else new_run_id()

    def rows(self) -> list[dict]:
        if not self.log.exists():
            return []
        rows = []
        for line in self.log.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write: that cell simply runs again
        return rows

    def done_keys(self) -> set[str]:
        """Cells finished successfully; failed cells are never treated as done."""
        return {r["cell_key"] for r in self.rows() if r.get("status") == "ok"}

    def append(self, row: dict) -> None:
        row.setdefault("run_id", self.run_id)
        with open(self.log, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.write_tables()

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows())
        if frame.empty:
            return pd.DataFrame(columns=COLUMNS)
        if self.order and "cell_key" in frame:
            position = {key: i for i, key in enumerate(self.order)}
            rank = frame["cell_key"].map(position).fillna(-1)
            frame = frame.iloc[rank.argsort(kind="stable").to_numpy()].reset_index(drop=True)
        extra = [c for c in frame.columns if c not in COLUMNS]
        return frame.reindex(columns=COLUMNS + extra)

    def write_tables(self) -> None:
        frame = self.table()
        for name, write in (("results.csv", lambda p: frame.to_csv(p, index=False)),
                            ("results.parquet", lambda p: frame.to_parquet(p, index=False))):
            tmp = self.dir / f".{name}.tmp"
            write(tmp)
            tmp.replace(self.dir / name)


#: What makes a table a results table: the columns every row has had since the first tables.
IDENTIFYING_COLUMNS = ("codec", "config", "split", "status")
STATUSES = ("ok", "failed", "skipped")


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results table from a run folder (parquet, else CSV) or a file; BenchError, in one line,
    for a file that is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.parquet" if (path / "results.parquet").exists() else path / "results.csv"
    if not path.exists():
        raise BenchError(f"no results table at {path}")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (UnicodeDecodeError, ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # pyarrow's ArrowInvalid is a ValueError
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"{path} is not a results table (it does not read as "
                         f"{'parquet' if path.suffix == '.parquet' else 'CSV'}: {reason})") from None
    missing = [column for column in IDENTIFYING_COLUMNS if column not in frame.columns]
    if missing:
        raise BenchError(f"{path} is not a results table (no {', '.join(missing)} column)")
    statuses = set(frame["status"].dropna().astype(str))
    if not statuses <= set(STATUSES):
        raise BenchError(f"{path} is not a results table (status {sorted(statuses - set(STATUSES))[0]!r} "
                         f"is none of {', '.join(STATUSES)})")
    return frame
