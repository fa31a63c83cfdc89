"""The verdict: the strongest codec of each side on the same images, weights counted, external anchors."""

import json

import pandas as pd
import pytest

from bench.report import verdict


def _row(config, approach, kind, bpp, *, psnr=float("nan"), model_bytes=0, held_out=True, split="all",
         n_images=70_000, framing=None, exact_source="", payload_bytes=None, accuracy_pct=float("nan")):
    family = config.split(":")[0]
    return {"config": config, "codec": family, "family": family, "approach": approach, "kind": kind,
            "head_bpp": bpp, "bpp": bpp, "head_psnr": psnr, "model_bytes": model_bytes, "held_out": held_out, "split": split,
            "n_images": n_images, "params": json.dumps({"framing": framing} if framing else {}),
            "exact_source": exact_source, "payload_bytes": payload_bytes or bpp * 784 * n_images / 8,
            "accuracy_pct": accuracy_pct}


def test_lossless_compares_the_same_images_and_decides_with_the_weights_counted():
    weights = 560_000  # 8 * 560,000 / (70,000 * 784) = 0.0816 bpp
    rows = [_row("zpaq", "classical", "lossless", 1.00), _row("lzma", "classical", "lossless", 1.38),
            _row("local-ar", "neural", "lossless", 0.95, model_bytes=weights),
            # Cheaper, but on other images (all 70,000, no test figures): never compared with the rest.
            _row("weightless", "neural", "lossless", 0.50, held_out=False)]
    line = verdict.verdict_lines(pd.DataFrame(rows))[0]
    assert line["images"] == "the 10,000 test images"
    assert line["classical"]["config"] == "zpaq" and line["neural"]["config"] == "local-ar"
    assert line["ratio"] == pytest.approx(0.95)
    assert line["neural_weighted"]["value"] == pytest.approx(0.95 + 8 * weights / (70_000 * 784))
    assert line["ratio_weighted"] == pytest.approx(1.0316, abs=1e-4)
    assert line["outcome"].startswith("classical by 3.2%")  # neural smaller on payload, larger with weights


def test_binarised_codecs_get_a_line_of_their_own_and_lossy_lines_read_curves_at_a_psnr():
    rows = [_row("ar-mnist", "neural", "lossy", 0.17, psnr=20.7, exact_source="binarised at 128", model_bytes=0),
            _row("bilevel:coder=zpaq", "classical", "lossy", 0.20, psnr=20.7, exact_source="binarised at 128"),
            _row("jpeg:quality=5", "classical", "lossy", 2.0, psnr=20.0, framing="per-image"),
            _row("jpeg:quality=25", "classical", "lossy", 4.0, psnr=25.0, framing="per-image"),
            _row("jxl-lossy:distance=8", "classical", "lossy", 0.5, psnr=20.0, framing="stream"),
            _row("jxl-lossy:distance=2", "classical", "lossy", 1.0, psnr=25.0, framing="stream"),
            _row("pca-cnn:step=0.8", "neural", "lossy", 0.2, psnr=22.0, model_bytes=0),
            _row("pca-cnn:step=0.4", "neural", "lossy", 0.4, psnr=26.0, model_bytes=0)]
    lines = verdict.verdict_lines(pd.DataFrame(rows))
    binarised = next(v for v in lines if v["kind"] == "exact on binarised")
    assert binarised["neural"]["config"] == "ar-mnist" and binarised["outcome"].startswith("neural by 15.0%")
    at = {v["what"]: v for v in lines if v["kind"] == "lossy"}
    assert at["bits/pixel at 21 dB PSNR"]["neural"] is None  # pca-cnn's curve starts at 22 dB
    line = at["bits/pixel at 25 dB PSNR"]
    assert line["classical"]["config"] == "jxl-lossy [stream]" and line["classical"]["value"] == pytest.approx(1.0)
    assert line["neural"]["value"] == pytest.approx(0.2 * 2 ** 0.75)  # 3/4 of the way from 22 to 26 dB in log-rate
    assert "bits/pixel at 30 dB PSNR" not in at  # nobody reaches it


def test_dataset_lines_take_the_most_accurate_set_within_each_budget():
    rows = [_row("compressed-random", "classical", "dataset", 0.003, payload_bytes=15_900, accuracy_pct=97.8,
                 held_out=False, split="train", n_images=60_000),
            _row("distilled", "neural", "dataset", 0.009, payload_bytes=50_000, accuracy_pct=93.9,
                 held_out=False, split="train", n_images=60_000)]
    lines = [v for v in verdict.verdict_lines(pd.DataFrame(rows)) if v["kind"] == "dataset"]
    assert lines[0]["neural"] is None and lines[0]["outcome"] == "only classical codecs in this table"
    assert lines[1]["outcome"] == "classical by 3.90 points"


