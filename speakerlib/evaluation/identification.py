"""Speaker identification (SI): the corrected closed-set protocol and a classifier-accuracy helper.

Two SI numbers answer two different questions:

* :func:`si_protocol`: identification among speakers the model *never saw*
  (dev or test speakers). Each speaker is enrolled from a random subset of
  its utterances (seeded, so different seeds give different enrolments and
  the spread over seeds is visible, unlike the seed project whose enrolment
  was always the first sorted half); the remaining utterances are
  identified by cosine similarity to the enrolled speaker models.
* :func:`closed_set_accuracy`: the softmax classifier's accuracy on held-out
  utterances of its *training* speakers, the number the training curves
  show. It says how well the classifier fits, not how well the embedding
  generalises to new voices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from speakerlib import seeds
from speakerlib.data.splits import enrolment_split
from speakerlib.errors import ConfigError, ProtocolError, ScoreError
from speakerlib.evaluation.embeddings import embedding_table, l2_normalize

__all__ = ["si_protocol", "nearest_centroid", "closed_set_accuracy", "bootstrap_mean_ci"]

TOP_K = 5


def bootstrap_mean_ci(
    values: ArrayLike, *, bootstrap: int = 1000, seed: int | np.random.Generator = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (e.g. 0/1 correct flags).

    Parameters
    ----------
    values : array_like [shape=(n,)]
        Per-item values, n >= 1.
    bootstrap : int >= 1
        Resamples (with replacement, ``n`` items each).
    seed : int or np.random.Generator
        Randomness of the resampling.
    level : float in (0, 1)
        Coverage of the interval.

    Returns
    -------
    (float, float)
        The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
        resampled means.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ScoreError("expected at least one value to bootstrap, found none.")
    if bootstrap < 1:
        raise ConfigError(f"expected bootstrap >= 1, found {bootstrap}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    means = np.empty(int(bootstrap), dtype=np.float64)
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, int(bootstrap), chunk):
        stop = min(int(bootstrap), start + chunk)
        picks = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[picks].mean(axis=1, dtype=np.float64)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def nearest_centroid(
    X: ArrayLike, speakers: ArrayLike, enrol: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine similarity of test utterances to speaker models made from enrolment utterances.

    The identification scoring of the package (the SI protocol, training's dev
    SI accuracy, the baseline): every row is length-normalised
    (:func:`~speakerlib.evaluation.embeddings.l2_normalize`); a speaker's
    model is the mean of its normalised enrolment rows, normalised again;
    a test row's score against a model is their dot product (the cosine).

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings, finite and non-zero.
    speakers : array_like [shape=(n,)]
        The speaker of each row.
    enrol : array_like of bool [shape=(n,)]
        True for the rows that enrol.

    Returns
    -------
    names : np.ndarray [shape=(m,), dtype=object]
        The speakers with at least one enrolment row, sorted: the models' order.
    test : np.ndarray [shape=(n,), dtype=bool]
        The rows scored: not enrolling, and of an enrolled speaker.
    similarity : np.ndarray [shape=(test.sum(), m), dtype=float64]
        Cosine of each scored row (in row order) with each model.

    Raises
    ------
    ScoreError
        If a row is zero or not finite, or the lengths differ.
    ProtocolError
        If no row enrols.
    """
    spk = np.asarray(speakers, dtype=object)
    enrol = np.asarray(enrol, dtype=bool)
    Z = l2_normalize(X)
    if not (Z.shape[0] == spk.shape[0] == enrol.shape[0]):
        raise ScoreError(
            f"expected one speaker and one enrolment flag per embedding row, found {Z.shape[0]} rows, "
            f"{spk.shape[0]} speakers and {enrol.shape[0]} flags."
        )
    if not enrol.any():
        raise ProtocolError("expected at least one enrolment utterance, found none.")
    names = np.array(sorted(set(spk[enrol])), dtype=object)
    models = l2_normalize(np.vstack([Z[enrol & (spk == name)].mean(axis=0) for name in names]),
                          what="the speaker models")
    test = ~enrol & np.isin(spk, names)
    return names, test, Z[test] @ models.T


