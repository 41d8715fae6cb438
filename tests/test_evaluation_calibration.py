"""Calibration: the affine LLR map against the analytic one of Gaussian scores, Cllr and minimum Cllr
against hand computations, actual against minimum DCF."""

from __future__ import annotations

import math

import numpy as np
import pytest

from speakerlib.errors import ConfigError, ScoreError
from speakerlib.evaluation.calibration import (
    Calibration,
    actual_dcf,
    bayes_error_curve,
    bayes_threshold,
    cllr,
    fit_calibration,
    min_cllr,
)
from speakerlib.evaluation.metrics import min_dcf


def _gaussian_trials(n: int = 20000, seed: int = 0):
    """Targets N(1, 0.5^2), non-targets N(-1, 0.5^2), 1:3: the true LLR is 8 * score exactly
    (equal variances: (mu1 - mu0) / sigma^2 * s + (mu0^2 - mu1^2) / (2 sigma^2))."""
    rng = np.random.default_rng(seed)
    tar = rng.normal(1.0, 0.5, n // 4)
    non = rng.normal(-1.0, 0.5, 3 * n // 4)
    scores = np.concatenate([tar, non])
    labels = np.concatenate([np.ones(tar.size, int), np.zeros(non.size, int)])
    return scores, labels


def test_the_fit_recovers_the_true_llr_of_gaussian_scores_whatever_the_proportion_of_targets():
    scores, labels = _gaussian_trials()
    fit = fit_calibration(scores, labels, prior=0.5)
    assert fit.scale == pytest.approx(8.0, rel=0.04)
    assert fit.offset == pytest.approx(0.0, abs=0.15)
    assert fit.trials == scores.size and fit.prior == 0.5
    # the map of shifted and scaled scores undoes the change
    refit = fit_calibration(3.0 * scores - 1.0, labels)
    np.testing.assert_allclose(refit.llr(3.0 * scores - 1.0), fit.llr(scores), rtol=1e-4, atol=1e-4)
    # perfectly separated trials: a steep but finite map
    steep = fit_calibration([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert steep.scale > 10 and math.isfinite(steep.scale)


def test_cllr_is_one_for_llrs_of_zero_and_near_its_minimum_for_true_llrs():
    scores, labels = _gaussian_trials()
    assert cllr(np.zeros_like(scores), labels) == pytest.approx(1.0)
    true_llr = 8.0 * scores
    assert cllr(true_llr, labels) < 0.2
    assert 0 <= cllr(true_llr, labels) - min_cllr(true_llr, labels) < 0.01
    # a monotonic miscalibration costs Cllr but not minimum Cllr (PAV does not see the map)
    bad = 3.0 * true_llr + 4.0
    assert cllr(bad, labels) > cllr(true_llr, labels) + 0.1
    assert min_cllr(bad, labels) == pytest.approx(min_cllr(true_llr, labels), abs=1e-12)


def test_min_cllr_by_hand():
    # PAV on labels 0,1,0,1 pools the middle two: posteriors 0, 1/2, 1/2, 1; with 2 targets and 2
    # non-targets the LLRs are -inf, 0, 0, +inf. Targets cost (1 + 0) / 2, non-targets (0 + 1) / 2 bits.
    assert min_cllr([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1]) == pytest.approx(0.5)
    # separable trials: no cost left
    assert min_cllr([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 1]) == pytest.approx(0.0)
    # cllr by hand: log2(1 + e^-1) for a target at llr 1, log2(1 + e^-1) for a non-target at -1
    assert cllr([1.0, -1.0], [1, 0]) == pytest.approx(math.log2(1 + math.exp(-1)))


def test_actual_dcf_is_never_below_the_minimum_and_reaches_it_for_true_llrs():
    scores, labels = _gaussian_trials()
    true_llr = 8.0 * scores
    for p in (0.5, 0.1, 0.01):
        minimum = min_dcf(true_llr, labels, p_target=p)[0]
        actual = actual_dcf(true_llr, labels, p_target=p)
        assert actual >= minimum - 1e-12
        assert actual - minimum < 0.05
    assert actual_dcf(true_llr + 5.0, labels, p_target=0.5) > min_dcf(true_llr, labels, p_target=0.5)[0] + 0.05
    curve = bayes_error_curve(true_llr, labels)
    assert curve["log_odds"].shape == curve["actual_dcf"].shape == curve["min_dcf"].shape == (41,)
    assert (curve["actual_dcf"] >= curve["min_dcf"] - 1e-12).all()


def test_bayes_threshold_and_settings_are_checked():
    assert bayes_threshold(0.5) == 0.0
    assert bayes_threshold(0.01) == pytest.approx(math.log(99))
    assert bayes_threshold(0.5, c_fa=10.0) == pytest.approx(math.log(10))
    with pytest.raises(ConfigError, match="0 < p_target < 1"):
        bayes_threshold(1.0)
    with pytest.raises(ConfigError, match="finite"):
        Calibration(scale=float("nan"), offset=0.0)
    with pytest.raises(ScoreError):
        fit_calibration([0.1, float("nan")], [1, 0])
    c = Calibration(scale=2.0, offset=-1.0, prior=0.3, trials=10)
    assert Calibration.from_dict(c.to_dict()) == c
    assert c.score_at(c.llr(0.25)) == pytest.approx(0.25)
    with pytest.raises(ScoreError, match="refit"):
        Calibration(scale=-1.0, offset=0.0).score_at(0.0)
