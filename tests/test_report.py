"""The HTML report: its pieces on hand-made tables, and a small real run rendered and opened in Chromium."""

import gzip
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import DatasetCodec, ImageCodec, register_codec
from bench.api.registry import _REGISTRY, list_codecs, report_columns
from bench.cli import main
from bench.report import dataset_frontier, render
from bench.report import rows as report_rows
from bench.report.figures import accuracy as accuracy_figure
from bench.report.figures import per_digit as per_digit_figure
from bench.report.figures import rate_distortion as rate_distortion_figure
from bench.report.figures import style as style
from bench.report.figures import tsne as tsne_figure
from bench.report.render import build_context, render_report
from bench.report.rows import pareto_mask
from bench.run import artifacts

FIGURES = {"compression-vs-accuracy", "rate-distortion", "reconstructions", "per-digit-error", "tsne", "throughput"}
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def test_pareto_mask_keeps_only_undominated_points():
    size = [10, 20, 30, 40, 15, np.nan]
    loss = [5.0, 1.0, 1.0, 0.0, 6.0, 0.0]
    # 30 has the loss of 20 at a larger size; 15 is beaten by 10 on both; NaN size never counts.
    assert pareto_mask(size, loss).tolist() == [True, True, False, True, False, False]


def test_containers_are_the_real_files(test_images):
    images = test_images[:20]
    text = io.BytesIO()
    np.savetxt(text, images.reshape(20, -1), fmt="%d", delimiter=" ")
    assert artifacts.as_text(images) == text.getvalue()
    npy = io.BytesIO()
    np.save(npy, images)
    sizes = artifacts.container_sizes(images)
    assert sizes["txt_bytes"] == len(text.getvalue()) and sizes["npy_bytes"] == len(npy.getvalue())
    assert sizes["txt_gz_bytes"] == len(gzip.compress(text.getvalue(), artifacts.GZIP_LEVEL, mtime=0))
    assert sizes["npy_gz_bytes"] == len(gzip.compress(npy.getvalue(), artifacts.GZIP_LEVEL, mtime=0))


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_a_sparse_table_renders_and_says_what_is_missing(tmp_path):
    """Only a few columns, NaNs, a failed row, percent accuracies from a dataset codec: no crash."""
    table = _table([
        {"codec": "gzip", "config": "gzip", "kind": "lossless", "split": "all", "n_images": 100,
         "raw_bytes": 78_400, "payload_bytes": 20_000, "status": "ok"},
        {"codec": "lgc", "config": "lgc:k=2", "kind": "dataset", "split": "all", "n_images": 100,
         "raw_bytes": 78_400, "payload_bytes": 5_000, "accuracy": 91.5, "status": "ok"},
        {"codec": "broken", "config": "broken", "kind": "lossy", "split": "all", "status": "failed",
         "error": "RuntimeError: boom"},
    ])
    source = tmp_path / "partial.csv"
    table.to_csv(source, index=False)
    out = render_report(source)
    assert out == tmp_path / "partial.html"
    page = out.read_text()
    assert "No lossy codec rows with a measured PSNR" in page
    assert "No saved reconstructions" in page and "RuntimeError: boom" in page
    assert 'data-figure="compression-vs-accuracy"' in page and "91.50" in page  # percent kept as percent
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_lossless_rows_sit_at_the_full_data_accuracy():
    table = _table([
        {"codec": "raw", "config": "raw", "kind": "lossless", "split": "all", "n_images": 10, "raw_bytes": 7840,
         "payload_bytes": 7856, "mse": 0.0, "accuracy": 0.99, "status": "ok"},
        {"codec": "gzip", "config": "gzip", "kind": "lossless", "split": "all", "n_images": 10, "raw_bytes": 7840,
         "payload_bytes": 2000, "mse": 0.0, "status": "ok"},
        {"codec": "lgc", "config": "lgc", "kind": "dataset", "split": "all", "n_images": 10, "raw_bytes": 7840,
         "payload_bytes": 500, "accuracy": 0.9, "status": "ok"},
        {"codec": "lgc", "config": "lgc:big", "kind": "dataset", "split": "all", "n_images": 10, "raw_bytes": 7840,
         "payload_bytes": 900, "accuracy": 0.8, "status": "ok"},
    ])
    context = build_context(table, Path("/nonexistent"), Path("t.csv"))
    assert context["full_accuracy"].percent == pytest.approx(99.0)
    rows = {r["config"]: r for r in context["size_tables"][0]["rows"]}
    assert rows["gzip"]["accuracy"] == "99.00†"
    # Grouped by kind, smallest first in each; lgc:big is beaten by lgc (smaller and more accurate), raw by
    # gzip (smaller, same accuracy).
    groups = context["size_tables"][0]["groups"]
    assert [(g["kind"], [r["config"] for r in g["rows"]]) for g in groups] == [("lossless", ["gzip", "raw"]),
                                                                                ("dataset", ["lgc", "lgc:big"])]
    assert {c for c, r in rows.items() if r["pareto_accuracy"]} == {"lgc", "gzip"}
    assert {c for c, r in rows.items() if r["pareto_error"]} == {"gzip"}  # only rows with an MSE compete
    assert context["figures"]["accuracy"].png


