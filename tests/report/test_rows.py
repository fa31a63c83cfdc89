"""The report's rows (bench.report.rows): normalising, the latest run of each configuration, families and
roles, the headline figures, the Pareto marks."""

from pathlib import Path

import numpy as np
import pytest
from builders import make_lossy_row, make_row, make_table

from bench import ImageCodec, register_codec
from bench.api.registry import _REGISTRY, report_columns
from bench.report import render
from bench.report import rows as report_rows
from bench.report.figures import per_digit as per_digit_figure
from bench.report.figures import style as style
from bench.report.render import build_context
from bench.report.rows import pareto_mask


def test_pareto_mask_keeps_only_undominated_points():
    size = [10, 20, 30, 40, 15, np.nan]
    loss = [5.0, 1.0, 1.0, 0.0, 6.0, 0.0]
    # 30 has the loss of 20 at a larger size; 15 is beaten by 10 on both; NaN size never counts.
    assert pareto_mask(size, loss).tolist() == [True, True, False, True, False, False]


def test_lossless_rows_sit_at_the_full_data_accuracy():
    table = make_table([
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


def test_a_figure_is_never_a_median_over_rows_of_different_runs():
    def bican(run_id, started, accuracy, payload, repetition=0):
        return {"codec": "bican", "config": "bican", "kind": "lossy", "split": "test", "params": "{}",
                "n_images": 10_000, "raw_bytes": 7_840_000, "payload_bytes": payload, "mse": 0.01,
                "accuracy": accuracy, "status": "ok", "repetition": repetition, "device": "cuda",
                "device_name": "cuda: H100", "started_at": started, "run_id": run_id}

    # A collapsed training and a good one, two runs: the report shows the later run's figures alone.
    table = make_table([bican("a", "2026-11-22T10:19:36+00:00", 0.0756, 2_000_016),
                    bican("b", "2026-11-22T10:33:01+00:00", 0.9808, 1_999_000)])
    frame = report_rows.normalise(table)
    assert frame.attrs["superseded"] == 1
    summary = report_rows.summarise(frame)
    assert len(summary) == 1 and summary["accuracy"].iloc[0] == pytest.approx(0.9808)
    assert summary["payload_bytes"].iloc[0] == 1_999_000 and summary["n_reps"].iloc[0] == 1
    assert summary["accuracy_sd"].isna().all()  # no spread drawn over one row
    # Repetitions of one run are what a median and a spread are taken over.
    reps = make_table([bican("a", "2026-11-22T10:19:36+00:00", 0.0756, 2_000_016),
                   bican("b", "2026-11-22T10:33:01+00:00", 0.97, 1_999_000, 0),
                   bican("b", "2026-11-22T10:35:01+00:00", 0.98, 1_999_000, 1),
                   bican("b", "2026-11-22T10:37:01+00:00", 0.99, 1_999_000, 2)])
    summary = report_rows.summarise(report_rows.normalise(reps))
    assert summary["n_reps"].iloc[0] == 3 and summary["accuracy"].iloc[0] == pytest.approx(0.98)
    assert summary["accuracy_sd"].iloc[0] == pytest.approx(0.01)


def test_rows_of_a_table_older_than_run_ids_are_told_apart_by_their_command_line():
    def row(command, started, accuracy):
        return {"codec": "pca", "config": "pca", "kind": "lossy", "split": "test", "params": "{}",
                "n_images": 10_000, "raw_bytes": 7_840_000, "payload_bytes": 100_000, "mse": 0.01,
                "accuracy": accuracy, "status": "ok", "started_at": started, "command": command}

    first = "bench run --codecs pca --out runs/one"
    table = make_table([row(first, "2026-11-22T10:00:00+00:00", 0.90),
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


def test_the_rows_own_family_and_roles_win_over_the_registry():
    """Rows the runner wrote carry `family` and `roles`: the report reads them, even for a codec the
    registry does not know, and a row without them still gets the registry's."""
    table = make_table([make_lossy_row("renamed-ae", {"latent_dims": 39}, bpp=0.2, family="ae", roles="writeup-autoencoder"),
                    make_lossy_row("conv-ae", {"latent_dims": 39}, bpp=0.1, family="ae", roles=np.nan),
                    make_lossy_row("conv-ae", {"latent_dims": 8}, bpp=0.05, family=np.nan, roles=np.nan),
                    make_lossy_row("jpeg", {"quality": 5}, bpp=0.3, family=np.nan, roles=np.nan)])
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


def test_held_out_figures_are_the_headline_and_decide_the_pareto_marks():
    """A learned codec whose whole-split bpp (train images included) beats a rival but whose held-out
    test bpp does not: the held-out figure is shown first (‡), the whole split's beside it, and it loses."""
    table = make_table([
        make_row("conv-ae", "lossy", 0.10, 0.98, test_payload_bytes=10_000 * 784 * 0.30 / 8, test_bpp=0.30,
             test_mse=0.05, test_psnr=13.0),
        make_row("jpeg", "lossy", 0.20, 0.98),
        make_row("gzip", "lossless", 1.6),
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
    table = make_table([make_row("pca", "lossy", 0.5, 0.99, model_bytes=686_000)])
    row = build_context(table, Path("/nonexistent"), Path("t.csv"))["size_tables"][0]["rows"][0]
    payload = 70_000 * 784 * 0.5 / 8
    assert row["total"] == f"{int(payload + 686_000):,d}"
    assert row["total_bpp"] == f"{8 * (payload + 686_000) / (70_000 * 784):.3f}"


def test_seeds_of_one_run_give_a_mean_a_standard_deviation_and_a_t_interval():
    def subset(seed, accuracy):
        return {"codec": "random-subset", "config": "random-subset", "kind": "dataset", "split": "all",
                "params": "{}", "n_images": 60000, "raw_bytes": 47_040_000, "payload_bytes": 15_000,
                "accuracy": accuracy, "status": "ok", "seed": seed, "run_id": "one"}

    summary = report_rows.summarise(report_rows.normalise(make_table(
        [subset(0, 0.9754), subset(1, 0.9777), subset(2, 0.9783)])))
    row = summary.iloc[0]
    assert row["n_reps"] == 3 and row["accuracy_mean"] == pytest.approx(0.97713, abs=1e-5)
    assert row["accuracy_sd"] == pytest.approx(0.001531, abs=1e-6)
    assert row["accuracy_ci"] == pytest.approx(4.3027 * 0.001531 / 3 ** 0.5, rel=1e-3)  # t(0.975, 2 df)
    one = report_rows.summarise(report_rows.normalise(make_table([subset(0, 0.9754)]))).iloc[0]
    assert np.isnan(one["accuracy_ci"]) and np.isnan(one["accuracy_sd"])  # no interval from one value


def test_a_pareto_point_is_dominated_only_by_an_interval_that_clears_it():
    # The second row is larger and a little worse: dominated as points, a tie within their intervals.
    assert pareto_mask([1.0, 2.0], [1.0, 1.1]).tolist() == [True, False]
    assert pareto_mask([1.0, 2.0], [1.0, 1.1], margin=[0.2, 0.2]).tolist() == [True, True]
    assert pareto_mask([1.0, 2.0], [1.0, 1.5], margin=[0.2, 0.2]).tolist() == [True, False]  # cleared
