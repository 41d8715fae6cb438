"""Calibration: scores turned into log-likelihood ratios, and how good those ratios are.

A cosine score says "more or less alike"; it does not say how much more
likely the trial is a same-speaker one. A *log-likelihood ratio* (LLR) does:
``llr = log p(score | same) / p(score | different)`` (natural log), so that
for a prior probability ``P`` of a same-speaker trial the posterior log-odds
are ``llr + logit(P)``. With costs ``C_miss`` and ``C_fa`` the decision that
minimises the expected cost accepts when ``llr >= log(C_fa (1 - P) / (C_miss P))``,
the *Bayes threshold* (:func:`bayes_threshold`): 0 for equal priors and costs.

Here scores are mapped to LLRs by an affine function, ``llr = scale * score + offset``,
fitted by prior-weighted logistic regression on *dev* trials (Brümmer and du
Preez 2006; the BOSARIS toolkit's linear calibration). Its quality on *test*
trials is measured by

* :func:`cllr`, the cost of the LLRs as they are (bits; 0 perfect, 1 = an
  LLR of 0 on every trial, larger = worse than saying nothing), and
  :func:`min_cllr`, the same after the best monotonic recalibration of the
  test scores themselves (pool-adjacent-violators), so ``cllr - min_cllr``
  is what miscalibration costs;
* :func:`actual_dcf`, the normalised detection cost of deciding at the Bayes
  threshold, beside :func:`speakerlib.evaluation.metrics.min_dcf` (the best
  threshold chosen on the test trials themselves);
* :func:`bayes_error_curve`, both over a range of priors (the applied
  probability-of-error plot, :func:`speakerlib.evaluation.plots.plot_bayes_error`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from speakerlib.errors import ConfigError, ScoreError
from speakerlib.evaluation.metrics import check_trials, min_dcf

__all__ = ["Calibration", "fit_calibration", "bayes_threshold", "cllr", "min_cllr", "actual_dcf",
           "bayes_error_curve"]


def _check_prior(p_target: float) -> float:
    if not 0.0 < p_target < 1.0:
        raise ConfigError(f"expected a prior with 0 < p_target < 1, found {p_target}.")
    return float(p_target)


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def bayes_threshold(p_target: float = 0.5, *, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """The LLR above which accepting costs less than rejecting: ``log(C_fa (1 - P) / (C_miss P))``.

    >>> bayes_threshold(0.5)
    0.0
    >>> round(bayes_threshold(0.01), 3)
    4.595
    """
    p = _check_prior(p_target)
    if c_miss <= 0 or c_fa <= 0:
        raise ConfigError(f"expected positive costs, found c_miss={c_miss}, c_fa={c_fa}.")
    return float(math.log(c_fa) - math.log(c_miss) - _logit(p))


@dataclass(frozen=True)
class Calibration:
    """An affine map from scores to natural-log likelihood ratios: ``llr = scale * score + offset``.

    Attributes
    ----------
    scale, offset : float
        The map.
    prior : float in (0, 1)
        The prior the logistic regression was weighted for (the LLR does not
        depend on it in principle; in practice it says which operating region
        the fit favours).
    trials : int
        Trials it was fitted on.
    """

    scale: float
    offset: float
    prior: float = 0.5
    trials: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and math.isfinite(self.offset)):
            raise ConfigError(f"Calibration: expected a finite scale and offset, found {self.scale}, "
                              f"{self.offset}.")
        _check_prior(self.prior)

    def llr(self, scores: ArrayLike) -> np.ndarray:
        """The LLRs of ``scores`` (any shape), float64."""
        return self.scale * np.asarray(scores, dtype=np.float64) + self.offset

    def score_at(self, llr: float) -> float:
        """The score whose LLR is ``llr`` (the score threshold of an LLR threshold); needs ``scale > 0``."""
        if not self.scale > 0:
            raise ScoreError(f"Calibration: a scale of {self.scale} maps higher scores to lower LLRs; refit "
                             "it on trials where same-speaker pairs score higher.")
        return float((llr - self.offset) / self.scale)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Calibration:
        return cls(**{k: values[k] for k in ("scale", "offset", "prior", "trials") if k in values})


def fit_calibration(scores: ArrayLike, labels: ArrayLike, *, prior: float = 0.5,
                    ridge: float = 1e-9, max_iter: int = 100) -> Calibration:
    """Fit ``llr = scale * score + offset`` on (dev) trials by prior-weighted logistic regression.

    Minimises the cross-entropy ``P * mean_tar log(1 + exp(-(llr + logit P))) +
    (1 - P) * mean_non log(1 + exp(llr + logit P))``, which weights the two
    kinds of trial by the prior, not by how many of each the list holds, with
    Newton's method (the objective is convex in the two parameters). A tiny
    ridge on the scale keeps it finite on trials that are perfectly separated.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite scores of dev trials (speakers the model did not train on).
    labels : array_like [shape=(n,)]
        1 target, 0 non-target; both present.
    prior : float in (0, 1)
    ridge : float >= 0
    max_iter : int

    Returns
    -------
    Calibration

    Raises
    ------
    ScoreError, TrialListError
        For bad scores or labels.
    """
    p = _check_prior(prior)
    s, y = check_trials(scores, labels)
    tar, non = y == 1, y == 0
    weights = np.where(tar, p / tar.sum(), (1.0 - p) / non.sum())
    signs = np.where(tar, 1.0, -1.0)
    shift = _logit(p)
    X = np.stack([s, np.ones_like(s)], axis=1)
    theta = np.zeros(2)
    for _ in range(max_iter):
        z = signs * (X @ theta + shift)
        sig = 0.5 * (1.0 + np.tanh(-0.5 * z))  # sigmoid(-z), stable
        grad = -(X * (weights * signs * sig)[:, None]).sum(axis=0) + np.array([ridge * theta[0], 0.0])
        hess = (X.T * (weights * sig * (1.0 - sig))) @ X + np.diag([ridge, 1e-12])
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return Calibration(scale=float(theta[0]), offset=float(theta[1]), prior=p, trials=int(s.size))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def cllr(llr: ArrayLike, labels: ArrayLike) -> float:
    """The log-likelihood-ratio cost [bits]: ``(mean_tar log2(1 + e^-llr) + mean_non log2(1 + e^llr)) / 2``.

    0 for perfect LLRs, 1 for an LLR of 0 everywhere (no information, well
    calibrated), above 1 for LLRs that mislead.

    >>> cllr([0.0, 0.0], [1, 0])
    1.0
    """
    s, y = check_trials(llr, labels)
    return float((_softplus(-s[y == 1]).mean() + _softplus(s[y == 0]).mean()) / (2.0 * math.log(2.0)))


def _pav_llr(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The LLRs of the best monotonic (non-decreasing) map of the scores: posteriors by
    pool-adjacent-violators, minus the prior log-odds of the list."""
    from sklearn.isotonic import IsotonicRegression  # slow to import; only min_cllr needs it

    posterior = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True).fit_transform(scores, labels)
    n_tar, n_non = int(labels.sum()), int((labels == 0).sum())
    with np.errstate(divide="ignore"):
        return np.log(posterior) - np.log1p(-posterior) - math.log(n_tar / n_non)


