"""Verification metrics: error rates over every threshold, and the equal error rate.

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
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["error_rates", "eer"]


def _check_trials(scores: ArrayLike, labels: ArrayLike, *, score_error: type[Exception] = ValueError,
                  label_error: type[Exception] = ValueError) -> tuple[np.ndarray, np.ndarray]:
    """Validate a trial list; return ``(scores float64, labels bool)``.

    ``score_error`` is raised for shapes, lengths and non-numeric or
    non-finite scores, ``label_error`` for labels other than 0/1 and for a
    list with a single class (both ``ValueError`` here; the evaluation
    package passes its own subclasses).
    """
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1:
        raise score_error(
            f"expected 1-D scores and labels, found shapes {s.shape} and {y.shape}. "
            "Flatten them (one score and one label per trial)."
        )
    if s.shape[0] != y.shape[0]:
        raise score_error(
            f"expected one label per score, found {s.shape[0]} scores and {y.shape[0]} labels. "
            "Score the same trial list the labels come from."
        )
    if s.shape[0] == 0:
        raise score_error("expected at least one trial, found empty scores and labels.")
    if not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
        raise score_error(f"expected numeric scores, found dtype {s.dtype}.")
    s = s.astype(np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise score_error(
            f"expected finite scores, found {int(bad.sum())} NaN or infinite "
            f"(first at index {first}: {s[first]}). Fix the embeddings or the scoring step that "
            "produced them."
        )
    if y.dtype == bool:
        is_target = y
    else:
        if not np.issubdtype(y.dtype, np.number):
            raise label_error(f"expected labels 0/1 or bool, found dtype {y.dtype}.")
        values = np.unique(y)
        if not np.isin(values, (0, 1)).all():
            raise label_error(
                f"expected labels 0 (non-target) and 1 (target), found the values "
                f"{values[:10].tolist()}."
            )
        is_target = y == 1
    n_target = int(is_target.sum())
    if n_target == 0 or n_target == is_target.size:
        which = "target" if n_target else "non-target"
        raise label_error(
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
    ValueError
        If the arrays are not 1-D or differ in length, a score is NaN or
        infinite, a label is not 0/1, or only one class occurs.

    Examples
    --------
    >>> thr, fpr, fnr = error_rates([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    >>> thr.tolist(), fpr.tolist(), fnr.tolist()
    ([inf, 0.9, 0.5, 0.1], [0.0, 0.0, 0.5, 1.0], [1.0, 0.5, 0.0, 0.0])
    """
    s, is_target = _check_trials(scores, labels)
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
    ValueError
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
