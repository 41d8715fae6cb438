"""Pairwise speaker verification: trial lists, cosine scoring with AS-norm, and reports.

A *trial* is a pair of utterances ``(enrol, test)`` with a label: 1 (target)
when both are from the same speaker, 0 (non-target) otherwise. A system gives
each trial a score (here the cosine similarity of the two embeddings, higher
= more likely the same speaker) and *accepts* it when ``score >= threshold``;
:mod:`speakerlib.evaluation.metrics` turns scores and labels into EER, minDCF
and error rates at a threshold.

* :func:`score_trials` scores a trial list (:mod:`speakerlib.evaluation.trials`)
  by cosine, optionally with AS-norm.
* :func:`all_pairs_eer`: every pair of a set of embeddings as a trial (the
  dev EER that chooses training checkpoints, and the baseline's EER).
* :func:`verification_report`: the test metrics with the threshold chosen on
  *dev* speakers (:func:`~speakerlib.evaluation.metrics.threshold_at_eer`)
  applied to the *test* speakers, the honest version of the seed's
  threshold-tuned-on-test accuracy, and bootstrap intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from speakerlib import seeds
from speakerlib.errors import ConfigError, ScoreError
from speakerlib.evaluation.embeddings import align, l2_normalize
from speakerlib.evaluation.metrics import apply_threshold, check_trials, eer, min_dcf, threshold_at_eer
from speakerlib.evaluation.trials import check_trial_frame

__all__ = ["score_trials", "all_pairs_eer", "verification_report"]

# ----------------------------------------------------------------------------- scoring
def score_trials(
    trials: pd.DataFrame,
    ids: ArrayLike,
    X: ArrayLike,
    *,
    cohort: ArrayLike | None = None,
    as_norm_top_k: int | None = None,
) -> np.ndarray:
    """Cosine score of every trial, optionally with (adaptive) symmetric score normalisation.

    The raw score of a trial ``(e, t)`` is ``s = cos(x_e, x_t)`` in [-1, 1].

    With a ``cohort`` (embeddings of speakers *outside* the evaluation set,
    typically training speakers or their mean embeddings), each side is
    scored against the cohort and the trial score is normalised by the
    statistics of those cohort scores (symmetric normalisation, *S-norm*):

    ``s_norm = ((s - mu_e) / sd_e + (s - mu_t) / sd_t) / 2``

    where ``mu_e, sd_e`` are the mean and standard deviation (``ddof=0``) of
    ``cos(x_e, c)`` over cohort vectors ``c``, and likewise for ``t``. With
    ``as_norm_top_k=k`` only the ``k`` *highest* cohort scores of each side
    are used (*adaptive* S-norm, AS-norm; Matejka et al., Interspeech 2017):
    the impostors most similar to each utterance define its score scale.
    ``as_norm_top_k=None`` with a cohort uses the whole cohort (plain S-norm).

    Parameters
    ----------
    trials : DataFrame
        Columns ``enrol`` and ``test`` (utterance ids).
    ids : array_like of str [shape=(n,)]
        Unique utterance ids of the rows of ``X``.
    X : array_like [shape=(n, d)]
        Embeddings (any scale; each row is length-normalised, in float64).
    cohort : array_like [shape=(m, d)], optional
        Cohort embeddings, m >= 2.
    as_norm_top_k : int, optional
        ``2 <= k <= m``; needs ``cohort``.

    Returns
    -------
    np.ndarray [shape=(len(trials),), dtype=float64]
        One score per trial, in trial order.

    Raises
    ------
    UnknownUtteranceError
        If a trial names an utterance that ``ids`` lacks (the message names them).
    ScoreError
        If shapes disagree, an embedding is zero or not finite, ``k`` is out
        of range or given without a cohort, or a side's cohort scores have
        zero spread.
    """
    check_trial_frame(trials, need_label=False)
    enrol = trials["enrol"].astype(str).to_numpy()
    test = trials["test"].astype(str).to_numpy()
    used, inverse = np.unique(np.concatenate([enrol, test]), return_inverse=True)
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ScoreError(f"expected embeddings of shape (n, d), found shape {matrix.shape}.")
    E = l2_normalize(align(ids, matrix, used), what="the trial utterances' embeddings")
    e_idx, t_idx = inverse[: enrol.size], inverse[enrol.size:]
    scores = np.einsum("ij,ij->i", E[e_idx], E[t_idx])
    if cohort is None:
        if as_norm_top_k is not None:
            raise ScoreError(
                f"as_norm_top_k={as_norm_top_k} needs a cohort; pass cohort=<embeddings of speakers "
                "outside the evaluation set>."
            )
        return scores
    C = np.asarray(cohort, dtype=np.float64)
    if C.ndim != 2 or C.shape[1] != E.shape[1] or C.shape[0] < 2:
        raise ScoreError(
            f"expected cohort embeddings of shape (m >= 2, {E.shape[1]}), found shape {C.shape}."
        )
    C = l2_normalize(C, what="the cohort embeddings")
    k = C.shape[0] if as_norm_top_k is None else int(as_norm_top_k)
    if not 2 <= k <= C.shape[0]:
        raise ScoreError(f"expected 2 <= as_norm_top_k <= {C.shape[0]} (cohort size), found {as_norm_top_k}.")
    cohort_scores = E @ C.T  # (utterances, cohort)
    top = -np.partition(-cohort_scores, k - 1, axis=1)[:, :k]
    mu = top.mean(axis=1, dtype=np.float64)
    sd = top.std(axis=1, dtype=np.float64)
    if (sd <= 0).any():
        flat = used[sd <= 0]
        raise ScoreError(
            f"expected cohort scores with some spread, found identical top-{k} cohort scores for "
            f"{flat.size} utterances (first: {flat[:5].tolist()}). Use a larger or more varied cohort."
        )
    return 0.5 * ((scores - mu[e_idx]) / sd[e_idx] + (scores - mu[t_idx]) / sd[t_idx])


def all_pairs_eer(X: ArrayLike, speakers: ArrayLike) -> float:
    """EER of every unordered pair of a set of embeddings as a trial, scored by cosine.

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings (any scale; each row is length-normalised by
        :func:`~speakerlib.evaluation.embeddings.l2_normalize`).
    speakers : array_like [shape=(n,)]
        The speaker of each row.

    Returns
    -------
    float
        The EER (:func:`~speakerlib.evaluation.metrics.eer`) of the
        ``n (n - 1) / 2`` trials; NaN when there is no target pair (no speaker
        with two rows) or no non-target pair (one speaker), or fewer than 2 rows.

    Raises
    ------
    ScoreError
        If a row is zero or not finite, or the lengths differ.
    """
    speakers = np.asarray(speakers)
    matrix = np.asarray(X)
    if matrix.ndim != 2 or matrix.shape[0] != speakers.shape[0]:
        raise ScoreError(
            f"expected embeddings of shape (n, d) and one speaker per row, found shape {matrix.shape} "
            f"and {speakers.shape[0]} speakers."
        )
    if len(speakers) < 2:
        return float("nan")
    unit = l2_normalize(matrix)
    upper = np.triu_indices(len(unit), k=1)
    labels = (speakers[:, None] == speakers[None, :])[upper]
    if labels.all() or not labels.any():
        return float("nan")
    return eer((unit @ unit.T)[upper], labels)


# ----------------------------------------------------------------------------- report
def _summary_from_counts(
    sorted_scores: np.ndarray,
    group_ends: np.ndarray,
    w_target: np.ndarray,
    w_nontarget: np.ndarray,
    p_targets: tuple[float, ...],
    threshold: float,
) -> dict[str, float]:
    """Metrics of a (re-weighted) trial list from one pass over the sorted scores.

    ``w_target[i]`` / ``w_nontarget[i]`` is how many times sorted trial ``i``
    counts as a target / non-target (0/1 for the list itself, bootstrap
    counts for a resample). The results equal :func:`eer`, :func:`min_dcf`,
    ``roc_auc_score``, ``average_precision_score`` and :func:`apply_threshold`
    on the list with trial ``i`` repeated that many times.
    """
    tp = np.r_[0.0, np.cumsum(w_target, dtype=np.float64)[group_ends]]
    fp = np.r_[0.0, np.cumsum(w_nontarget, dtype=np.float64)[group_ends]]
    n_t, n_n = tp[-1], fp[-1]
    fpr, tpr = fp / n_n, tp / n_t
    fnr = 1.0 - tpr
    gap = fnr - fpr
    k = int(np.argmax(gap <= 0))
    if gap[k] == 0:
        rate = fpr[k]
    else:
        rate = fpr[k - 1] + gap[k - 1] / (gap[k - 1] - gap[k]) * (fpr[k] - fpr[k - 1])
    out = {"eer": float(min(1.0, max(0.0, rate)))}
    for p in p_targets:
        dcf = p * fnr + (1.0 - p) * fpr
        out[f"min_dcf_{p:g}"] = float(dcf.min() / min(p, 1.0 - p))
    out["roc_auc"] = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    predicted = tp[1:] + fp[1:]
    precision = np.divide(tp[1:], predicted, out=np.ones_like(predicted), where=predicted > 0)
    out["average_precision"] = float(np.sum(np.diff(tpr) * precision))
    m = int(np.searchsorted(-sorted_scores, -threshold, side="right"))  # trials with score >= threshold
    accepted_t = float(np.sum(w_target[:m], dtype=np.float64))
    accepted_n = float(np.sum(w_nontarget[:m], dtype=np.float64))
    dev_fpr, dev_fnr = accepted_n / n_n, 1.0 - accepted_t / n_t
    out["test_fpr_at_dev_threshold"] = dev_fpr
    out["test_fnr_at_dev_threshold"] = dev_fnr
    out["test_hter_at_dev_threshold"] = (dev_fpr + dev_fnr) / 2.0
    out["test_accuracy_at_dev_threshold"] = (accepted_t + (n_n - accepted_n)) / (n_t + n_n)
    return out


def verification_report(
    dev_scores: ArrayLike,
    dev_labels: ArrayLike,
    test_scores: ArrayLike,
    test_labels: ArrayLike,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    p_targets: tuple[float, ...] = (0.01, 0.05),
) -> dict:
    """Verification results on test, with a threshold chosen on dev and bootstrap intervals.

    Point estimates on the test trials: ``eer`` (:func:`~speakerlib.evaluation.metrics.eer`),
    ``min_dcf_0.01`` and ``min_dcf_0.05`` (:func:`min_dcf`, ``C_miss = C_fa = 1``),
    ``roc_auc`` and ``average_precision`` (scikit-learn, on the scores).
    The threshold transfer: ``dev_threshold`` = :func:`threshold_at_eer` on
    dev, applied to test (:func:`apply_threshold`):
    ``test_fpr_at_dev_threshold``, ``test_fnr_at_dev_threshold``,
    ``test_hter_at_dev_threshold``, ``test_accuracy_at_dev_threshold``.
    For comparison ``test_threshold_at_eer`` is the threshold test itself
    would choose (what the seed did; not a fair operating point).

    Confidence intervals (``ci95``): percentile bootstrap over ``bootstrap``
    resamples of the *test trials*, targets and non-targets resampled
    separately with replacement (so each resample keeps the counts and both
    classes); the dev threshold is held fixed. This trial-level bootstrap
    treats trials as independent, which they are not: trials share
    utterances and speakers, so the intervals are too narrow, more so for
    few speakers. Read them as a lower bound on the uncertainty.

    Parameters
    ----------
    dev_scores, dev_labels : array_like [shape=(n_dev,)]
        Dev trials (speakers disjoint from test), both classes present.
    test_scores, test_labels : array_like [shape=(n_test,)]
        Test trials, both classes present.
    bootstrap : int >= 0
        Resamples; 0 skips the intervals (``ci95`` is then empty).
    seed : int
        Seed of the resampling.
    p_targets : tuple of float
        Target priors of the minDCF values reported (keys ``min_dcf_<p>``).

    Returns
    -------
    dict
        The metrics above (floats; rates as fractions), ``dev_eer``,
        ``dev_threshold``, ``n_target``, ``n_nontarget``, ``n_dev_target``,
        ``n_dev_nontarget``, ``bootstrap``, ``seed``, and ``ci95``: a dict from
        each bootstrapped metric name to ``(low, high)``.

    Raises
    ------
    ScoreError
        If scores and labels differ in length, or a score is NaN or infinite.
    TrialListError
        If a label is not 0/1, or dev or test has only one class.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    dev_s, dev_y = check_trials(dev_scores, dev_labels)
    s, y = check_trials(test_scores, test_labels)
    if bootstrap < 0 or int(bootstrap) != bootstrap:
        raise ConfigError(f"expected bootstrap to be an int >= 0, found {bootstrap!r}.")
    dev_threshold = threshold_at_eer(dev_s, dev_y)
    report: dict = {
        "eer": eer(s, y),
        **{f"min_dcf_{p:g}": min_dcf(s, y, p_target=p)[0] for p in p_targets},
        "roc_auc": float(roc_auc_score(y, s)),
        "average_precision": float(average_precision_score(y, s)),
    }
    transfer = apply_threshold(s, y, dev_threshold)
    report.update({
        "test_fpr_at_dev_threshold": transfer["fpr"],
        "test_fnr_at_dev_threshold": transfer["fnr"],
        "test_hter_at_dev_threshold": transfer["hter"],
        "test_accuracy_at_dev_threshold": transfer["accuracy"],
        "test_threshold_at_eer": threshold_at_eer(s, y),
        "dev_eer": eer(dev_s, dev_y),
        "dev_threshold": dev_threshold,
        "n_target": int(y.sum()),
        "n_nontarget": int((~y).sum()),
        "n_dev_target": int(dev_y.sum()),
        "n_dev_nontarget": int((~dev_y).sum()),
        "bootstrap": int(bootstrap),
        "seed": int(seed),
    })
    ci: dict[str, tuple[float, float]] = {}
    if bootstrap:
        order = np.argsort(-s, kind="stable")
        s_sorted, t_sorted = s[order], y[order]
        group_ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
        target_pos, nontarget_pos = np.flatnonzero(t_sorted), np.flatnonzero(~t_sorted)
        rng = seeds.rng(seed, "sv.bootstrap")
        samples: dict[str, list[float]] = {}
        for _ in range(int(bootstrap)):
            w_t = np.zeros(s.size)
            w_n = np.zeros(s.size)
            w_t[target_pos] = np.bincount(rng.integers(0, target_pos.size, target_pos.size),
                                          minlength=target_pos.size)
            w_n[nontarget_pos] = np.bincount(rng.integers(0, nontarget_pos.size, nontarget_pos.size),
                                             minlength=nontarget_pos.size)
            stats = _summary_from_counts(s_sorted, group_ends, w_t, w_n, tuple(p_targets), dev_threshold)
            for key, value in stats.items():
                samples.setdefault(key, []).append(value)
        for key, values in samples.items():
            low, high = np.quantile(np.asarray(values, dtype=np.float64), [0.025, 0.975])
            ci[key] = (float(low), float(high))
    report["ci95"] = ci
    return report