def min_cllr(scores: ArrayLike, labels: ArrayLike) -> float:
    """:func:`cllr` after the best monotonic recalibration of these very trials (PAV) [bits].

    The part of Cllr a better calibration could not remove: ``cllr(llr) >=
    min_cllr(llr)`` for any LLRs that increase with the scores.
    """
    s, y = check_trials(scores, labels)
    llr = _pav_llr(s, y.astype(np.float64))
    # A pooled group holding a target has a posterior > 0, one holding a non-target < 1: the terms
    # that count are finite; the infinite LLRs only meet the softplus at the side where it is 0.
    tar_terms = _softplus(-llr[y == 1])
    non_terms = _softplus(llr[y == 0])
    return float((tar_terms.mean() + non_terms.mean()) / (2.0 * math.log(2.0)))


def actual_dcf(llr: ArrayLike, labels: ArrayLike, *, p_target: float = 0.01, c_miss: float = 1.0,
               c_fa: float = 1.0) -> float:
    """Normalised detection cost of accepting ``llr >= bayes_threshold(p_target)``.

    Normalised as :func:`speakerlib.evaluation.metrics.min_dcf` is (by the cost
    of the better fixed decision), so ``actual_dcf >= min_dcf`` on the same
    trials, equal when the calibration is perfect at that prior.
    """
    s, y = check_trials(llr, labels)
    threshold = bayes_threshold(p_target, c_miss=c_miss, c_fa=c_fa)
    accept = s >= threshold
    p_miss = float(np.mean(~accept[y == 1]))
    p_fa = float(np.mean(accept[y == 0]))
    cost = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    return float(cost / min(c_miss * p_target, c_fa * (1.0 - p_target)))


def bayes_error_curve(llr: ArrayLike, labels: ArrayLike, *, log_odds: ArrayLike | None = None) -> dict:
    """Actual and minimum normalised DCF over a range of priors (the Bayes error-rate plot).

    Parameters
    ----------
    llr : array_like [shape=(n,)]
        Calibrated LLRs of test trials.
    labels : array_like [shape=(n,)]
    log_odds : array_like, optional
        Prior log-odds ``logit(P_target)`` to evaluate (default: 41 values in [-7, 7]).

    Returns
    -------
    dict
        ``log_odds``, ``actual_dcf`` and ``min_dcf``: float64 arrays of one length.
    """
    s, y = check_trials(llr, labels)
    grid = np.linspace(-7.0, 7.0, 41) if log_odds is None else np.asarray(log_odds, dtype=np.float64)
    priors = 1.0 / (1.0 + np.exp(-grid))
    actual = np.array([actual_dcf(s, y, p_target=float(p)) for p in priors])
    minimum = np.array([min_dcf(s, y, p_target=float(p))[0] for p in priors])
    return {"log_odds": grid, "actual_dcf": actual, "min_dcf": minimum}