def _group_values(series: pd.Series, name: str, utt: np.ndarray, spk: np.ndarray) -> np.ndarray:
    """The group value of each test utterance: looked up by utterance id if the index holds
    them all, else by speaker. Missing values become ``"unknown"``."""
    index = pd.Index(series.index.astype(str))
    lookup = pd.Series(series.to_numpy(), index=index)
    if lookup.index.duplicated().any():
        raise ProtocolError(f"group {name!r}: expected a Series with a unique index, found repeated keys.")
    if pd.Index(utt).isin(index).all():
        keys = utt
    else:
        absent = sorted(set(spk) - set(index))
        if absent:
            raise ProtocolError(
                f"group {name!r}: expected a Series indexed by speaker (or by utterance id) covering "
                f"every test speaker, found none for {len(absent)} speakers: {absent[:5]}."
            )
        keys = spk
    values = lookup.reindex(keys)
    return np.where(values.isna(), "unknown", values.astype(str)).astype(object)


def _checked_roles(roles: Sequence[str], spk: np.ndarray, n_enrol: int | None) -> np.ndarray:
    """Given enrolment roles as an array, or :class:`ProtocolError` saying what is wrong with them."""
    values = np.asarray([str(r).strip().lower() for r in roles], dtype=object)
    if n_enrol is not None:
        raise ProtocolError(
            f"si: expected either enrolment roles or n_enrol, found both (n_enrol={n_enrol}). Pass "
            "n_enrol=None to use the roles, or roles=None to draw n_enrol utterances per speaker."
        )
    if values.shape != spk.shape:
        raise ProtocolError(f"si: expected one role per utterance ({spk.size}), found {values.size}.")
    other = sorted(set(values) - {"enrol", "test"})
    if other:
        raise ProtocolError(f"si: expected roles 'enrol' or 'test', found {other[:5]}. Fix the role column.")
    have = pd.crosstab(spk, values).reindex(columns=["enrol", "test"], fill_value=0)
    lacking = [f"{name} (no {role})" for name in sorted(have.index) for role in have.columns
               if have.at[name, role] == 0]
    if lacking:
        raise ProtocolError(
            f"si: expected every speaker to have at least one enrol and one test utterance, found "
            f"{len(lacking)} gaps: {', '.join(lacking[:5])}. Re-split with speakerlib split, or fix the "
            "role column for these speakers."
        )
    return values