def test_seeds_merge_into_one_point_and_the_full_train_set_is_the_ceiling():
    def subset(seed, accuracy):
        return {"codec": "random-subset", "config": f"random-subset:seed={seed}", "kind": "dataset", "split": "all",
                "params": f'{{"per_class": 10, "seed": {seed}}}', "n_images": 60000, "raw_bytes": 47_040_000,
                "payload_bytes": 60_000 + seed, "accuracy": accuracy, "status": "ok"}

    table = _table([subset(0, 0.90), subset(1, 0.92), subset(2, 0.94),
                    {"codec": "full-train-set", "config": "full-train-set", "kind": "dataset", "split": "all",
                     "params": "{}", "n_images": 60000, "raw_bytes": 47_040_000, "payload_bytes": 8_000_000,
                     "accuracy": 0.991, "status": "ok"}])
    frame = report_rows.normalise(table)
    full = report_rows.full_data_accuracy(frame, report_rows.accuracy_scale(frame))
    assert full.percent == pytest.approx(99.1) and full.source == "the full-train-set row"
    summary = report_rows.annotate(report_rows.summarise(frame), full, 100.0)
    merged = accuracy_figure.merge_seeds(summary)
    subsets = merged[merged["codec"] == "random-subset"]
    assert len(subsets) == 1 and subsets["n_seeds"].iloc[0] == 3
    assert subsets["accuracy_pct"].iloc[0] == pytest.approx(92.0)
    assert subsets["accuracy_std_pct"].iloc[0] == pytest.approx(2.0)


def test_a_figure_is_never_a_median_over_rows_of_different_runs():
    def bican(run_id, started, accuracy, payload, repetition=0):
        return {"codec": "bican", "config": "bican", "kind": "lossy", "split": "test", "params": "{}",
                "n_images": 10_000, "raw_bytes": 7_840_000, "payload_bytes": payload, "mse": 0.01,
                "accuracy": accuracy, "status": "ok", "repetition": repetition, "device": "cuda",
                "device_name": "cuda: H100", "started_at": started, "run_id": run_id}

    # A collapsed training and a good one, two runs: the report shows the later run's figures alone.
    table = _table([bican("a", "2026-11-22T10:19:36+00:00", 0.0756, 2_000_016),
                    bican("b", "2026-11-22T10:33:01+00:00", 0.9808, 1_999_000)])
    frame = report_rows.normalise(table)
    assert frame.attrs["superseded"] == 1
    summary = report_rows.summarise(frame)
    assert len(summary) == 1 and summary["accuracy"].iloc[0] == pytest.approx(0.9808)
    assert summary["payload_bytes"].iloc[0] == 1_999_000 and summary["n_reps"].iloc[0] == 1
    assert summary["accuracy_rep_std"].isna().all()  # no spread drawn over one row
    # Repetitions of one run are what a median and a spread are taken over.
    reps = _table([bican("a", "2026-11-22T10:19:36+00:00", 0.0756, 2_000_016),
                   bican("b", "2026-11-22T10:33:01+00:00", 0.97, 1_999_000, 0),
                   bican("b", "2026-11-22T10:35:01+00:00", 0.98, 1_999_000, 1),
                   bican("b", "2026-11-22T10:37:01+00:00", 0.99, 1_999_000, 2)])
    summary = report_rows.summarise(report_rows.normalise(reps))
    assert summary["n_reps"].iloc[0] == 3 and summary["accuracy"].iloc[0] == pytest.approx(0.98)
    assert summary["accuracy_rep_std"].iloc[0] == pytest.approx(0.01)


def test_rows_of_a_table_older_than_run_ids_are_told_apart_by_their_command_line():
    def row(command, started, accuracy):
        return {"codec": "pca", "config": "pca", "kind": "lossy", "split": "test", "params": "{}",
                "n_images": 10_000, "raw_bytes": 7_840_000, "payload_bytes": 100_000, "mse": 0.01,
                "accuracy": accuracy, "status": "ok", "started_at": started, "command": command}

    first = "bench run --codecs pca --out runs/one"
    table = _table([row(first, "2026-11-22T10:00:00+00:00", 0.90),
                    row("bench run --codecs pca --out runs/two", "2026-11-22T11:00:00+00:00", 0.95),
                    row(first + " --resume", "2026-11-22T09:00:00+00:00", 0.10)])  # the first run, resumed
    frame = report_rows.normalise(table)
    assert list(frame["accuracy"]) == [0.95] and frame.attrs["superseded"] == 2


def test_every_row_names_its_run_and_a_resumed_run_keeps_its_name(tmp_path):
    from bench.run.results import ResultsStore

    first = ResultsStore(tmp_path)
    first.append({"cell_key": "a", "status": "ok"})
    resumed = ResultsStore(tmp_path, resume=True)
    fresh = ResultsStore(tmp_path)
    assert resumed.run_id == first.run_id != fresh.run_id
    assert [row["run_id"] for row in first.rows()] == [first.run_id]


@pytest.fixture
def fake_codecs():
    """The real codecs are loaded first; what a test registers besides them goes again afterwards."""
    list_codecs()
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]


