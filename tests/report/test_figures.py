"""The report's figures (bench.report.figures): what each draws, from which rows."""

from pathlib import Path

import pytest
from builders import make_lossy_row, make_main_job_table, make_row, make_table

from bench import DatasetCodec, ImageCodec, register_codec
from bench.report import render
from bench.report import rows as report_rows
from bench.report.figures import accuracy as accuracy_figure
from bench.report.figures import per_digit as per_digit_figure
from bench.report.figures import rate_distortion as rate_distortion_figure
from bench.report.figures import style as style
from bench.report.render import build_context, render_report


def test_seeds_merge_into_one_point_and_the_full_train_set_is_the_ceiling():
    def subset(seed, accuracy):
        return {"codec": "random-subset", "config": f"random-subset:seed={seed}", "kind": "dataset", "split": "all",
                "params": f'{{"per_class": 10, "seed": {seed}}}', "n_images": 60000, "raw_bytes": 47_040_000,
                "payload_bytes": 60_000 + seed, "accuracy": accuracy, "status": "ok"}

    table = make_table([subset(0, 0.90), subset(1, 0.92), subset(2, 0.94),
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

    table = make_table([*(make_lossy_row("tiny-ae", {"width": w}, bpp=w / 4) for w in (8, 4, 2, 1)),
                    make_lossy_row("tiny-ae-v2", {}, bpp=3.0),
                    *(make_lossy_row("webp-lossy", {"quality": q}, bpp=q / 50) for q in (10, 50, 90)),
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
    assert "tiny-ae:width=4" in render.caption(per_digit)
    bars = [t.get_text() for t in drawn["per-digit-error"].axes[0].get_legend().get_texts()]
    assert [b.split(" ")[0] for b in bars] == ["tiny-ae:width=4", "tiny-ae:width=1"]
    series = [t.get_text() for t in drawn["rate-distortion"].axes[0].get_legend().get_texts()]
    assert series == ["tiny", "webp-lossy"]  # both tiny codecs are one family: one series


def test_every_family_has_its_own_colour_and_marker_and_the_colour_says_the_kind():
    summary = report_rows.annotate(report_rows.summarise(report_rows.normalise(make_main_job_table())), report_rows.FullAccuracy(None, ""),
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

    table = make_main_job_table()
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
    assert "published, not measured here" in render.caption(figure)


def test_the_throughput_says_how_many_cells_ran_side_by_side():
    rows = [make_row("gzip", "lossless", 1.6, enc_s=1.0, dec_s=0.5, concurrent_cells=1),
            make_row("zstd", "lossless", 1.4, enc_s=1.0, dec_s=0.5, concurrent_cells=3),
            make_row("jpeg", "lossy", 2.0, 0.99, enc_s=2.0, dec_s=1.0, concurrent_cells=3)]
    context = build_context(make_table(rows), Path("/nonexistent"), Path("t.csv"))
    note = context["concurrency_note"]
    assert "1 configuration timed alone" in note and "2 timed with 3 cells running side by side" in note
    assert {r["config"]: r["concurrent"] for r in context["size_tables"][0]["rows"]} == {
        "gzip": "1", "zstd": "3", "jpeg": "3"}
    assert "[×N]" in render.caption(context["figures"]["throughput"])
    page = render.render_html(context)
    assert "cells at once" in page and "data-concurrency" in page
    old = build_context(make_table(rows).drop(columns=["concurrent_cells"]), Path("/nonexistent"), Path("t.csv"))
    assert "does not record how many cells ran at once" in old["concurrency_note"]
    assert "cells at once" not in render.render_html(old)


def test_the_report_gives_bd_rates_against_webp_beside_the_rate_distortion_plot(tmp_path):
    """Four WebP rates and four of a codec with half WebP's MSE at each rate: +3 dB at equal rate."""
    rows = [make_lossy_row("webp-lossy", {"quality": q}, bpp=b, family="webp-lossy")
            for q, b in zip((10, 30, 60, 90), (0.2, 0.4, 0.8, 1.6), strict=True)]
    rows += [{**make_lossy_row("pca", {"step": s}, bpp=b, family="pca"), "mse": 0.005 / b}
             for s, b in zip((0.8, 0.4, 0.2, 0.1), (0.2, 0.4, 0.8, 1.6), strict=True)]
    (tmp_path / "run").mkdir()
    make_table(rows).to_csv(tmp_path / "run" / "results.csv", index=False)
    page = render_report(tmp_path / "run").read_text()
    assert 'data-table="bd-rate"' in page
    table = page[page.index('data-table="bd-rate"'):]
    table = table[: table.index("</table>")]
    # PSNR = 10 log10(bpp / 0.01) for WebP, +3.01 dB for pca: pca needs 1/2 the bits over the overlap.
    assert "<td>pca</td>" in table and "-50.0%" in table


def test_every_figure_has_its_caption_block_in_the_template():
    context = build_context(make_table([make_row("gzip", "lossless", 1.6, enc_s=1.0, dec_s=0.5)]),
                            Path("/nonexistent"), Path("t.csv"))
    captions = {figure.id: render.caption(figure) for figure in context["figures"].values()}
    assert len(captions) == len(context["figures"]) >= 7
    assert all(len(text) > 60 for text in captions.values()), captions
