"""Pairwise speaker verification: trial lists, cosine scoring, AS-norm, EER, minDCF, reports.

A *trial* is a pair of utterances ``(enrol, test)`` with a label: 1 (target)
when both are from the same speaker, 0 (non-target) otherwise. A system gives
each trial a score (here the cosine similarity of the two embeddings, higher
= more likely the same speaker) and *accepts* it when ``score >= threshold``.
At a threshold the false positive rate (FPR, false acceptances among
non-targets) and the false negative rate (FNR, misses among targets) trade
against each other; the metrics summarise that trade-off:

* **EER**: the rate where FPR = FNR (:func:`speakerlib.metrics.eer`, tied
  scores grouped, linear interpolation).
* **minDCF**: the smallest detection cost
  ``C_miss * P_target * FNR + C_fa * (1 - P_target) * FPR`` over thresholds,
  divided by the cost of the best fixed decision (accept all or reject all),
  ``min(C_miss * P_target, C_fa * (1 - P_target))``, as in the NIST SRE and
  VoxCeleb evaluations (:func:`min_dcf`).
* The **threshold transfer**: a threshold chosen on *dev* speakers
  (:func:`threshold_at_eer`) applied to the *test* speakers
  (:func:`apply_threshold`), the honest version of the seed's
  threshold-tuned-on-test accuracy.

Trial lists are written in the VoxCeleb format (``1 idA idB`` per line) by
:func:`write_trials` and read back by :func:`read_trials`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from speakerlib.errors import ManifestError
from speakerlib.evaluation.embeddings import align
from speakerlib.evaluation.errors import ScoreError, TrialListError
from speakerlib.metrics import _check_trials, eer, error_rates

__all__ = [
    "make_trials",
    "write_trials",
    "read_trials",
    "score_trials",
    "min_dcf",
    "det_curve",
    "threshold_at_eer",
    "apply_threshold",
    "verification_report",
]

TRIAL_COLUMNS: tuple[str, str, str] = ("label", "enrol", "test")


# ----------------------------------------------------------------------------- input checks
def _check_scores(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate one score and one 0/1 label per trial; return ``(float64 scores, bool labels)``.

    :func:`speakerlib.metrics._check_trials`, raising :class:`ScoreError` for
    shapes, lengths and non-finite scores and :class:`TrialListError` for
    labels other than 0/1 or a single class.
    """
    return _check_trials(scores, labels, score_error=ScoreError, label_error=TrialListError)


def _check_trial_frame(trials: pd.DataFrame, *, need_label: bool) -> None:
    columns = TRIAL_COLUMNS if need_label else TRIAL_COLUMNS[1:]
    if not isinstance(trials, pd.DataFrame):
        raise TrialListError(f"expected a DataFrame with columns {list(columns)}, found {type(trials).__name__}.")
    missing = [c for c in columns if c not in trials.columns]
    if missing:
        raise TrialListError(
            f"expected trial columns {list(columns)}, found {list(trials.columns)} (missing {missing})."
        )


# ----------------------------------------------------------------------------- trial lists
def _pair_offsets(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """``size`` distinct offsets in ``range(count)``, uniformly without replacement, sorted."""
    return np.sort(rng.choice(count, size=size, replace=False)) if size else np.zeros(0, np.int64)


def make_trials(
    manifest: pd.DataFrame,
    *,
    seed: int = 0,
    targets_per_utterance: int | None = None,
    nontargets_per_utterance: int | None = None,
    gender_balanced: bool = False,
) -> pd.DataFrame:
    """Build a verification trial list from a manifest, deterministically for a seed.

    Every trial is an *unordered* pair of two different utterances, listed
    once, with ``enrol`` the smaller id (string order); the list is sorted by
    ``(enrol, test)``. Scores are symmetric (cosine), so ``(a, b)`` and
    ``(b, a)`` would be the same trial.

    Targets (label 1)
        ``targets_per_utterance=None`` (default): every pair of utterances of
        the same speaker, ``sum_s n_s (n_s - 1) / 2`` trials for speakers with
        ``n_s`` utterances. An int ``k``: each utterance draws
        ``min(k, n_s - 1)`` partners of its own speaker uniformly without
        replacement; a pair drawn from both sides counts once, so there are
        between ``N k / 2`` and ``N k`` targets (fewer for small speakers).
    Non-targets (label 0)
        ``nontargets_per_utterance=None`` (default): as many non-target
        trials as target trials (the 50/50 balance of VoxCeleb1-O), drawn
        uniformly without replacement from *all* eligible non-target pairs
        (all of them when there are fewer). An int ``k``: each utterance draws
        ``k`` eligible partners uniformly without replacement (all when it
        has fewer); pairs drawn from both sides count once.
    ``gender_balanced``
        When True, eligible non-target pairs are *same-gender* pairs only
        (column ``gender``). This is the harder convention of VoxCeleb1-H
        (same nationality and gender): the system cannot reject impostors by
        gender alone, which the seed's TIMIT protocol (all-female members)
        lets it do. When False, any two speakers form a non-target pair.

    Targets and non-targets are drawn from two independent random streams
    (derived from ``seed``), so changing one setting leaves the other half of
    the list unchanged. The row order of ``manifest`` does not matter.

    Parameters
    ----------
    manifest : DataFrame
        Columns ``utt_id`` (unique, without whitespace), ``speaker``, and
        ``gender`` when ``gender_balanced``. Usually the dev or test speakers.
    seed : int
        Seed of the random draws.
    targets_per_utterance, nontargets_per_utterance : int >= 1 or None
        See above.
    gender_balanced : bool
        Same-gender non-targets only.

    Returns
    -------
    DataFrame
        Columns ``label`` (int64, 1 target / 0 non-target), ``enrol``,
        ``test`` (str), sorted by ``(enrol, test)``, index 0..n-1.

    Raises
    ------
    ManifestError
        If a column is missing, an id repeats or contains whitespace, or a
        gender is missing when ``gender_balanced``.
    TrialListError
        If no target trial (no speaker with 2 utterances) or no non-target
        trial (one speaker, or one speaker per gender when
        ``gender_balanced``) can be made, or a per-utterance count is < 1.

    Examples
    --------
    >>> trials = make_trials(test_manifest, seed=0)  # doctest: +SKIP
    >>> trials.label.value_counts()  # doctest: +SKIP
    """
    needed = ["utt_id", "speaker"] + (["gender"] if gender_balanced else [])
    missing = [c for c in needed if c not in manifest.columns]
    if missing:
        raise ManifestError(
            f"expected a manifest with the columns {needed}, found {list(manifest.columns)} "
            f"(missing {missing})."
        )
    for name, value in (("targets_per_utterance", targets_per_utterance),
                        ("nontargets_per_utterance", nontargets_per_utterance)):
        if value is not None and (int(value) != value or value < 1):
            raise TrialListError(f"expected {name} to be None or an int >= 1, found {value!r}.")
    utt = manifest["utt_id"].astype(str).to_numpy(dtype=str)
    spk = manifest["speaker"].astype(str).to_numpy(dtype=str)
    values, counts = np.unique(utt, return_counts=True)
    if (counts > 1).any():
        raise ManifestError(f"expected unique utterance ids, found repeats: {values[counts > 1][:5].tolist()}.")
    spaced = [u for u in utt if u != "".join(u.split()) or not u]
    if spaced:
        raise ManifestError(
            f"expected utterance ids without whitespace (the trial file separates fields by spaces), "
            f"found {spaced[:5]}."
        )
    if gender_balanced:
        gender = manifest["gender"]
        blank = gender.isna().to_numpy() | (gender.astype(str).str.strip() == "").to_numpy()
        if blank.any():
            raise ManifestError(
                f"gender_balanced needs every utterance's gender, found it missing for "
                f"{int(blank.sum())} (speakers {sorted(set(spk[blank]))[:5]}). "
                "Fill the gender column or pass gender_balanced=False."
            )
        grp = gender.astype(str).str.strip().str.upper().to_numpy(dtype=str)
    else:
        grp = np.full(utt.size, "", dtype=str)
    # Ordered by (group, speaker, utt_id): a speaker's utterances are one block, a group's speakers too.
    order = np.lexsort((utt, spk, grp))
    utt, spk, grp = utt[order], spk[order], grp[order]
    n = utt.size
    ids = utt

    def blocks(new_block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and size of the block each position belongs to."""
        starts = np.flatnonzero(new_block)
        sizes = np.diff(np.r_[starts, n])
        which = np.cumsum(new_block) - 1
        return starts[which], sizes[which]

    grp_change = np.r_[True, grp[1:] != grp[:-1]]
    spk_start, spk_size = blocks(grp_change | np.r_[True, spk[1:] != spk[:-1]])
    grp_start, grp_size = blocks(grp_change)
    spk_end = spk_start + spk_size
    grp_end = grp_start + grp_size

    rng_target = np.random.default_rng([seed, 1])
    rng_nontarget = np.random.default_rng([seed, 2])

    # Targets: pairs (i, j), i < j, inside one speaker block.
    if targets_per_utterance is None:
        count_after = spk_end - np.arange(n) - 1
        first = np.repeat(np.arange(n), count_after)
        steps = np.arange(first.size) - np.repeat(np.cumsum(count_after) - count_after, count_after)
        target_pairs = np.stack([first, first + 1 + steps], axis=1)
    else:
        drawn = []
        for i in range(n):
            others = spk_size[i] - 1
            offsets = _pair_offsets(rng_target, others, min(int(targets_per_utterance), others))
            partners = spk_start[i] + offsets + (offsets >= i - spk_start[i])  # skip i itself
            drawn.append(np.stack([np.full(partners.size, i), partners], axis=1))
        target_pairs = np.concatenate(drawn) if drawn else np.zeros((0, 2), np.int64)
    # Non-targets: pairs (i, j) in one group (all utterances, or one gender), different speakers.
    after = grp_end - spk_end  # eligible partners j > i: the contiguous range [spk_end[i], grp_end[i])
    n_eligible = int(after.sum())
    if nontargets_per_utterance is None:
        n_target_pairs = len(np.unique(np.sort(target_pairs, axis=1), axis=0))
        size = min(n_target_pairs, n_eligible)
        picks = _pair_offsets(rng_nontarget, n_eligible, size)
        cum = np.cumsum(after)
        first = np.searchsorted(cum, picks, side="right")
        offset = picks - (cum[first] - after[first])
        nontarget_pairs = np.stack([first, spk_end[first] + offset], axis=1)
    else:
        drawn = []
        for i in range(n):
            before = spk_start[i] - grp_start[i]
            pool = grp_size[i] - spk_size[i]
            offsets = _pair_offsets(rng_nontarget, pool, min(int(nontargets_per_utterance), pool))
            partners = np.where(offsets < before, grp_start[i] + offsets, spk_end[i] + offsets - before)
            drawn.append(np.stack([np.full(partners.size, i), partners], axis=1))
        nontarget_pairs = np.concatenate(drawn) if drawn else np.zeros((0, 2), np.int64)

    # Canonical form: (smaller id, larger id) in string order, encoded as one int per pair.
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(n)

    def codes(pairs: np.ndarray) -> np.ndarray:
        ra, rb = rank[pairs[:, 0]], rank[pairs[:, 1]]
        return np.unique(np.minimum(ra, rb) * n + np.maximum(ra, rb))

    target_codes, nontarget_codes = codes(target_pairs), codes(nontarget_pairs)
    if target_codes.size == 0:
        raise TrialListError(
            f"expected at least one target trial, found no speaker with 2 or more utterances among "
            f"{np.unique(spk).size} speakers. Use a set with several utterances per speaker."
        )
    if nontarget_codes.size == 0:
        raise TrialListError(
            "expected at least one non-target trial, found no eligible pair of speakers "
            + ("of the same gender. Pass gender_balanced=False or add speakers."
               if gender_balanced else "(one speaker only). Add speakers.")
        )
    all_codes = np.concatenate([target_codes, nontarget_codes])
    label = np.r_[np.ones(target_codes.size, np.int64), np.zeros(nontarget_codes.size, np.int64)]
    order = np.argsort(all_codes, kind="stable")  # = sorted by (enrol, test)
    by_rank = np.sort(ids)
    return pd.DataFrame({
        "label": label[order],
        "enrol": pd.Series(by_rank[all_codes[order] // n], dtype=object).astype(str),
        "test": pd.Series(by_rank[all_codes[order] % n], dtype=object).astype(str),
    })


def write_trials(path: str | os.PathLike, trials: pd.DataFrame) -> Path:
    """Write a trial list in the VoxCeleb format, one ``label enrol test`` line per trial.

    Example line: ``1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav``.
    The file is written to a temporary file and moved into place atomically.

    Parameters
    ----------
    path : path-like
        Destination (e.g. ``trials.txt``); its folder is created when missing.
    trials : DataFrame
        Columns ``label`` (0/1), ``enrol``, ``test`` (ids without whitespace).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TrialListError
        If a column is missing, a label is not 0/1, or an id is empty or
        contains whitespace.
    """
    _check_trial_frame(trials, need_label=True)
    labels = np.asarray(trials["label"])
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise TrialListError(f"expected labels 0/1, found {sorted(set(labels.tolist()))[:10]}.")
    enrol = trials["enrol"].astype(str).tolist()
    test = trials["test"].astype(str).tolist()
    bad = [u for u in enrol + test if not u or u != "".join(u.split())]
    if bad:
        raise TrialListError(
            f"expected utterance ids without whitespace (the format separates fields by spaces), "
            f"found {bad[:5]}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{int(y)} {a} {b}\n" for y, a, b in zip(labels, enrol, test))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_trials(path: str | os.PathLike) -> pd.DataFrame:
    """Read a VoxCeleb-format trial list (``label enrol test`` per line; blank lines skipped).

    Parameters
    ----------
    path : path-like
        A text file as written by :func:`write_trials` or distributed with
        VoxCeleb (``veri_test2.txt``).

    Returns
    -------
    DataFrame
        Columns ``label`` (int64), ``enrol``, ``test`` (str), in file order.

    Raises
    ------
    TrialListError
        If the file is missing, a line does not have three fields, or a
        label is not 0 or 1 (the message gives the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise TrialListError(f"expected a trial list at {path}, found none. Write it with write_trials.")
    labels: list[int] = []
    enrol: list[str] = []
    test: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or fields[0] not in ("0", "1"):
                raise TrialListError(
                    f"{path}:{number}: expected 'label enrol test' with label 0 or 1, found {line.strip()!r}."
                )
            labels.append(int(fields[0]))
            enrol.append(fields[1])
            test.append(fields[2])
    return pd.DataFrame({
        "label": np.asarray(labels, dtype=np.int64),
        "enrol": pd.Series(enrol, dtype=object).astype(str),
        "test": pd.Series(test, dtype=object).astype(str),
    })


# ----------------------------------------------------------------------------- scoring
def _unit_rows(M: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ScoreError(
            f"expected non-zero embeddings (cosine is undefined for a zero vector), found "
            f"{int((norms == 0).sum())} zero rows."
        )
    return M / norms


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
    _check_trial_frame(trials, need_label=False)
    enrol = trials["enrol"].astype(str).to_numpy()
    test = trials["test"].astype(str).to_numpy()
    used, inverse = np.unique(np.concatenate([enrol, test]), return_inverse=True)
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ScoreError(f"expected embeddings of shape (n, d), found shape {matrix.shape}.")
    E = align(ids, matrix, used)
    if not np.isfinite(E).all():
        raise ScoreError("expected finite embeddings for the trial utterances, found NaN or infinite values.")
    E = _unit_rows(E)
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
    if not np.isfinite(C).all():
        raise ScoreError("expected finite cohort embeddings, found NaN or infinite values.")
    C = _unit_rows(C)
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


# ----------------------------------------------------------------------------- metrics
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
    evaluated at every operating point of :func:`speakerlib.metrics.error_rates`
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
        For bad scores or labels (see :func:`verification_report`).
    ValueError
        If ``p_target`` or a cost is out of range.
    """
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"expected 0 < p_target < 1, found {p_target}.")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"expected positive costs, found c_miss={c_miss}, c_fa={c_fa}.")
    s, y = _check_scores(scores, labels)
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
    s, y = _check_scores(scores, labels)
    thresholds, fpr, fnr = error_rates(s, y)
    return fpr, fnr, thresholds


def threshold_at_eer(scores: ArrayLike, labels: ArrayLike) -> float:
    """A score threshold at the equal error rate (to be chosen on dev, applied to test).

    The crossing of FNR and FPR lies between two consecutive operating points
    of :func:`speakerlib.metrics.error_rates`; of those two, the one with the
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
    s, y = _check_scores(scores, labels)
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
    s, y = _check_scores(scores, labels)
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

    Point estimates on the test trials: ``eer`` (:func:`speakerlib.metrics.eer`),
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

    dev_s, dev_y = _check_scores(dev_scores, dev_labels)
    s, y = _check_scores(test_scores, test_labels)
    if bootstrap < 0 or int(bootstrap) != bootstrap:
        raise ValueError(f"expected bootstrap to be an int >= 0, found {bootstrap!r}.")
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
        rng = np.random.default_rng(seed)
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