def _lossy_row(codec: str, params: dict, bpp: float, **extra) -> dict:
    config = codec + "".join(f":{k}={v}" for k, v in params.items())
    return {"codec": codec, "config": config, "kind": "lossy", "split": "test", "params": json.dumps(params),
            "n_images": 100, "raw_bytes": 78_400, "payload_bytes": 78_400 * bpp / 8, "mse": 0.01 / bpp,
            "status": "ok", **{f"mse_digit{d}": 0.01 * (d + 1) / bpp for d in range(10)}, **extra}


def test_a_codec_that_declares_a_role_is_singled_out_without_a_report_edit(fake_codecs, monkeypatch):
    """A codec the report has never heard of plays the autoencoder and the dataset ceiling by declaring it;
    its family is its series. The table has no `family` / `roles` columns: they come from the registry."""

    @register_codec("tiny-ae", configs=[{"width": w} for w in (8, 4, 2, 1)], family="tiny",
                    roles={"writeup-autoencoder": [{"width": 4}, {"width": 1}]})
    class TinyAutoencoder(ImageCodec):
        kind = "lossy"

        def __init__(self, width: int = 8):
            self.width = width

    @register_codec("tiny-ae-v2", family="tiny")
    class TinyAutoencoderV2(TinyAutoencoder):
        pass

    @register_codec("everything", roles=["dataset-ceiling"])
    class Everything(DatasetCodec):
        pass

    table = _table([*(_lossy_row("tiny-ae", {"width": w}, bpp=w / 4) for w in (8, 4, 2, 1)),
                    _lossy_row("tiny-ae-v2", {}, bpp=3.0),
                    *(_lossy_row("webp-lossy", {"quality": q}, bpp=q / 50) for q in (10, 50, 90)),
                    {"codec": "everything", "config": "everything", "kind": "dataset", "split": "all",
                     "params": "{}", "n_images": 60000, "raw_bytes": 47_040_000, "payload_bytes": 9_000_000,
                     "accuracy": 0.985, "status": "ok"}])
    frame = report_rows.normalise(table)
    assert frame.set_index("config").loc["tiny-ae:width=4", ["family", "roles"]].tolist() == ["tiny",
                                                                                            "writeup-autoencoder"]
    full = report_rows.full_data_accuracy(frame, report_rows.accuracy_scale(frame))
    assert full.percent == pytest.approx(98.5) and full.source == "the everything row"
    summary = report_rows.annotate(report_rows.summarise(frame), full, 100.0)
    rows, which = per_digit_figure.autoencoder_selection(summary)
    assert rows["config"].tolist() == ["tiny-ae:width=4", "tiny-ae:width=1"]  # highest rate first
    assert "tiny-ae:width=4, tiny-ae:width=1" in which

    drawn = {}

    def keep(figure, fig, crop=False):
        drawn[figure.id] = fig
        figure.png = "x"
        return figure

    styles = style.Styles(sorted(summary["family"].unique()))
    monkeypatch.setattr(per_digit_figure, "encode_figure", keep)
    monkeypatch.setattr(rate_distortion_figure, "encode_figure", keep)
    per_digit = per_digit_figure.figure_per_digit(summary, styles)
    rate_distortion_figure.figure_rate_distortion(summary, styles)
    assert "tiny-ae:width=4" in per_digit.caption
    bars = [t.get_text() for t in drawn["per-digit-error"].axes[0].get_legend().get_texts()]
    assert [b.split(" ")[0] for b in bars] == ["tiny-ae:width=4", "tiny-ae:width=1"]
    series = [t.get_text() for t in drawn["rate-distortion"].axes[0].get_legend().get_texts()]
    assert series == ["tiny", "webp-lossy"]  # both tiny codecs are one family: one series


def test_the_rows_own_family_and_roles_win_over_the_registry():
    """Rows the runner wrote carry `family` and `roles`: the report reads them, even for a codec the
    registry does not know, and a row without them still gets the registry's."""
    table = _table([_lossy_row("renamed-ae", {"latent_dims": 39}, bpp=0.2, family="ae", roles="writeup-autoencoder"),
                    _lossy_row("conv-ae", {"latent_dims": 39}, bpp=0.1, family="ae", roles=np.nan),
                    _lossy_row("conv-ae", {"latent_dims": 8}, bpp=0.05, family=np.nan, roles=np.nan),
                    _lossy_row("jpeg", {"quality": 5}, bpp=0.3, family=np.nan, roles=np.nan)])
    frame = report_rows.normalise(table)
    assert frame["family"].tolist() == ["ae", "ae", "conv-ae", "jpeg"]
    assert frame["roles"].tolist() == ["writeup-autoencoder", "", "writeup-autoencoder", ""]
    rows, _ = per_digit_figure.autoencoder_selection(report_rows.annotate(report_rows.summarise(frame), report_rows.FullAccuracy(None, ""), 1))
    assert rows["config"].tolist() == ["renamed-ae:latent_dims=39", "conv-ae:latent_dims=8"]


