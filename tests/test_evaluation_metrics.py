"""Tests of speakerlib.evaluation.metrics against independent routes to the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from speakerlib.evaluation.metrics import eer, error_rates


def brute_force_rates(scores, labels):
    """FPR and FNR at +inf and at every distinct score, counted trial by trial."""
    scores = [float(s) for s in scores]
    labels = [bool(y) for y in labels]
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    thresholds = [np.inf] + sorted(set(scores), reverse=True)
    fpr, fnr = [], []
    for t in thresholds:
        false_accepts = sum(1 for s, y in zip(scores, labels) if s >= t and not y)
        misses = sum(1 for s, y in zip(scores, labels) if s < t and y)
        fpr.append(false_accepts / n_neg)
        fnr.append(misses / n_pos)
    return np.array(thresholds), np.array(fpr), np.array(fnr)


def brute_force_eer(scores, labels):
    """Where the piecewise-linear (FPR, FNR) curve crosses FPR == FNR, by root finding."""
    _, fpr, fnr = brute_force_rates(scores, labels)
    position = np.arange(fpr.size, dtype=float)
    gap = lambda x: np.interp(x, position, fnr - fpr)  # noqa: E731
    on_diagonal = np.flatnonzero(fnr == fpr)
    if on_diagonal.size:
        return float(fpr[on_diagonal[0]])
    root = brentq(gap, 0.0, fpr.size - 1.0, xtol=1e-14)
    return float(np.interp(root, position, fpr))


def random_trials(rng, n, *, ties):
    labels = rng.random(n) < 0.3
    labels[:2] = [True, False]
    scores = rng.normal(size=n) + 1.2 * labels
    if ties:
        scores = np.round(scores, 1)  # many tied scores, some with mixed labels
    return scores, labels


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_error_rates_match_brute_force_and_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    scores, labels = random_trials(rng, 200, ties=ties)
    thresholds, fpr, fnr = error_rates(scores, labels)

    bf_thr, bf_fpr, bf_fnr = brute_force_rates(scores, labels)
    np.testing.assert_array_equal(thresholds, bf_thr)
    np.testing.assert_allclose(fpr, bf_fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fnr, bf_fnr, rtol=0, atol=1e-15)

    sk_fpr, sk_tpr, sk_thr = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_array_equal(thresholds[1:], sk_thr[1:])
    np.testing.assert_allclose(fpr, sk_fpr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fnr, 1.0 - sk_tpr, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("ties", [False, True])
def test_eer_matches_root_finding_on_brute_force_curve(seed, ties):
    rng = np.random.default_rng(100 + seed)
    scores, labels = random_trials(rng, 150, ties=ties)
    assert eer(scores, labels) == pytest.approx(brute_force_eer(scores, labels), abs=1e-10)


def test_eer_known_answers():
    assert eer([0.3] * 6, [1, 0, 1, 0, 0, 0]) == 0.5  # all tied: one operating segment
    assert eer([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 0.0  # separated
    assert eer([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 1.0  # reversed
    # a point on the diagonal: (fpr, fnr) = (1/3, 1/3) after accepting 0.9, 0.8, 0.7
    assert eer([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 0, 1, 0]) == pytest.approx(1 / 3)
    # interpolated across a tie of a target and a non-target:
    # (0, 1/2) -> (1, 0) crosses the diagonal at 1/3
    assert eer([2.0, 1.0, 1.0], [1, 1, 0]) == pytest.approx(1 / 3)


def test_eer_invariances_and_types():
    rng = np.random.default_rng(7)
    scores, labels = random_trials(rng, 300, ties=True)
    base = eer(scores, labels)
    assert isinstance(base, float) and 0.0 <= base <= 1.0
    assert eer(3.0 * scores + 2.0, labels) == pytest.approx(base, abs=1e-12)
    assert eer(-scores, ~labels) == pytest.approx(base, abs=1e-12)
    assert eer(scores.astype(np.float32), labels.astype(int)) == pytest.approx(
        eer(scores.astype(np.float32).astype(np.float64), labels), abs=0
    )
    # order of the trials does not matter
    order = rng.permutation(scores.size)
    assert eer(scores[order], labels[order]) == pytest.approx(base, abs=1e-15)


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        ([0.1, np.nan, 0.3], [1, 0, 1], "NaN or infinite"),
        ([0.1, np.inf, 0.3], [1, 0, 1], "NaN or infinite"),
        ([0.1, 0.2], [1, 0, 1], "one label per score"),
        ([0.1, 0.2, 0.3], [1, 1, 1], "only target"),
        ([0.1, 0.2, 0.3], [0, 0, 0], "only non-target"),
        ([[0.1, 0.2]], [[1, 0]], "1-D"),
        ([0.1, 0.2, 0.3], [0, 2, 1], "labels 0"),
        ([], [], "at least one trial"),
    ],
)
def test_bad_trials_raise_clear_errors(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        eer(scores, labels)
    with pytest.raises(ValueError, match=message):
        error_rates(scores, labels)


# The reference implementation's saved scores, and the "EER interp" column of
# ../shared/reference/README.md (linear interpolation where FNR and FPR cross).
REFERENCE_EER = {
    ("librispeech_d6eb4ad", "SE"): 0.0583,
    ("librispeech_d6eb4ad", "Att"): 0.0650,
    ("librispeech_d6eb4ad", "Deep"): 0.0665,
    ("librispeech_d6eb4ad", "xvector"): 0.0645,
    ("librispeech_d6eb4ad", "vggvox"): 0.1023,
    ("librispeech_d6eb4ad", "dvector"): 0.1187,
    ("timit_6845b81", "SE"): 0.0381,
    ("timit_6845b81", "Att"): 0.0571,
    ("timit_6845b81", "Deep"): 0.1333,
}


@pytest.mark.parametrize("run, model", sorted(REFERENCE_EER))
def test_eer_reproduces_reference_table(project_root, run, model):
    folder = Path(project_root).parent / "shared" / "reference" / "scores" / run
    if not folder.is_dir():
        pytest.skip(f"reference score files not found at {folder}")
    labels = np.load(folder / f"{model}_y_true.npy")
    scores = np.load(folder / f"{model}_y_pre.npy")
    assert eer(scores, labels) == pytest.approx(REFERENCE_EER[run, model], abs=5.1e-5)
