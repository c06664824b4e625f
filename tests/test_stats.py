"""Robust statistics of trials."""

import numpy as np
import pytest

from common.stats import cv, percentiles_ms, summarize
from reports.regressions import noise


def test_summary_of_known_samples():
    s = summarize([10.0, 11.0, 12.0, 13.0, 100.0])
    assert s["median"] == 12.0
    assert s["iqr"] == pytest.approx(2.0)
    assert s["ci_low"] <= s["median"] <= s["ci_high"]
    assert s["raw"] == [10.0, 11.0, 12.0, 13.0, 100.0]
    assert s["cv"] > 1.0  # the outlier shows in the CV, not in the median


def test_constant_samples_have_a_zero_width_interval():
    s = summarize([5.0] * 5)
    assert (s["ci_low"], s["ci_high"], s["cv"]) == (5.0, 5.0, 0.0)


def test_empty_is_none_not_zero():
    assert summarize([])["median"] is None


def test_percentiles_in_ms():
    p = percentiles_ms(list(np.linspace(0.001, 0.1, 100)))
    assert p["p50"] == pytest.approx(50.5, rel=1e-3)
    assert p["p99"] > p["p90"] > p["p50"]


def test_cv_is_sample_std_over_mean_and_zero_when_undefined():
    assert cv([90.0, 100.0, 110.0]) == pytest.approx(0.1)
    assert cv([]) == cv([5.0]) == cv([-1.0, 1.0]) == 0.0


def test_the_nightly_noise_is_the_common_cv():
    """reports.regressions has no CV of its own: its noise is common.stats.cv of the history or the trials."""
    assert noise([90.0, 100.0, 110.0], [[100.0, 100.0]]) == cv([90.0, 100.0, 110.0])
    assert noise([100.0, 100.0], [[50.0, 150.0]]) == cv([50.0, 150.0])


def test_percentiles_need_enough_calls():
    """p99 of 20 calls would be their maximum: it is None with the reason, and p90 needs 10 calls."""
    p = percentiles_ms([0.001 * i for i in range(1, 21)])
    assert p["p50"] is not None and p["p90"] is not None
    assert p["p99"] is None and p["p99_reason"] == "20 calls; p99 needs at least 100"
    q = percentiles_ms([0.001] * 9)
    assert q["p90"] is None and "p90_reason" in q and q["p99"] is None
    assert "p99_reason" not in percentiles_ms([0.001] * 100)
