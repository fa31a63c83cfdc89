"""Where a report's figures come from: the table, the runs, the commits, devices and libraries, and
the judge's protocol with the full-data accuracy it is measured against."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from bench.report.rows import FullAccuracy


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