def test_codecs_declare_family_and_roles_and_the_registry_checks_them(fake_codecs):
    assert report_columns("conv-ae", {"latent_dims": 39, "step": 1.0}) == {"family": "conv-ae",
                                                                           "roles": "writeup-autoencoder",
                                                                           "approach": "neural"}
    assert report_columns("conv-ae", {"latent_dims": 78}) == {"family": "conv-ae", "roles": "", "approach": "neural"}
    assert report_columns("gzip")["approach"] == "classical"  # baselines/ is the classical side
    assert report_columns("raw", {"framing": "per-image"})["roles"] == "uncoded-ceiling"
    assert report_columns("full-train-set", {})["roles"] == "dataset-ceiling"
    assert report_columns("no-such-codec", {}) == {"family": "no-such-codec", "roles": "", "approach": ""}

    class Lossy(ImageCodec):
        kind = "lossy"

        def __init__(self, dims: int = 8):
            self.dims = dims

    from bench.report.roles import unknown_roles

    assert unknown_roles() == []  # every registered codec's roles are the report's
    register_codec("bad-role", roles={"autoencoder": [{}]})(Lossy)
    assert unknown_roles() == ["bad-role: unknown role 'autoencoder'; known roles: writeup-autoencoder, uncoded-ceiling, "
                               "dataset-ceiling"]
    del _REGISTRY["bad-role"]
    with pytest.raises(TypeError, match="no registered configuration has {'dims': 9}"):
        register_codec("typo", configs=[{"dims": 8}, {"dims": 2}], roles={"writeup-autoencoder": [{"dims": 9}]})(Lossy)
    with pytest.raises(TypeError, match="unknown parameters"):
        register_codec("bad-param", roles={"writeup-autoencoder": [{"latent": 8}]})(Lossy)
    assert "bad-role" not in _REGISTRY and "typo" not in _REGISTRY


#: Columns tables written before the main job lack (the report must still render those).
NEWER_COLUMNS = ["family", "roles", "test_payload_bytes", "test_bpp", "test_mse", "test_psnr", "test_n_images",
                 "held_out_s", "classifier_protocol", "concurrent_cells", "container_n_images"]


def _older_reference_table(tmp_path) -> Path:
    """The committed reference table as an older run would have written it, beside its artifacts."""
    results = Path(__file__).parent.parent / "results"
    table = pd.read_csv(results / "reference.csv").drop(columns=NEWER_COLUMNS, errors="ignore")
    table.to_csv(tmp_path / "older.csv", index=False)
    (tmp_path / "older-artifacts").symlink_to(results / "reference-artifacts")
    return tmp_path / "older.csv"


def test_a_committed_table_without_family_and_roles_renders_the_writeup_settings(monkeypatch, tmp_path):
    """Tables written before family and roles were columns: the registry says which rows are the
    write-up's autoencoder."""
    monkeypatch.setattr(tsne_figure, "TSNE_IMAGES", 40)  # the selection is under test, not the embedding
    monkeypatch.setattr(tsne_figure, "TSNE_ITERATIONS", 250)
    source = _older_reference_table(tmp_path)
    table, artifact_dir, _ = report_rows.read_source(source)
    assert "family" not in table and "roles" not in table
    context = build_context(table, artifact_dir, source)
    figures = context["figures"]
    assert all(figures[k].png for k in ("rate_distortion", "grid", "per_digit", "tsne", "throughput"))
    assert "(conv-ae:latent_dims=39, conv-ae:latent_dims=8)" in figures["per_digit"].caption
    assert "(conv-ae:latent_dims=39, conv-ae:latent_dims=8)" in figures["tsne"].caption
    assert 'data-figure="per-digit-error"' in render.render_html(context)


def _row(codec: str, kind: str, bpp: float, accuracy: float | None = None, **extra) -> dict:
    """A row of split `all` (70,000 images) at `bpp` bits per pixel."""
    raw = 70_000 * 784
    config = extra.pop("config", codec)
    return {"codec": codec, "config": config, "kind": kind, "split": "all", "params": json.dumps({"c": config}),
            "n_images": 70_000, "raw_bytes": raw, "payload_bytes": raw * bpp / 8, "model_bytes": 0,
            "mse": 0.0 if kind == "lossless" else 0.01 / bpp, "accuracy": accuracy, "status": "ok",
            "lossless_ok": kind == "lossless", "device": "cpu", "device_name": "cpu: x86_64", **extra}


def _main_job_table() -> pd.DataFrame:
    """Every registered family once or in a sweep, as the main job's table has them: new columns included."""
    list_codecs()
    rows = []
    for i, (name, entry) in enumerate(sorted(_REGISTRY.items())):
        kind, shift = entry.cls.kind, 1 + i / 40
        if kind == "lossless":
            rows.append(_row(name, kind, shift))
        elif kind == "lossy":
            rows += [_row(name, kind, bpp * shift, 0.99 - 0.001 * shift / bpp, config=f"{name}:{bpp}")
                     for bpp in (0.1, 0.5, 2.0)]
        else:
            rows += [_row(name, kind, bpp * shift, 0.9 + 0.02 * bpp / shift, config=f"{name}:{bpp}")
                     for bpp in (0.001, 0.01)]
    return _table(rows)


