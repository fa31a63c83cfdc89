"""Tables and rows the report tests build, and the headless Chromium that loads a page."""

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from bench.api.registry import _REGISTRY, list_codecs
from bench.report.figures import style as style

FIGURES = {"compression-vs-accuracy", "rate-distortion", "reconstructions", "per-digit-error", "tsne", "throughput"}


CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def make_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def make_lossy_row(codec: str, params: dict, bpp: float, **extra) -> dict:
    config = codec + "".join(f":{k}={v}" for k, v in params.items())
    return {"codec": codec, "config": config, "kind": "lossy", "split": "test", "params": json.dumps(params),
            "n_images": 100, "raw_bytes": 78_400, "payload_bytes": 78_400 * bpp / 8, "mse": 0.01 / bpp,
            "status": "ok", **{f"mse_digit{d}": 0.01 * (d + 1) / bpp for d in range(10)}, **extra}


#: Columns tables written before the main job lack (the report must still render those).
NEWER_COLUMNS = ["family", "roles", "test_payload_bytes", "test_bpp", "test_mse", "test_psnr", "test_n_images",
                 "held_out_s", "classifier_protocol", "concurrent_cells", "container_n_images"]


def make_older_reference_table(tmp_path) -> Path:
    """The committed reference table as an older run would have written it, beside its artifacts."""
    results = Path(__file__).resolve().parents[2] / "results"
    table = pd.read_csv(results / "reference.csv").drop(columns=NEWER_COLUMNS, errors="ignore")
    table.to_csv(tmp_path / "older.csv", index=False)
    (tmp_path / "older-artifacts").symlink_to(results / "reference-artifacts")
    return tmp_path / "older.csv"


def make_row(codec: str, kind: str, bpp: float, accuracy: float | None = None, **extra) -> dict:
    """A row of split `all` (70,000 images) at `bpp` bits per pixel."""
    raw = 70_000 * 784
    config = extra.pop("config", codec)
    return {"codec": codec, "config": config, "kind": kind, "split": "all", "params": json.dumps({"c": config}),
            "n_images": 70_000, "raw_bytes": raw, "payload_bytes": raw * bpp / 8, "model_bytes": 0,
            "mse": 0.0 if kind == "lossless" else 0.01 / bpp, "accuracy": accuracy, "status": "ok",
            "lossless_ok": kind == "lossless", "device": "cpu", "device_name": "cpu: x86_64", **extra}


def make_main_job_table() -> pd.DataFrame:
    """Every registered family once or in a sweep, as the main job's table has them: new columns included."""
    list_codecs()
    rows = []
    for i, (name, entry) in enumerate(sorted(_REGISTRY.items())):
        kind, shift = entry.cls.kind, 1 + i / 40
        if kind == "lossless":
            rows.append(make_row(name, kind, shift))
        elif kind == "lossy":
            rows += [make_row(name, kind, bpp * shift, 0.99 - 0.001 * shift / bpp, config=f"{name}:{bpp}")
                     for bpp in (0.1, 0.5, 2.0)]
        else:
            rows += [make_row(name, kind, bpp * shift, 0.9 + 0.02 * bpp / shift, config=f"{name}:{bpp}")
                     for bpp in (0.001, 0.01)]
    return make_table(rows)


def open_in_chromium(page_path: Path, screenshot: Path) -> dict:
    """Load the page from disk in headless Chromium; what it requested, what failed, which figures drew."""
    from playwright.sync_api import sync_playwright

    seen = {"requests": [], "failed": [], "errors": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("requestfailed", lambda r: seen["failed"].append(f"{r.url}: {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and seen["failed"].append(f"{r.url}: HTTP {r.status}"))
            page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            seen["figures"] = page.eval_on_selector_all(
                "figure[data-figure]",
                "els => els.map(e => { const img = e.querySelector('img');"
                " return {id: e.dataset.figure, drawn: !!img && img.complete && img.naturalWidth > 100}; })")
            seen["size_rows"] = page.locator("table.sizes tbody tr.row").count()
            seen["size_texts"] = page.locator("table.sizes tbody tr.row").all_inner_texts()
            seen["size_kinds"] = page.eval_on_selector_all("table.sizes tbody[data-kind]",
                                                           "els => els.map(e => e.dataset.kind)")
            seen["container_rows"] = page.locator("table.containers tbody tr").count()
            seen["budget_rows"] = page.locator("table[data-table='dataset-budgets'] tbody tr").count()
            seen["sections"] = page.eval_on_selector_all("h2[id]", "els => els.map(e => e.id)")
            seen["nav"] = page.eval_on_selector_all("nav a", "els => els.map(e => e.getAttribute('href'))")
            seen["protocol"] = page.locator("p[data-protocol]").inner_text()
            seen["concurrency"] = page.locator("p[data-concurrency]").inner_text()
            seen["pareto_key"] = page.locator("[data-figure-key='compression-vs-accuracy']").count()
            seen["verdict_kinds"] = page.eval_on_selector_all("table[data-verdict] tr[data-verdict-kind]",
                                                              "els => els.map(e => e.dataset.verdictKind)")
            seen["verdict_texts"] = page.locator("table[data-verdict] tr[data-verdict-kind]").all_inner_texts()
            seen["anchors"] = page.locator("table[data-verdict] tr[data-anchor]").all_inner_texts()
            seen["accuracy_caption"] = page.locator("#fig-compression-vs-accuracy figcaption").inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen
