"""How long `bench report` takes on a whole-dataset-sized table (must stay under 30 s on a 2-core CPU).

The table is made from the real rows (and decoded-image artifacts) of a small run, replicated and
varied to the size of a whole-MNIST run of every codec family with repetitions: lossless families,
lossy families with rate sweeps (one of them named conv-ae with the write-up's nominal ratios, so the
per-digit and t-SNE figures take their real path), and dataset codecs with accuracies.

    .venv/bin/python -m pytest benchmarks/gates/test_report_speed.py --benchmark-only
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.report.render import render_report

WHOLE_MNIST = 70_000
LOSSLESS_FAMILIES, LOSSY_FAMILIES, DATASET_FAMILIES = 12, 9, 4
RATES_PER_LOSSY_FAMILY, CONFIGS_PER_DATASET_FAMILY, REPETITIONS = 8, 10, 3
LIMIT_S = 30.0


def _whole_dataset_table(run_dir, out_dir) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    table = pd.read_parquet(run_dir / "results.parquet")
    scale = WHOLE_MNIST / table["n_images"].iloc[0]
    for column in ("n_images", "raw_bytes", "payload_bytes", "total_bytes",
                   "txt_bytes", "npy_bytes", "txt_gz_bytes", "npy_gz_bytes",
                   "orig_txt_bytes", "orig_npy_bytes", "orig_txt_gz_bytes", "orig_npy_gz_bytes"):
        table[column] = table[column] * scale
    lossless = table[table["kind"] == "lossless"]
    lossy = table[table["kind"] == "lossy"]
    (out_dir / "artifacts").mkdir(parents=True)
    for original in (run_dir / "artifacts").glob("original-*.npz"):
        shutil.copy(original, out_dir / "artifacts" / original.name)

    rows = []

    def add(template: pd.Series, **changes) -> None:
        for repetition in range(REPETITIONS):
            row = template.to_dict() | changes
            row["repetition"] = repetition
            for column in ("enc_s", "dec_s"):
                row[column] = template[column] * scale * rng.uniform(0.9, 1.1)
            row["images_per_s"] = WHOLE_MNIST / (row["enc_s"] + row["dec_s"])
            row["enc_images_per_s"], row["dec_images_per_s"] = WHOLE_MNIST / row["enc_s"], WHOLE_MNIST / row["dec_s"]
            row["cell_key"] = f"{template['cell_key']}-{len(rows)}"
            source = run_dir / "artifacts" / f"{template['cell_key']}.npz"
            if source.exists():
                shutil.copy(source, out_dir / "artifacts" / f"{row['cell_key']}.npz")
            rows.append(row)

    for f in range(LOSSLESS_FAMILIES):
        for _, template in lossless.iterrows():
            factor = rng.uniform(0.6, 1.0)
            add(template, codec=f"lossless-{f}", config=f"lossless-{f}:{template['config']}",
                payload_bytes=template["payload_bytes"] * factor, total_bytes=template["payload_bytes"] * factor)
    for f in range(LOSSY_FAMILIES + 1):
        family = "conv-ae" if f == LOSSY_FAMILIES else f"lossy-{f}"
        nominal = [0.5, 0.9, 0.95, 0.99] if family == "conv-ae" else [np.nan] * RATES_PER_LOSSY_FAMILY
        for r, ratio in enumerate(nominal):
            template = lossy.iloc[r % len(lossy)]
            factor = 0.2 + 0.15 * r + rng.uniform(0, 0.1)
            add(template, codec=family, config=f"{family}:rate={r}", payload_bytes=template["payload_bytes"] * factor,
                total_bytes=template["payload_bytes"] * factor + 50_000, model_bytes=50_000, nominal_ratio=ratio,
                psnr=template["psnr"] - 3 * np.log2(1 / factor), accuracy=0.99 - 0.02 / (r + 1))
    for f in range(DATASET_FAMILIES):
        for c in range(CONFIGS_PER_DATASET_FAMILY):
            template = lossless.iloc[0]
            payload = 10_000 * 2.0 ** c * rng.uniform(0.8, 1.2)
            add(template, codec=f"dataset-{f}", config=f"dataset-{f}:k={c}", kind="dataset",
                payload_bytes=payload, total_bytes=payload, mse=np.nan, psnr=np.nan, lossless_ok=False,
                accuracy=min(0.99, 0.6 + 0.04 * c + rng.uniform(0, 0.02)))
    table = pd.DataFrame(rows)
    table.loc[table["codec"].eq("lossless-0") & table["config"].str.endswith(":raw"), "accuracy"] = 0.99
    # The main job's columns: held-out figures of the learned (lossy) codecs, concurrency, the protocol;
    # and a GPU run's rows, which get their own section.
    learned = table["kind"].eq("lossy")
    table.loc[learned, "test_payload_bytes"] = table.loc[learned, "payload_bytes"] / 7 * 1.05
    table.loc[learned, "test_bpp"] = 8 * table.loc[learned, "test_payload_bytes"] / (10_000 * 784)
    table.loc[learned, "test_psnr"] = table.loc[learned, "psnr"] - 0.5
    table.loc[learned, "test_mse"] = table.loc[learned, "mse"] * 1.1
    table["concurrent_cells"] = rng.integers(1, 4, len(table))
    table["classifier_protocol"] = "CNN judge, profile 'smoke'"
    gpu = table[learned & table["repetition"].eq(0)].copy()
    gpu["device"], gpu["device_name"] = "cuda", "cuda: NVIDIA H200"
    gpu["cell_key"] = gpu["cell_key"] + "-gpu"
    table = pd.concat([table, gpu], ignore_index=True)
    table["bpp"] = 8 * table["payload_bytes"] / table["raw_bytes"]
    table["ratio"] = table["raw_bytes"] / table["payload_bytes"]
    return table


@pytest.fixture(scope="module")
def whole_dataset_table(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("small-run")
    codecs = "raw,gzip,zstd:framing=per-image,webp,webp-lossy:quality=5,webp-lossy:quality=25,webp-lossy:quality=75"
    # Smoke profile: the lossy rows' downstream classifier trains for seconds; rendering is what is timed.
    assert main(["run", "--codecs", codecs, "--split", "test", "--limit", "300", "--profile", "smoke",
                 "--cache-dir", str(run_dir / "cache"), "--no-report", "--out", str(run_dir)]) == 0
    out_dir = tmp_path_factory.mktemp("whole-dataset")
    table = _whole_dataset_table(run_dir, out_dir)
    table.to_csv(out_dir / "results.csv", index=False)
    return out_dir, len(table)


def test_report_of_a_whole_dataset_table_renders_in_under_30_s(benchmark, whole_dataset_table):
    run_dir, n_rows = whole_dataset_table
    benchmark.extra_info["rows"] = n_rows
    html = benchmark.pedantic(render_report, args=(run_dir,), rounds=3, iterations=1)
    assert html.stat().st_size > 100_000 and n_rows > 400
    assert benchmark.stats.stats.max < LIMIT_S