def test_every_family_has_its_own_colour_and_marker_and_the_colour_says_the_kind():
    summary = report_rows.annotate(report_rows.summarise(report_rows.normalise(_main_job_table())), report_rows.FullAccuracy(None, ""),
                              100.0)
    styles = style.Styles.of(summary)
    families = summary.groupby("family")["kind"].first()
    assert len(families) >= 20  # the registry's twenty-odd families
    pairs = {family: styles(family) for family in families.index}
    assert len(set(pairs.values())) == len(pairs), pairs  # no two families share colour and marker
    for family, kind in families.items():
        colour = pairs[family][0]
        if family in styles.ceilings:
            assert pairs[family] == style.CEILING_STYLE
        else:
            assert colour in style.KIND_COLOURS[kind], (family, kind, colour)
    assert styles.ceilings == {"full-train-set"}
    assert len({c for k in ("lossless", "lossy", "dataset") for c in style.KIND_COLOURS[k]}) == 12  # kinds apart


def test_the_accuracy_plot_draws_every_family_in_panels_by_kind_with_the_pareto_points_numbered(monkeypatch):
    drawn = {}

    def keep(figure, fig, crop=False):
        drawn[figure.id] = fig
        figure.png = "x"
        return figure

    table = _main_job_table()
    summary = report_rows.annotate(report_rows.summarise(report_rows.normalise(table)), report_rows.FullAccuracy(99.0, "x"), 100.0)
    monkeypatch.setattr(accuracy_figure, "encode_figure", keep)
    figure = accuracy_figure.figure_accuracy(summary, report_rows.FullAccuracy(99.0, "x"), style.Styles.of(summary))
    axes = drawn["compression-vs-accuracy"].axes
    main, panels = axes[0], [ax for ax in axes[1:] if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(":")[0] for ax in panels] == ["lossless", "lossy",
                                                                         "dataset (coded training sets)"]
    named = {t.get_text().split(" (")[0].rstrip("‡") for ax in panels for t in ax.get_legend().get_texts()}
    assert named >= set(summary["family"])  # every family is in a panel's legend
    assert all(ax.get_xscale() == "log" for ax in axes[:len(panels) + 1])
    frontier = summary[summary["pareto_accuracy"]]
    assert len(figure.key) == len(frontier) > 1
    numbers = [t.get_text() for t in main.texts if t.get_text().isdigit()]
    assert numbers == [str(i) for i in range(1, len(frontier) + 1)]
    # The published distillation figures are there, labelled as such, beside the measured points.
    assert {"DM 1", "DC 10", "KIP-ConvNet 50"} <= {t.get_text() for t in main.texts}
    assert "published, not measured here" in figure.caption


def test_the_equal_bytes_table_takes_each_familys_best_within_each_budget():
    table = _table([
        _row("kmedoids-coreset", "dataset", 1_500 * 8 / (60_000 * 784), 0.70, payload_bytes=1_500, params='{"per_class": 1}',
             config="kmedoids-coreset:per_class=1"),
        _row("kmedoids-coreset", "dataset", 15_000 * 8 / (60_000 * 784), 0.95, payload_bytes=15_000,
             params='{"per_class": 10}', config="kmedoids-coreset"),
        *[_row("compressed-random", "dataset", 1_900 * 8 / (60_000 * 784), acc, payload_bytes=b,
               params=f'{{"budget_bytes": 2000, "seed": {s}}}', config=f"compressed-random:budget_bytes=2000,seed={s}")
          for s, (acc, b) in enumerate([(0.90, 1_950), (0.92, 1_990), (0.88, 1_940)])],
    ])
    summary = report_rows.annotate(report_rows.summarise(report_rows.normalise(table)), report_rows.FullAccuracy(99.0, "x"), 100.0)
    budgets = dataset_frontier.budget_table(summary)
    assert budgets["families"] == ["kmedoids-coreset", "compressed-random"]
    by_budget = {r["budget"]: r for r in budgets["rows"]}
    assert by_budget["1,000"]["cells"] == ["–", "–"] and by_budget["1,000"]["margin"] == "–"
    # 2 KB: the coreset's 1,500 B point and the mean of the three seeds (largest payload of the three).
    assert by_budget["2,000"]["cells"] == ["70.00 (1,500 B)", "90.00 ± 2.00 (1,990 B)"]
    assert by_budget["2,000"]["margin"] == "+20.00"
    assert by_budget["16,000"]["cells"][0] == "95.00 (15,000 B)" and by_budget["16,000"]["margin"] == "+0.00"


