"""Verification metrics: error rates at every threshold, EER, minDCF, DET, thresholds.

A *trial* compares two recordings (or a recording and an enrolled speaker)
and gets a score; higher means "more likely the same speaker". A trial is a
*target* trial when both sides are the same speaker (label 1) and a
*non-target* trial otherwise (label 0). At a threshold ``t`` a trial is
accepted when ``score >= t``. Then

* the false positive rate (false acceptance rate) is the fraction of
  non-target trials accepted, and
* the false negative rate (miss rate) is the fraction of target trials
  rejected.

Scores that tie are one operating point: no threshold separates them, so
:func:`error_rates` moves past a whole group of tied scores at once (as
scikit-learn's ``roc_curve`` does). All counts are summed as integers and
divided in float64.

* :func:`eer`: the rate where FPR = FNR (linear interpolation).
* :func:`min_dcf`: the smallest detection cost
  ``C_miss * P_target * FNR + C_fa * (1 - P_target) * FPR`` over thresholds,
  divided by the cost of the best fixed decision (accept all or reject all),
  ``min(C_miss * P_target, C_fa * (1 - P_target))``, as in the NIST SRE and
  VoxCeleb evaluations.
* :func:`threshold_at_eer` and :func:`apply_threshold`: a threshold chosen on
  *dev* trials and the error rates it gives on *test* trials.

Every function validates its input with :func:`check_trials`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from speakerlib.errors import ConfigError, ScoreError, TrialListError

__all__ = [
    "check_trials",
    "error_rates",
    "eer",
    "min_dcf",
    "det_curve",
    "threshold_at_eer",
    "apply_threshold",
]


def check_trials(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate one score and one 0/1 label per trial; return ``(scores float64, labels bool)``.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        One finite number per trial.
    labels : array_like [shape=(n,)]
        1 (or True) for target trials, 0 (or False) for non-target trials.

    Returns
    -------
    scores : np.ndarray [shape=(n,), dtype=float64]
    is_target : np.ndarray [shape=(n,), dtype=bool]

    Raises
    ------
    ScoreError
        (a ValueError) for shapes, lengths, and non-numeric or non-finite scores.
    TrialListError
        (a ValueError) for labels other than 0/1, and a list with a single class.
    """
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1:
        raise ScoreError(
            f"expected 1-D scores and labels, found shapes {s.shape} and {y.shape}. "
            "Flatten them (one score and one label per trial)."
        )
    if s.shape[0] != y.shape[0]:
        raise ScoreError(
            f"expected one label per score, found {s.shape[0]} scores and {y.shape[0]} labels. "
            "Score the same trial list the labels come from."
        )
    if s.shape[0] == 0:
        raise ScoreError("expected at least one trial, found empty scores and labels.")
    if not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
        raise ScoreError(f"expected numeric scores, found dtype {s.dtype}.")
    s = s.astype(np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ScoreError(
            f"expected finite scores, found {int(bad.sum())} NaN or infinite "
            f"(first at index {first}: {s[first]}). Fix the embeddings or the scoring step that "
            "produced them."
        )
    if y.dtype == bool:
        is_target = y
    else:
        if not np.issubdtype(y.dtype, np.number):
            raise TrialListError(f"expected labels 0/1 or bool, found dtype {y.dtype}.")
        values = np.unique(y)
        if not np.isin(values, (0, 1)).all():
            raise TrialListError(
                f"expected labels 0 (non-target) and 1 (target), found the values "
                f"{values[:10].tolist()}."
            )
        is_target = y == 1
    n_target = int(is_target.sum())
    if n_target == 0 or n_target == is_target.size:
        which = "target" if n_target else "non-target"
        raise TrialListError(
            f"expected both target and non-target trials, found only {which} trials "
            f"({is_target.size} of them). Error rates need both classes; check the trial list."
        )
    return s, is_target


def error_rates(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False positive and false negative rates at every distinct threshold.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        One finite score per trial; higher means "same speaker".
    labels : array_like [shape=(n,)]
        1 (or True) for target trials, 0 (or False) for non-target trials.
        Both classes must occur.

    Returns
    -------
    thresholds : np.ndarray [shape=(m + 1,), dtype=float64]
        ``+inf`` (accept nothing) followed by the ``m`` distinct scores in
        decreasing order. A trial is accepted when ``score >= threshold``.
    fpr : np.ndarray [shape=(m + 1,), dtype=float64]
        False positive rate at each threshold, rising from 0 to 1.
    fnr : np.ndarray [shape=(m + 1,), dtype=float64]
        False negative rate at each threshold, falling from 1 to 0.

    Raises
    ------
    ScoreError
        (a ValueError) if the arrays are not 1-D or differ in length, or a
        score is NaN or infinite.
    TrialListError
        (a ValueError) if a label is not 0/1, or only one class occurs.

    Examples
    --------
    >>> thr, fpr, fnr = error_rates([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    >>> thr.tolist(), fpr.tolist(), fnr.tolist()
    ([inf, 0.9, 0.5, 0.1], [0.0, 0.0, 0.5, 1.0], [1.0, 0.5, 0.0, 0.0])
    """
    s, is_target = check_trials(scores, labels)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    target_sorted = is_target[order]
    accepted_targets = np.cumsum(target_sorted, dtype=np.int64)
    accepted_nontargets = np.cumsum(~target_sorted, dtype=np.int64)
    # The last trial of every group of tied scores: past it, the whole group is accepted.
    group_ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    n_target = int(accepted_targets[-1])
    n_nontarget = int(accepted_nontargets[-1])
    thresholds = np.r_[np.inf, s_sorted[group_ends]]
    fpr = np.r_[0, accepted_nontargets[group_ends]].astype(np.float64) / n_nontarget
    fnr = (n_target - np.r_[0, accepted_targets[group_ends]]).astype(np.float64) / n_target
    return thresholds, fpr, fnr


def eer(scores: ArrayLike, labels: ArrayLike) -> float:
    """Equal error rate: where the false positive and false negative rates meet.

    The operating points of :func:`error_rates` are joined by straight lines
    (the segment between two consecutive thresholds); the EER is the rate at
    which that curve crosses ``fpr == fnr``, found by linear interpolation on
    the segment where ``fnr - fpr`` changes sign. Where an operating point
    lies exactly on the diagonal, its rate is returned as it is.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        One finite score per trial; higher means "same speaker".
    labels : array_like [shape=(n,)]
        1 (or True) for target trials, 0 (or False) for non-target trials.

    Returns
    -------
    float
        The EER in [0, 1]: 0 when every target scores above every
        non-target, 1 when every target scores below, 0.5 when all scores tie.

    Raises
    ------
    ScoreError, TrialListError
        As :func:`error_rates`: bad shapes or lengths, NaN or infinite
        scores, labels other than 0/1, or only one class.

    Examples
    --------
    >>> eer([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    0.0
    >>> eer([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])
    0.5
    >>> eer([0.3, 0.3, 0.3], [1, 0, 0])
    0.5
    """
    _, fpr, fnr = error_rates(scores, labels)
    gap = fnr - fpr  # starts at +1 (accept nothing), ends at -1 (accept everything)
    k = int(np.argmax(gap <= 0))
    if gap[k] == 0:
        rate = fpr[k]
    else:
        fraction = gap[k - 1] / (gap[k - 1] - gap[k])
        rate = fpr[k - 1] + fraction * (fpr[k] - fpr[k - 1])
    return float(min(1.0, max(0.0, rate)))


def min_dcf(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> tuple[float, float]:
    """Normalised minimum detection cost and the threshold that reaches it.

    ``DCF(t) = C_miss * P_target * FNR(t) + C_fa * (1 - P_target) * FPR(t)``,
    evaluated at every operating point of :func:`error_rates`
    (tied scores grouped; ``t = +inf`` rejects every trial), divided by
    ``C_def = min(C_miss * P_target, C_fa * (1 - P_target))``, the cost of the
    better of "accept all" and "reject all". So 1.0 means "no better than a
    fixed decision" and values are in [0, 1].

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite scores, higher = same speaker.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target; both present.
    p_target : float in (0, 1)
        Prior probability of a target trial (0.01 and 0.05 are usual).
    c_miss, c_fa : float > 0
        Costs of a miss and of a false acceptance.

    Returns
    -------
    value : float
        The normalised minimum DCF.
    threshold : float
        Accept ``score >= threshold`` to reach it (``inf``: reject all). The
        highest such threshold when several tie.

    Raises
    ------
    ScoreError, TrialListError
        For bad scores or labels .
    ConfigError
        If ``p_target`` or a cost is out of range.
    """
    if not 0.0 < p_target < 1.0:
        raise ConfigError(f"expected 0 < p_target < 1, found {p_target}.")
    if c_miss <= 0 or c_fa <= 0:
        raise ConfigError(f"expected positive costs, found c_miss={c_miss}, c_fa={c_fa}.")
    s, y = check_trials(scores, labels)
    thresholds, fpr, fnr = error_rates(s, y)
    dcf = c_miss * p_target * fnr + c_fa * (1.0 - p_target) * fpr
    k = int(np.argmin(dcf))
    c_def = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return float(dcf[k] / c_def), float(thresholds[k])


def det_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False positive and false negative rates at every operating point.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite scores, higher = same speaker.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target; both present.

    Returns
    -------
    fpr : np.ndarray [shape=(m + 1,), float64]
        Rising from 0 to 1.
    fnr : np.ndarray [shape=(m + 1,), float64]
        Falling from 1 to 0.
    thresholds : np.ndarray [shape=(m + 1,), float64]
        ``+inf`` then the ``m`` distinct scores, decreasing; accept ``score >= threshold``.

    Raises
    ------
    ScoreError, TrialListError
        For bad scores or labels.
    """
    s, y = check_trials(scores, labels)
    thresholds, fpr, fnr = error_rates(s, y)
    return fpr, fnr, thresholds


def threshold_at_eer(scores: ArrayLike, labels: ArrayLike) -> float:
    """A score threshold at the equal error rate (to be chosen on dev, applied to test).

    The crossing of FNR and FPR lies between two consecutive operating points
    of :func:`error_rates`; of those two, the one with the
    smaller ``|FNR - FPR|`` is taken (the lower threshold on a tie), and its
    threshold, one of the scores, is returned.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite scores.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target; both present.

    Returns
    -------
    float
        Accept ``score >= threshold``. Always finite.

    Raises
    ------
    ScoreError, TrialListError
        For bad scores or labels.
    """
    s, y = check_trials(scores, labels)
    thresholds, fpr, fnr = error_rates(s, y)
    gap = fnr - fpr
    k = int(np.argmax(gap <= 0))  # k >= 1: the point at +inf has gap 1
    pick = k - 1 if abs(gap[k - 1]) < abs(gap[k]) and k - 1 > 0 else k
    return float(thresholds[pick])


def apply_threshold(scores: ArrayLike, labels: ArrayLike, threshold: float) -> dict:
    """Error rates of fixed decisions ``score >= threshold`` (a dev threshold on test trials).

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite scores.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target; both present.
    threshold : float
        Decision threshold (e.g. :func:`threshold_at_eer` on dev).

    Returns
    -------
    dict
        ``fpr`` (false acceptances / non-targets), ``fnr`` (misses / targets),
        ``hter`` (``(fpr + fnr) / 2``), ``accuracy`` (correct decisions /
        trials; depends on the target share of the list), ``threshold``,
        ``false_accepts``, ``misses``, ``n_target``, ``n_nontarget``.

    Raises
    ------
    ScoreError, TrialListError
        For bad scores or labels, or a NaN threshold.
    """
    s, y = check_trials(scores, labels)
    if np.isnan(threshold):
        raise ScoreError("expected a threshold, found NaN. Choose it on dev with threshold_at_eer.")
    accept = s >= threshold
    n_target = int(y.sum())
    n_nontarget = int(y.size - n_target)
    false_accepts = int((accept & ~y).sum())
    misses = int((~accept & y).sum())
    fpr = false_accepts / n_nontarget
    fnr = misses / n_target
    return {
        "fpr": fpr,
        "fnr": fnr,
        "hter": (fpr + fnr) / 2.0,
        "accuracy": (y.size - false_accepts - misses) / y.size,
        "threshold": float(threshold),
        "false_accepts": false_accepts,
        "misses": misses,
        "n_target": n_target,
        "n_nontarget": n_nontarget,
    }
