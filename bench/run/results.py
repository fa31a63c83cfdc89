"""Tidy results: one row per (codec, params, split, repetition).

`rows.jsonl` is the durable log: each finished cell appends one line and flushes it to disk, so an
interrupted run keeps every finished cell. `results.csv` and `results.parquet` are regenerated from
the log after every cell (written to a temporary name, then renamed, so a reader never sees half a file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from bench.errors import BenchError

# The guaranteed columns, in this order; codecs may add more (per-digit MSE, ideal code length, ...).
COLUMNS = [
    "codec", "config", "kind", "family", "roles", "params", "split", "n_images", "repetition",
    "raw_bytes", "payload_bytes", "model_bytes", "total_bytes", "bpp", "ratio",
    "mse", "psnr", "lossless_ok", "accuracy",
    "fit_s", "enc_s", "dec_s", "wall_s", "images_per_s", "enc_images_per_s", "dec_images_per_s",
    "device", "device_name", "profile", "seed", "torch_version", "git_sha", "started_at", "command",
    "cell_key", "status", "error",
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


class ResultsStore:
    def __init__(self, out_dir: str | os.PathLike):
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


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results table from a run folder (parquet, else CSV) or a file."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.parquet" if (path / "results.parquet").exists() else path / "results.csv"
    if not path.exists():
        raise BenchError(f"no results table at {path}")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