def test_held_out_figures_are_the_headline_and_decide_the_pareto_marks():
    """A learned codec whose whole-split bpp (train images included) beats a rival but whose held-out
    test bpp does not: the held-out figure is shown first (‡), the whole split's beside it, and it loses."""
    table = _table([
        _row("conv-ae", "lossy", 0.10, 0.98, test_payload_bytes=10_000 * 784 * 0.30 / 8, test_bpp=0.30,
             test_mse=0.05, test_psnr=13.0),
        _row("jpeg", "lossy", 0.20, 0.98),
        _row("gzip", "lossless", 1.6),
    ])
    context = build_context(table, Path("/nonexistent"), Path("t.csv"))
    t = context["size_tables"][0]
    assert t["held_out"] and context["any_held_out"]
    rows = {r["config"]: r for r in t["rows"]}
    assert rows["conv-ae"]["bpp"] == "0.300‡" and rows["conv-ae"]["bpp_whole"] == "0.100"
    assert rows["conv-ae"]["psnr"] == "13.00‡" and rows["conv-ae"]["mse"] == "0.05000‡"
    assert rows["jpeg"]["bpp"] == "0.200" and rows["jpeg"]["bpp_whole"] == "0.200"
    assert [r["config"] for r in t["groups"][1]["rows"]] == ["jpeg", "conv-ae"]  # by headline bpp
    assert rows["jpeg"]["pareto_accuracy"] and not rows["conv-ae"]["pareto_accuracy"]
    assert rows["jpeg"]["pareto_error"] and not rows["conv-ae"]["pareto_error"]
    page = render.render_html(context)
    assert "bits/pixel (held-out test‡)" in page and "bits/pixel whole split" in page
    # Without held-out columns the table has no extra columns and no marks.
    plain = build_context(table.drop(columns=["test_payload_bytes", "test_bpp", "test_mse", "test_psnr"]),
                          Path("/nonexistent"), Path("t.csv"))
    assert not plain["size_tables"][0]["held_out"]
    assert {r["config"] for r in plain["size_tables"][0]["rows"] if r["pareto_accuracy"]} == {"conv-ae"}
    assert "held-out test‡" not in render.render_html(plain)


def test_the_total_counts_the_weights():
    table = _table([_row("pca", "lossy", 0.5, 0.99, model_bytes=686_000)])
    row = build_context(table, Path("/nonexistent"), Path("t.csv"))["size_tables"][0]["rows"][0]
    payload = 70_000 * 784 * 0.5 / 8
    assert row["total"] == f"{int(payload + 686_000):,d}"
    assert row["total_bpp"] == f"{8 * (payload + 686_000) / (70_000 * 784):.3f}"


def test_gpu_rows_and_extra_tables_get_their_own_device_section(tmp_path):
    cpu = _table([_row("jpeg", "lossy", 2.0, 0.99), _row("gzip", "lossless", 1.6),
                  _row("conv-ae", "lossy", 0.2, 0.98, config="conv-ae:cuda", device="cuda",
                       device_name="cuda: NVIDIA H200")])
    gpu = _table([_row("pca-cnn", "lossy", 0.3, 0.994, device="cuda", device_name="cuda: NVIDIA H200",
                       classifier_protocol="CNN 'full' profile on the GPU")])
    cpu.to_csv(tmp_path / "results.csv", index=False)
    gpu.to_csv(tmp_path / "gpu.csv", index=False)
    table = report_rows.with_extra_tables(cpu, [tmp_path / "gpu.csv"])
    context = build_context(table, tmp_path / "artifacts", tmp_path, [tmp_path / "gpu.csv"])
    assert context["main_device"] == "cpu"
    main_configs = {r["config"] for t in context["size_tables"] for r in t["rows"]}
    assert main_configs == {"jpeg", "gzip"}  # no GPU row in the CPU table
    [section] = context["device_sections"]
    assert section["device"] == "cuda" and section["names"] == "NVIDIA H200"
    assert {r["config"] for t in section["size_tables"] for r in t["rows"]} == {"conv-ae:cuda", "pca-cnn"}
    assert section["sources"] == [str(tmp_path / "gpu.csv")]
    assert section["protocol"]["protocols"] == ["CNN 'full' profile on the GPU"]
    # Nor in the CPU figures: the rate-distortion plot draws jpeg alone.
    assert "conv-ae" not in context["figures"]["rate_distortion"].caption
    out = render_report(tmp_path, extra_tables=[tmp_path / "gpu.csv"])
    page = out.read_text()
    assert 'data-device-section="cuda"' in page and 'data-device="cuda"' in page
    assert page.count('<table class="sizes"') == 2
    # A table of GPU rows only is its own main section.
    alone = build_context(gpu, tmp_path, tmp_path / "gpu.csv")
    assert alone["main_device"] == "cuda" and alone["device_sections"] == []


def test_the_committed_gpu_table_shows_its_later_bican_run_not_a_median_of_two():
    results = Path(__file__).resolve().parent.parent / "results"
    context = build_context(report_rows.with_extra_tables(pd.read_csv(results / "reference.csv"),
                                                     [results / "lossy-gpu.csv"]),
                            results / "reference-artifacts", results / "reference.csv", [results / "lossy-gpu.csv"])
    [section] = context["device_sections"]
    rows = {r["config"]: r for table in section["size_tables"] for r in table["rows"]}
    # The good training (98.08%, 97.42%), not the median with the collapsed one (53.36 +- 62.30%).
    assert "98.08" in str(rows["bican"]) and "97.42" in str(rows["bican:entropy_coded=True"])
    assert "53.36" not in str(section) and "62.30" not in str(section)
    assert dict(context["provenance"])["runs shown"].endswith("(2 row(s) of earlier runs set aside)")


