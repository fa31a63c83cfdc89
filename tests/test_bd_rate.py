"""BD-rate on synthetic rate-distortion curves whose answer is known in closed form."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.report.bd_rate import bd_rate, bd_rate_table, rd_curve


def _psnr_of(rate, scale=1.0):
    """A concave curve, as real codecs have: PSNR = 20 + 6 log2(rate / scale) - 0.3 log2(rate / scale)^2."""
    x = np.log2(np.asarray(rate, float) / scale)
    return 20 + 6 * x - 0.3 * x**2


def test_a_codec_spending_a_fixed_fraction_of_the_anchors_bits_has_that_bd_rate():
    anchor = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    # The same curve reached with 70% of the bits, sampled at other rates: -30% exactly, up to interpolation.
    test = np.array([0.09, 0.15, 0.3, 0.5, 0.9, 1.3])
    value = bd_rate(anchor, _psnr_of(anchor), test, _psnr_of(test, scale=0.7))
    assert value == pytest.approx(-30.0, abs=0.3)
    # The other way round: the anchor spends 1/0.7 of the test's bits.
    assert bd_rate(test, _psnr_of(test, scale=0.7), anchor, _psnr_of(anchor)) == pytest.approx(100 / 0.7 - 100, abs=0.5)


def test_curves_sampled_at_the_same_psnr_give_the_exact_ratio():
    psnr = np.array([22.0, 25.0, 28.0, 31.0])
    anchor = np.exp(psnr / 5.0)  # log-rate linear in PSNR: PCHIP reproduces it exactly
    assert bd_rate(anchor, psnr, anchor * 1.25, psnr) == pytest.approx(25.0, abs=1e-9)
    assert bd_rate(anchor, psnr, anchor, psnr) == pytest.approx(0.0, abs=1e-12)


def test_only_the_overlapping_psnr_range_counts():
    psnr = np.linspace(20, 40, 6)
    anchor = np.exp(psnr / 5.0)
    # The test codec is 2x the anchor below 30 dB and equal above; it is measured only from 30 to 40 dB.
    test_psnr = np.linspace(30, 45, 6)
    assert bd_rate(anchor, psnr, np.exp(test_psnr / 5.0), test_psnr) == pytest.approx(0.0, abs=1e-9)
    # Linear log-rate, offset by log(2) over half the overlap, zero over the other half: mean log 2 / 2.
    mixed_psnr = np.array([20.0, 25.0, 30.0, 35.0, 40.0])
    offset = np.where(mixed_psnr < 30, math.log(2), 0.0)
    mixed = np.exp(mixed_psnr / 5.0 + offset)
    value = bd_rate(anchor, psnr, mixed, mixed_psnr)
    assert 0 < value < 100  # twice the bits over part of the range, the same over the rest


def test_no_overlap_or_too_few_points_gives_nan():
    assert math.isnan(bd_rate([1, 2], [20, 21], [1, 2], [30, 31]))
    assert math.isnan(bd_rate([1], [20], [1, 2], [20, 21]))


def test_beaten_points_leave_the_curve():
    rate, psnr = rd_curve([0.4, 0.1, 0.2, 0.3, 0.2], [30, 20, 25, 24, 26])
    assert rate.tolist() == [0.1, 0.2, 0.4] and psnr.tolist() == [20, 26, 30]


def test_the_table_has_families_with_four_points_against_each_anchor_present():
    rates = np.array([0.1, 0.2, 0.4, 0.8])
    rows = []
    for family, scale in (("webp-lossy", 1.0), ("jpeg", 2.0), ("hyperprior", 0.5)):
        rows += [{"family": family, "kind": "lossy", "split": "test", "head_bpp": r, "head_psnr": p}
                 for r, p in zip(rates * scale, _psnr_of(rates), strict=True)]
    rows += [{"family": "pca", "kind": "lossy", "split": "test", "head_bpp": r, "head_psnr": p}
             for r, p in zip([0.1, 0.2, 0.4], [20, 24, 28], strict=True)]  # three points: no BD-rate
    table = bd_rate_table(pd.DataFrame(rows))
    assert table["anchors"] == ["webp-lossy", "jpeg"]
    by_family = {r["family"]: r for r in table["rows"]}
    assert set(by_family) == {"hyperprior", "jpeg", "webp-lossy"}
    assert by_family["hyperprior"]["cells"][0]["number"] == pytest.approx(-50.0, abs=1e-6)
    assert by_family["hyperprior"]["cells"][1]["number"] == pytest.approx(-75.0, abs=1e-6)
    assert by_family["jpeg"]["cells"][0]["number"] == pytest.approx(100.0, abs=1e-6)
    assert by_family["webp-lossy"]["cells"][0]["value"] == "–"
    assert bd_rate_table(pd.DataFrame(rows[4:]))["anchors"] == ["jpeg"]  # WebP absent: JPEG alone
    assert bd_rate_table(pd.DataFrame(rows[8:])) is None  # no anchor at all
    assert bd_rate_table(pd.DataFrame([r for r in rows if r["family"] == "pca"])) is None


def test_framings_are_curves_of_their_own_and_the_strongest_classical_curve_is_an_anchor():
    rates = np.array([0.1, 0.2, 0.4, 0.8])

    def curve(family, approach, scale, framing=None):
        params = json.dumps({"framing": framing} if framing else {})
        return [{"family": family, "approach": approach, "params": params, "kind": "lossy", "split": "test",
                 "head_bpp": r, "head_psnr": p} for r, p in zip(rates * scale, _psnr_of(rates), strict=True)]

    rows = (curve("webp-lossy", "classical", 1.0, "per-image") + curve("webp-lossy", "classical", 0.6, "stream")
            + curve("jpeg", "classical", 2.0, "per-image") + curve("jxl-lossy", "classical", 0.4, "stream")
            + curve("hyperprior", "neural", 0.5))
    table = bd_rate_table(pd.DataFrame(rows))
    # The strongest classical curve (JPEG XL in one stream here) first, then WebP and JPEG one file per image.
    assert table["anchors"] == ["jxl-lossy [stream]", "webp-lossy [per-image]", "jpeg [per-image]"]
    assert table["strongest_classical"] == "jxl-lossy [stream]"
    by_series = {r["family"]: r for r in table["rows"]}
    assert by_series["webp-lossy [stream]"]["cells"][1]["number"] == pytest.approx(-40.0, abs=1e-6)
    assert by_series["hyperprior"]["cells"][0]["number"] == pytest.approx(25.0, abs=1e-6)  # 0.5 / 0.4
    assert by_series["hyperprior"]["cells"][1]["number"] == pytest.approx(-50.0, abs=1e-6)