def test_an_external_anchor_shows_until_the_wrapper_has_a_row_on_the_same_images():
    table = pd.DataFrame([_row("lzma", "classical", "lossless", 1.38)])
    anchors = verdict.pending_anchors(table)
    assert [a["images"] for a in anchors] == ["test", "all"]
    assert anchors[0]["bpp"] == pytest.approx(8 * 900_342 / 7_840_000)
    measured = pd.DataFrame([_row("paq8px", "classical", "lossless", 0.92, held_out=False, split="test",
                                  n_images=10_000)])
    assert [a["images"] for a in verdict.pending_anchors(measured)] == ["all"]


def test_the_binarised_table_lists_both_sides_on_the_binarised_source_smallest_first():
    rows = [_row("ar-mnist", "neural", "lossy", 0.169, model_bytes=3_894, exact_source="binarised at 128"),
            _row("bilevel:coder=g4", "classical", "lossy", 0.208, exact_source="binarised at 128"),
            _row("jpeg:quality=5", "classical", "lossy", 2.0, psnr=20.5)]
    frame = pd.DataFrame(rows).assign(test_payload_bytes=[165_335, 203_593, 1_000], enc_images_per_s=[5_800.0, 9e4, 1.0],
                                      dec_images_per_s=[6_900.0, float("nan"), 1.0])
    table = verdict.binarised_table(frame)
    assert [r["config"] for r in table] == ["ar-mnist", "bilevel:coder=g4"]
    assert table[0]["payload"] == "165,335" and table[0]["approach"] == "neural" and table[1]["dec"] == "–"
    assert table[0]["bpp_with_weights"] == f"{0.169 + 8 * 3_894 / (70_000 * 784):.4f}"


def test_dataset_lines_use_the_mean_over_seeds_and_tie_inside_the_intervals():
    def seeded(config, approach, mean, sd, ci, payload):
        return {**_row(config, approach, "dataset", 0.003, payload_bytes=payload, accuracy_pct=mean + 0.5,
                       held_out=False, split="train", n_images=60_000),
                "accuracy_mean_pct": mean, "accuracy_sd_pct": sd, "accuracy_ci_pct": ci, "n_reps": 3}

    # A larger median but a smaller mean: the mean decides, and the text says mean ± sd over the seeds.
    rows = [seeded("compressed-random", "classical", 97.71, 0.15, 0.37, 15_900),
            seeded("lgc:width=4", "neural", 97.40, 0.20, 0.50, 15_000)]
    line = next(v for v in verdict.verdict_lines(pd.DataFrame(rows)) if v["kind"] == "dataset")
    assert line["classical"]["text"] == "97.71 ± 0.15% (15,900 B, 3 seeds)"
    assert line["outcome"] == "tie within the 95% intervals (-0.31 points)"
    rows[1] = seeded("lgc:width=4", "neural", 96.40, 0.20, 0.50, 15_000)
    line = next(v for v in verdict.verdict_lines(pd.DataFrame(rows)) if v["kind"] == "dataset")
    assert line["outcome"] == "classical by 1.31 points"


def test_a_neural_codec_on_all_70000_images_meets_the_strongest_classical_there_anchor_included():
    rows = [_row("jxl", "classical", "lossless", 1.115), _row("local-ar", "neural", "lossless", 1.118),
            {**_row("weightless-cm", "neural", "lossless", 0.917), "bpp": 0.842},
            {**_row("zpaq", "classical", "lossless", 1.26), "bpp": 1.198}]
    lines = verdict.verdict_lines(pd.DataFrame(rows))
    whole = next(v for v in lines if v["images"] == "all 70,000 images")
    # paq8px measured outside the bench (0.868 on these images) beats every classical row here.
    assert whole["classical"]["config"] == "paq8px v216 -8, measured outside this bench"
    assert whole["neural"]["config"] == "weightless-cm" and whole["neural"]["value"] == pytest.approx(0.842)
    assert whole["outcome"].startswith("neural by 3.0%")
    # Without a neural row on all 70,000 images there is no such line.
    assert not any(v["images"] == "all 70,000 images" for v in verdict.verdict_lines(pd.DataFrame(rows[:1])))