def test_the_classifier_protocol_is_stated_with_the_full_data_accuracy():
    protocol = "CNN 'default' profile: 2 epochs, batch 256, Adam; trained once per distinct training set"
    rows = [_row("jpeg", "lossy", 2.0, 0.99, classifier_protocol=protocol),
            _row("random-subset", "dataset", 0.01, 0.93, classifier_protocol=protocol)]
    context = build_context(_table(rows), Path("/nonexistent"), Path("t.csv"))
    assert context["protocol"]["protocols"] == [protocol]
    assert context["protocol"]["full_accuracy"] == "not in this run"
    page = render.render_html(context)
    assert protocol.replace("'", "&#39;") in page and "not in this run" in page
    ceiling = _row("full-train-set", "dataset", 1.3, 0.9928, classifier_protocol=protocol, roles="dataset-ceiling")
    context = build_context(_table([*rows, ceiling]), Path("/nonexistent"), Path("t.csv"))
    assert context["protocol"]["full_accuracy"] == "99.28% (from the full-train-set row)"
    old = build_context(_table(rows).drop(columns=["classifier_protocol"]), Path("/nonexistent"), Path("t.csv"))
    assert old["protocol"]["protocols"] == []
    assert "Not recorded in this table" in render.render_html(old)


def test_the_throughput_says_how_many_cells_ran_side_by_side():
    rows = [_row("gzip", "lossless", 1.6, enc_s=1.0, dec_s=0.5, concurrent_cells=1),
            _row("zstd", "lossless", 1.4, enc_s=1.0, dec_s=0.5, concurrent_cells=3),
            _row("jpeg", "lossy", 2.0, 0.99, enc_s=2.0, dec_s=1.0, concurrent_cells=3)]
    context = build_context(_table(rows), Path("/nonexistent"), Path("t.csv"))
    note = context["concurrency_note"]
    assert "1 configuration timed alone" in note and "2 timed with 3 cells running side by side" in note
    assert {r["config"]: r["concurrent"] for r in context["size_tables"][0]["rows"]} == {
        "gzip": "1", "zstd": "3", "jpeg": "3"}
    assert "[×N]" in context["figures"]["throughput"].caption
    page = render.render_html(context)
    assert "cells at once" in page and "data-concurrency" in page
    old = build_context(_table(rows).drop(columns=["concurrent_cells"]), Path("/nonexistent"), Path("t.csv"))
    assert "does not record how many cells ran at once" in old["concurrency_note"]
    assert "cells at once" not in render.render_html(old)


def test_a_table_without_the_new_columns_renders_with_the_gpu_table(tmp_path, monkeypatch):
    """A table without held-out, protocol and concurrency columns, with the GPU table (which predates
    them too) as an extra table, renders every section."""
    monkeypatch.setattr(tsne_figure, "TSNE_IMAGES", 40)
    monkeypatch.setattr(tsne_figure, "TSNE_ITERATIONS", 250)
    results = Path(__file__).parent.parent / "results"
    gpu = pd.read_csv(results / "lossy-gpu.csv")
    assert not any(c in gpu for c in ("test_bpp", "classifier_protocol", "concurrent_cells"))
    (tmp_path / "run").mkdir()
    pd.read_csv(_older_reference_table(tmp_path)).to_csv(tmp_path / "run" / "results.csv", index=False)
    out = render_report(tmp_path / "run", extra_tables=[results / "lossy-gpu.csv"])
    page = out.read_text()
    assert 'data-device-section="cuda"' in page and "Not recorded in this table" in page
    for figure in ("compression-vs-accuracy", "rate-distortion", "throughput"):
        assert f'data-figure="{figure}"' in page and f'data-missing-figure="{figure}"' not in page
    assert 'data-figure-key="compression-vs-accuracy"' in page


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
            seen["anchors"] = page.locator("table[data-verdict] tr[data-anchor]").all_inner_texts()
            seen["accuracy_caption"] = page.locator("#fig-compression-vs-accuracy figcaption").inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


