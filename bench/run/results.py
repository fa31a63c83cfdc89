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

# The guaranteed columns, in this order; codecs may add more (per-digit MSE, ideal code length, ...).
COLUMNS = [
    "codec", "config", "kind", "params", "split", "n_images", "repetition",
    "raw_bytes", "payload_bytes", "model_bytes", "total_bytes", "bpp", "ratio",
    "mse", "psnr", "lossless_ok", "accuracy",
    "fit_s", "enc_s", "dec_s", "wall_s", "images_per_s", "enc_images_per_s", "dec_images_per_s",
    "device", "device_name", "profile", "seed", "torch_version", "git_sha", "started_at", "command",
    "cell_key", "status", "error",
]


class ResultsStore:
    def __init__(self, out_dir: str | os.PathLike):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "rows.jsonl"

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
        from bench.errors import BenchError

        raise BenchError(f"no results table at {path}")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
