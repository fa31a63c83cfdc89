"""The HTML report: one self-contained page rendered from a results table and the run's artifacts.

`render_report(source)` reads the rows (`bench.report.rows`), builds the tables (`tables`) and the
figures (`figures/`, one module each, matplotlib Agg as base64 PNGs), and fills `template.html.j2`
(beside this module, inside the package; the figures' captions are `captions.html.j2`). The page
loads nothing from anywhere: it opens from disk.
Any column may be missing or NaN, and every section without data says so instead of breaking.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.report import bd_rate, dataset_frontier, verdict
from bench.report.figures.accuracy import figure_accuracy
from bench.report.figures.per_digit import figure_per_digit
from bench.report.figures.pictures import figure_dataset_samples, figure_grid
from bench.report.figures.rate_distortion import figure_rate_distortion
from bench.report.figures.style import Figure, Styles
from bench.report.figures.throughput import concurrency_note, figure_throughput
from bench.report.figures.tsne import figure_tsne
from bench.report.provenance import device_names, protocol_paragraph, provenance
from bench.report.rows import (
    accuracy_scale,
    annotate,
    full_data_accuracy,
    main_device,
    normalise,
    ordered_splits,
    read_source,
    summarise,
    with_extra_tables,
)
from bench.report.tables import container_tables, size_table
from bench.run import artifacts

TEMPLATE_DIR = Path(__file__).parent


TEMPLATE_NAME = "template.html.j2"
CAPTIONS_NAME = "captions.html.j2"


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


def _templates():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(context: dict) -> str:
    return _templates().get_template(TEMPLATE_NAME).render(**context)


def caption(figure: Figure) -> str:
    """A figure's caption as the page reads (`captions.html.j2`): plain text, whitespace collapsed."""
    return _templates().get_template(CAPTIONS_NAME).module.caption(figure).striptags()


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