@pytest.mark.slow
def test_a_small_real_run_renders_a_report_chromium_loads(tmp_path):
    """The main job's report in small: split `all`, every kind (lossless, lossy, dataset with the
    full-train-set ceiling); every section is there and every figure draws."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (scripts/setup.sh installs Debian's `chromium` package)")
    run_dir = tmp_path / "run"
    codecs = "raw,gzip,webp-lossy:quality=10:framing=per-image,random-subset:per_class=1,full-train-set"
    # Smoke profile: each downstream classifier trains for seconds (three training sets: the WebP
    # reconstruction, the random subset, the 200 training images of the ceiling).
    assert main(["run", "--codecs", codecs, "--split", "all", "--limit", "200", "--profile", "smoke",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(run_dir)]) == 0
    report = run_dir / "report.html"
    assert report.is_file()  # `bench run` ends by rendering the report
    table = pd.read_parquet(run_dir / "results.parquet")
    # random-subset runs its three seeds; the four lossless rows are raw and gzip in both framings.
    assert table["accuracy"].notna().sum() == 5 and set(table["kind"]) == {"lossless", "lossy", "dataset"}

    screenshot = tmp_path / "report.png"
    seen = open_in_chromium(report, screenshot)
    assert seen["failed"] == [] and seen["errors"] == []
    assert all(url.startswith(("file://", "data:")) for url in seen["requests"]), seen["requests"]
    drawn = {f["id"] for f in seen["figures"] if f["drawn"]}
    assert drawn == FIGURES | {"dataset-samples"}, seen["figures"]
    assert seen["sections"] == ["verdict", "sizes", "accuracy", "rate-distortion", "pictures", "throughput",
                                "provenance"]
    # Only classical codecs ran: the verdict says so for each kind, and paq8px's figures measured outside the
    # bench stand as labelled anchors, in the verdict and in the accuracy figure.
    assert seen["verdict_kinds"][0] == "lossless" and "dataset" in seen["verdict_kinds"]
    assert len(seen["anchors"]) == 2 and all("paq8px v216 -8, measured outside this bench" in a
                                             for a in seen["anchors"])
    assert "0.919 bpp" in seen["anchors"][0] and "0.919 bpp" in seen["accuracy_caption"]
    assert seen["nav"] == [f"#{s}" for s in seen["sections"]]
    assert seen["size_kinds"] == ["lossless", "lossy", "dataset"]  # one table, grouped by kind
    assert seen["size_rows"] == len(table) == 9
    # One container table: split `all` limited to 200 images is the 200 training images the dataset codecs
    # code too; the original, the WebP output and the four decoded training sets.
    assert seen["container_rows"] == 6, seen["container_rows"]
    assert seen["pareto_key"] == 1
    assert seen["budget_rows"] == len(dataset_frontier.BUDGETS)  # the equal-bytes table of the dataset codecs
    assert "Classifier protocol" in seen["protocol"] and "60,000 training images" in seen["protocol"]
    assert "(from the full-train-set row)" in seen["protocol"]
    assert seen["concurrency"].startswith(("Concurrency:", "The table does not record"))
    assert screenshot.stat().st_size > 50_000
    if os.environ.get("REPORT_SCREENSHOT"):  # to look at it: REPORT_SCREENSHOT=/tmp/report.png
        shutil.copy(screenshot, os.environ["REPORT_SCREENSHOT"])


def test_report_of_a_folder_without_a_table_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error: no results table at") and "\n" not in err


def test_the_headline_table_shows_each_family_once_at_its_cheapest_good_configuration(tmp_path):
    from bench.report.markdown import headline_markdown

    rows = [
        {"codec": "full-train-set", "config": "full-train-set", "kind": "dataset", "family": "full-train-set",
         "roles": "dataset-ceiling", "split": "train", "payload_bytes": 9_000_000, "raw_bytes": 47_040_000,
         "n_images": 60_000, "accuracy": 0.99},
        {"codec": "gzip", "config": "gzip", "kind": "lossless", "family": "gzip", "split": "all",
         "payload_bytes": 11_000_000, "raw_bytes": 54_880_000, "n_images": 70_000, "mse": 0.0},
        _lossy_row("pca", {"step": 0.5}, 0.30, accuracy=0.975, test_bpp=0.31, test_payload_bytes=388_000),
        _lossy_row("pca", {"step": 0.25}, 0.60, accuracy=0.985, test_bpp=0.62, test_payload_bytes=777_000),
        _lossy_row("pca", {"step": 0.1}, 1.20, accuracy=0.989, test_bpp=1.21, test_payload_bytes=1_500_000),
        _lossy_row("jpeg", {"quality": 5}, 2.0, accuracy=0.95),
    ]
    path = tmp_path / "table.csv"
    _table(rows).to_csv(path, index=False)
    lines = headline_markdown(path).splitlines()
    verdict_lines = lines[2:lines.index("")]
    assert verdict_lines[0].startswith("| lossless | bits/pixel, 8-bit pixels | all (70,000 images) | `gzip` |")
    assert verdict_lines[0].endswith("| only classical codecs in this table |")
    assert any("paq8px v216 -8, measured outside this bench | 0.919 bpp" in line for line in verdict_lines)
    lines = lines[lines.index("") + 1:]
    body = {line.split("|")[1].strip(): line for line in lines[2:] if line.startswith("| ")}
    assert set(body) == {"full-train-set", "gzip", "pca", "jpeg"}
    assert "`pca:step=0.25`" in body["pca"] and "0.620 ‡" in body["pca"]  # cheapest within 1 point of 99%
    assert "777,000 ‡" in body["pca"]
    assert "†" in body["jpeg"]  # never within a point: its most accurate row, marked
    assert "99.00" in body["gzip"]  # a lossless codec sits at the full-data accuracy


def test_the_report_gives_bd_rates_against_webp_beside_the_rate_distortion_plot(tmp_path):
    """Four WebP rates and four of a codec with half WebP's MSE at each rate: +3 dB at equal rate."""
    rows = [_lossy_row("webp-lossy", {"quality": q}, bpp=b, family="webp-lossy")
            for q, b in zip((10, 30, 60, 90), (0.2, 0.4, 0.8, 1.6), strict=True)]
    rows += [{**_lossy_row("pca", {"step": s}, bpp=b, family="pca"), "mse": 0.005 / b}
             for s, b in zip((0.8, 0.4, 0.2, 0.1), (0.2, 0.4, 0.8, 1.6), strict=True)]
    (tmp_path / "run").mkdir()
    _table(rows).to_csv(tmp_path / "run" / "results.csv", index=False)
    page = render_report(tmp_path / "run").read_text()
    assert 'data-table="bd-rate"' in page
    table = page[page.index('data-table="bd-rate"'):]
    table = table[: table.index("</table>")]
    # PSNR = 10 log10(bpp / 0.01) for WebP, +3.01 dB for pca: pca needs 1/2 the bits over the overlap.
    assert "<td>pca</td>" in table and "-50.0%" in table