def si_protocol(
    X: ArrayLike,
    utt_ids: Sequence[str],
    speakers: Sequence[str],
    *,
    n_enrol: int | None = None,
    seed: int = 0,
    groups: Mapping[str, pd.Series] | None = None,
    bootstrap: int = 1000,
    roles: Sequence[str] | None = None,
) -> dict:
    """Closed-set identification among the given speakers, with random (or given) enrolment.

    Protocol
    --------
    1. Enrolment: :func:`speakerlib.data.splits.enrolment_split` (``method="random"``):
       per speaker, ``n_enrol`` utterances (default: half, rounded down, at
       least 1) drawn at random for ``seed``; the rest are test utterances.
       With ``roles`` (e.g. the ``role`` column ``speakerlib split`` writes),
       those roles instead: nothing is drawn, and ``n_enrol`` must be None.
    2. Speaker model: the mean of the length-normalised enrolment embeddings.
    3. Each test utterance is scored by cosine similarity against every
       model; top-1 is correct when its own speaker scores highest (ties go
       to the first speaker in sorted order), top-5 when its own speaker is
       among the 5 highest (all speakers when there are 5 or fewer).
    4. 95 % intervals: percentile bootstrap over test utterances (they are
       treated as independent, which utterances of one speaker are not: the
       intervals are optimistic when there are few speakers).

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings, row ``i`` for ``utt_ids[i]``; finite, non-zero.
    utt_ids : sequence of str [shape=(n,)]
        Unique utterance ids.
    speakers : sequence of str [shape=(n,)]
        Speaker of each utterance (at least 2 speakers).
    n_enrol : int >= 1, optional
        Enrolment utterances per speaker; every speaker needs ``n_enrol + 1``.
    seed : int
        Seed of the enrolment draw and of the bootstrap.
    groups : dict of str to Series, optional
        Attributes to break accuracy down by, e.g.
        ``{"gender": speaker_table.gender, "age": pd.cut(speaker_table.age, [0, 30, 50, 120])}``.
        Each Series is indexed by speaker id (or by utterance id, when its
        index holds every test utterance); missing values count as
        ``"unknown"``.
    bootstrap : int >= 0
        Bootstrap resamples for the intervals (0: intervals are NaN).
    roles : sequence of str [shape=(n,)], optional
        ``"enrol"`` or ``"test"`` for each utterance; every speaker needs at
        least one of each.

    Returns
    -------
    dict
        ``top1_accuracy``, ``top5_accuracy`` (fractions), ``top1_ci95``,
        ``top5_ci95`` (``(low, high)``), ``chance`` (``1 / n_speakers``),
        ``n_speakers``, ``n_enrol_utterances``, ``n_test``, ``n_enrol``,
        ``seed``, ``top5_k`` (the k of "top-5": 5, or every speaker when
        there are fewer, so top-5 is then 1 by construction), ``enrolment``
        (``"random"`` or ``"given roles"``); ``labels`` (speaker ids,
        sorted: the order of the models and of the confusion matrix);
        ``confusion`` (DataFrame, rows true speaker, columns predicted
        speaker, counts); ``decisions``
        (DataFrame per test utterance: ``utt_id``, ``speaker``,
        ``predicted``, ``score`` (cosine of the predicted model), ``rank``
        (1-based rank of the true speaker), ``correct``); ``per_group``
        (dict from group name to a DataFrame indexed by group value with
        ``n_test``, ``n_speakers``, ``top1_accuracy``, ``ci_low``, ``ci_high``).

    Raises
    ------
    SplitError
        If a speaker has fewer than ``n_enrol + 1`` utterances (or fewer
        than 2 by default); the message names the speakers.
    ScoreError
        If the lengths differ, ids repeat, or an embedding is zero or not finite.
    ProtocolError
        If there are fewer than 2 speakers, a group Series does not cover
        the test speakers, or ``roles`` are given with ``n_enrol``, hold
        another value than enrol/test, or leave a speaker without an enrolment
        or a test utterance.
    """
    # sklearn is imported here, not at the top: it is slow to import and only this protocol needs it.
    from sklearn.metrics import confusion_matrix

    matrix, table = embedding_table(X, utt_ids, speakers)
    given_roles = roles is not None
    if table["speaker"].nunique() < 2:
        raise ProtocolError(
            f"expected at least 2 speakers to identify among, found {table['speaker'].nunique()}."
        )
    spk = table["speaker"].to_numpy(dtype=object)
    if roles is None:
        roles = enrolment_split(table, n_enrol=n_enrol, seed=seed)["role"].to_numpy()
    else:
        roles = _checked_roles(roles, spk, n_enrol)
    enrol = roles == "enrol"
    # Every speaker enrols (enrolment_split guarantees it), so every other row is a test row.
    names, test, similarity = nearest_centroid(matrix, spk, enrol)  # similarity: (n_test, n_speakers)
    truth = np.searchsorted(names, spk[test])
    best = np.argmax(similarity, axis=1)
    own = similarity[np.arange(truth.size), truth]
    # Rank of the true speaker: 1 + models scoring higher, + tied models earlier in sorted order.
    higher = (similarity > own[:, None]).sum(axis=1)
    tied_before = ((similarity == own[:, None]) & (np.arange(names.size) < truth[:, None])).sum(axis=1)
    rank = 1 + higher + tied_before
    top1 = rank == 1
    k = min(TOP_K, names.size)
    top5 = rank <= k

    rng = seeds.rng(seed, "si.bootstrap")
    nan_ci = (float("nan"), float("nan"))

    def ci(flags: np.ndarray) -> tuple[float, float]:
        return bootstrap_mean_ci(flags, bootstrap=bootstrap, seed=rng) if bootstrap and flags.size else nan_ci

    utt_test = table["utt_id"].to_numpy(dtype=object)[test]
    decisions = pd.DataFrame({
        "utt_id": utt_test,
        "speaker": spk[test],
        "predicted": names[best],
        "score": similarity[np.arange(best.size), best],
        "rank": rank,
        "correct": top1,
    })
    confusion = pd.DataFrame(
        confusion_matrix(spk[test].astype(str), names[best].astype(str), labels=names.astype(str)),
        index=pd.Index(names, name="true"),
        columns=pd.Index(names, name="predicted"),
    )
    result = {
        "top1_accuracy": float(top1.mean()),
        "top5_accuracy": float(top5.mean()),
        "top1_ci95": ci(top1),
        "top5_ci95": ci(top5),
        "chance": 1.0 / names.size,
        "n_speakers": int(names.size),
        "n_enrol_utterances": int(enrol.sum()),
        "n_test": int(test.sum()),
        "n_enrol": n_enrol,
        "seed": int(seed),
        "top5_k": int(k),
        "enrolment": "given roles" if given_roles else "random",
        "labels": names.tolist(),
        "confusion": confusion,
        "decisions": decisions,
    }
    per_group: dict[str, pd.DataFrame] = {}
    for name, series in (groups or {}).items():
        values = _group_values(series, name, utt_test.astype(str), spk[test].astype(str))
        rows = []
        for value in sorted(set(values)):
            member = values == value
            low, high = ci(top1[member])
            rows.append({
                name: value,
                "n_test": int(member.sum()),
                "n_speakers": int(len(set(spk[test][member]))),
                "top1_accuracy": float(top1[member].mean()),
                "ci_low": low,
                "ci_high": high,
            })
        per_group[name] = pd.DataFrame(rows).set_index(name)
    result["per_group"] = per_group
    return result


def closed_set_accuracy(logits_or_probs: ArrayLike, labels: ArrayLike, *, top_k: int = 1) -> float:
    """Accuracy of a classifier over its training speakers (held-out utterances).

    Parameters
    ----------
    logits_or_probs : array_like [shape=(n, n_classes)]
        Logits or probabilities (only their order within a row matters).
    labels : array_like of int [shape=(n,)]
        True class indices in ``range(n_classes)``.
    top_k : int >= 1
        Correct when the true class is among the ``top_k`` highest outputs
        (ties broken towards the lower class index).

    Returns
    -------
    float
        Fraction correct.

    Raises
    ------
    ScoreError
        If the shapes disagree, outputs are not finite, or a label is out of range.
    """
    P = np.asarray(logits_or_probs, dtype=np.float64)
    y = np.asarray(labels)
    if P.ndim != 2 or y.ndim != 1 or P.shape[0] != y.shape[0] or P.shape[0] == 0:
        raise ScoreError(
            f"expected outputs of shape (n, n_classes) and labels of shape (n,), n >= 1, found "
            f"{P.shape} and {y.shape}."
        )
    if not np.isfinite(P).all():
        raise ScoreError("expected finite classifier outputs, found NaN or infinite values.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= P.shape[1]:
        raise ScoreError(
            f"expected integer labels in [0, {P.shape[1] - 1}], found dtype {y.dtype} with range "
            f"[{y.min()}, {y.max()}]."
        )
    if not 1 <= top_k <= P.shape[1]:
        raise ConfigError(f"expected 1 <= top_k <= {P.shape[1]}, found {top_k}.")
    own = P[np.arange(y.size), y]
    higher = (P > own[:, None]).sum(axis=1)
    tied_before = ((P == own[:, None]) & (np.arange(P.shape[1]) < y[:, None])).sum(axis=1)
    return float(np.mean(1 + higher + tied_before <= top_k))
