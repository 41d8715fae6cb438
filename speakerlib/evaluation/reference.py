"""The reference implementation's evaluation, reproduced exactly (faults included).

The seed project (see ``../shared/SEED.md``) reports two numbers per model:

* **SI** (:func:`si_reference`): closed-set identification among the test
  speakers. Per speaker, the first half of its utterances *sorted by id*
  enrol (the mean of their embeddings is the speaker model) and the rest are
  tests; a test utterance goes to the model with the highest cosine
  similarity; the score is the accuracy.
* **"SV"** (:func:`membership_reference`): not pairwise verification but
  open-set *membership detection*: the first ``n_enrolled`` speakers in sorted
  id order are enrolled (first half of their sorted utterances, mean
  embedding); every other utterance is scored ``(max cosine over the enrolled
  models + 1) / 2``; utterances of enrolled speakers are positives, those of
  the other speakers negatives. :func:`reference_metrics` turns the scores
  into the seed's EER, "PR-AUC", accuracy and ROC-AUC.

These functions exist to reproduce the seed's numbers side by side with the
corrected protocols (:mod:`speakerlib.evaluation.identification` and
:mod:`speakerlib.evaluation.verification`). Their known faults, kept on purpose:
the decision threshold is tuned on the very scores it is judged on; the EER
is read at one ROC point without interpolation; "PR-AUC" is the average
precision of hard 0/1 decisions; enrolment is always the same (first)
utterances; on TIMIT the first speakers in sorted order are all female
(ids start with ``f``), so members and non-members differ in gender too.

:func:`find_reference_dir` locates the reference's saved score files
(``reference/scores/<run>/<Model>_y_true.npy`` and ``_y_pre.npy``), on which
:func:`reference_metrics` reproduces the table of ``reference/README.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from speakerlib.errors import ProtocolError, SplitError, UnknownNameError
from speakerlib.evaluation.embeddings import embedding_table, l2_normalize
from speakerlib.evaluation.metrics import check_trials
from speakerlib.evaluation.metrics import eer as interpolated_eer

__all__ = [
    "reference_metrics",
    "si_reference",
    "membership_reference",
    "reference_halves",
    "find_reference_dir",
    "reference_score_files",
    "reference_curves",
    "REFERENCE_CURVE_FOLDERS",
]


def find_reference_dir() -> Path | None:
    """The folder of the reference's outputs, or ``None`` when it is absent.

    Looks at the environment variable ``SPEAKERLIB_REFERENCE`` first, else at
    ``shared/reference`` beside the project folder (``<project>/../shared/reference``,
    where ``<project>`` holds the ``speakerlib`` package).

    Returns
    -------
    Path or None
        The folder (resolved) if it exists.
    """
    value = os.environ.get("SPEAKERLIB_REFERENCE")
    candidate = Path(value) if value else Path(__file__).resolve().parents[3] / "shared" / "reference"
    return candidate.resolve() if candidate.is_dir() else None


def reference_score_files(reference_dir: str | os.PathLike) -> dict[tuple[str, str], tuple[Path, Path]]:
    """Every ``(run, model) -> (y_true file, y_pre file)`` pair under ``reference_dir/scores``.

    Parameters
    ----------
    reference_dir : path-like
        The reference folder (see :func:`find_reference_dir`).

    Returns
    -------
    dict
        Keys ``(run, model)`` (e.g. ``("timit_6845b81", "SE")``), sorted;
        values the two ``.npy`` paths. A ``_y_true`` file without its
        ``_y_pre`` twin raises.

    Raises
    ------
    FileNotFoundError
        If a ``*_y_true.npy`` has no matching ``*_y_pre.npy``.
    """
    out: dict[tuple[str, str], tuple[Path, Path]] = {}
    for true_file in sorted(Path(reference_dir, "scores").glob("*/*_y_true.npy")):
        model = true_file.name[: -len("_y_true.npy")]
        pre_file = true_file.with_name(f"{model}_y_pre.npy")
        if not pre_file.is_file():
            raise FileNotFoundError(f"expected {pre_file} beside {true_file}, found none.")
        out[(true_file.parent.name, model)] = (true_file, pre_file)
    return out


#: speakerlib model name -> the reference's folder name under ``curves/<dataset>/``.
REFERENCE_CURVE_FOLDERS = {"deepspeaker": "deepSpk", "resnet34": "VggVox", "resnet50": "VggVox",
                           "seresnet": "SEResNet"}


def reference_curves(model: str, dataset: str = "timit", reference_dir: str | Path | None = None
                     ) -> pd.DataFrame | None:
    """The reference implementation's saved Keras history for a model, or None when absent.

    Parameters
    ----------
    model : str
        A speakerlib model name (mapped by :data:`REFERENCE_CURVE_FOLDERS`)
        or the reference's own folder name.
    dataset : {"timit", "librispeech"}
    reference_dir : str or Path, optional
        Default: :func:`speakerlib.evaluation.reference.find_reference_dir`
        (``$SPEAKERLIB_REFERENCE`` or ``../shared/reference``).

    Returns
    -------
    DataFrame or None
        One row per epoch: ``epoch`` (1-based), ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy`` (the reference's loss includes its L2
        penalty; its "val" is 20 % of the training speakers' utterances).
        None when the folder or its files are missing.
    """
    root = Path(reference_dir) if reference_dir is not None else find_reference_dir()
    if root is None:
        return None
    folder = root / "curves" / dataset / REFERENCE_CURVE_FOLDERS.get(model, model)
    names = {"loss": "losses", "accuracy": "accuracy", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    if not all((folder / f"{f}.npy").is_file() for f in names.values()):
        return None
    columns = {k: np.load(folder / f"{f}.npy", allow_pickle=False).astype(float).ravel() for k, f in names.items()}
    n = min(len(v) for v in columns.values())
    frame = pd.DataFrame({k: v[:n] for k, v in columns.items()})
    frame.insert(0, "epoch", np.arange(1, n + 1))
    return frame


def reference_metrics(y_true: ArrayLike, y_score: ArrayLike) -> dict:
    """The seed's verification metrics, computed as its code computes them.

    With ``fpr, tpr, thr = sklearn.metrics.roc_curve(y, s)`` (default
    settings, so collinear points are dropped) and
    ``i = argmin |1 - tpr - fpr|`` (the first such point):

    * ``eer = ((1 - tpr)[i] + fpr[i]) / 2`` (one ROC point, no interpolation);
    * ``threshold = thr[i]``, decisions ``s > threshold`` (tuned on these scores);
    * ``acc = accuracy_score(y, decisions)``;
    * ``prauc = average_precision_score(y, decisions)`` (on 0/1 decisions);
    * ``auc = roc_auc_score(y, s)``.

    Added for comparison (not in the seed): ``ap``, the average precision of
    the continuous scores, and ``eer_interp``, the EER with ties grouped and
    linear interpolation (:func:`speakerlib.evaluation.metrics.eer`).

    Parameters
    ----------
    y_true : array_like [shape=(n,)]
        1 for positives (targets, members), 0 for negatives; both present.
    y_score : array_like [shape=(n,)]
        Finite scores, higher = more likely positive.

    Returns
    -------
    dict
        ``eer``, ``prauc``, ``acc``, ``auc``, ``ap``, ``eer_interp``,
        ``threshold`` (floats; rates are fractions in [0, 1]),
        ``positives``, ``trials`` (ints).

    Raises
    ------
    ScoreError
        If the arrays differ in length or a score is NaN or infinite.
    TrialListError
        If a label is not 0/1 or only one class occurs.
    """
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score, roc_curve

    s64, is_target = check_trials(y_score, y_true)
    y = is_target.astype(np.int64)
    s = np.asarray(y_score)
    fpr, tpr, thr = roc_curve(y, s)
    i = int(np.argmin(np.abs(1.0 - tpr - fpr)))
    decisions = (s > thr[i]).astype(np.int64)
    return {
        "eer": float(((1.0 - tpr)[i] + fpr[i]) / 2.0),
        "prauc": float(average_precision_score(y, decisions)),
        "acc": float(accuracy_score(y, decisions)),
        "auc": float(roc_auc_score(y, s)),
        "ap": float(average_precision_score(y, s)),
        "eer_interp": interpolated_eer(s64, is_target),
        "threshold": float(thr[i]),
        "positives": int(is_target.sum()),
        "trials": int(is_target.size),
    }


def reference_halves(table: pd.DataFrame, *, rounding: str = "floor") -> pd.Series:
    """The seed's enrolment rule: per speaker, the first half of its sorted utterances enrol.

    Parameters
    ----------
    table : DataFrame
        Columns ``utt_id`` and ``speaker``.
    rounding : {"floor", "ceil"}
        How many of a speaker's ``n`` utterances enrol: ``n // 2`` (``"floor"``,
        the rule of :func:`speakerlib.data.splits.enrolment_split` with
        ``method="reference"``) or ``(n + 1) // 2`` (``"ceil"``). They differ
        only for odd ``n``.

    Returns
    -------
    Series [dtype=bool]
        Indexed like ``table``; True for enrolment utterances.

    Raises
    ------
    SplitError
        If a speaker has fewer than 2 utterances (nothing to enrol or to test);
        the message names the speakers.
    """
    if rounding not in ("floor", "ceil"):
        raise UnknownNameError(f"unknown rounding {rounding!r}; valid: floor, ceil")
    enrol = pd.Series(False, index=table.index)
    short: list[str] = []
    for speaker, group in table.groupby("speaker", sort=True):
        index = group.sort_values("utt_id", kind="stable").index
        n = len(index)
        if n < 2:
            short.append(f"{speaker} ({n})")
            continue
        k = n // 2 if rounding == "floor" else (n + 1) // 2
        enrol.loc[index[:k]] = True
    if short:
        raise SplitError(
            f"expected at least 2 utterances per speaker (half enrol, half test), found fewer for "
            f"{len(short)} speakers: {', '.join(short[:10])}. Drop these speakers first."
        )
    return enrol


def si_reference(
    X: ArrayLike, utt_ids: Sequence[str], speakers: Sequence[str], *, rounding: str = "floor"
) -> dict:
    """The seed's identification protocol (first sorted half enrols; cosine; accuracy).

    Every speaker of the set is both enrolled and tested (closed set). Per
    speaker, :func:`reference_halves` enrol; the speaker model is the plain
    mean of their embeddings (as the seed; its embeddings are unit length
    already); each remaining utterance is assigned to the model with the
    highest cosine similarity (ties: the first speaker in sorted order).

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings, row ``i`` for ``utt_ids[i]``.
    utt_ids : sequence of str [shape=(n,)]
        Unique utterance ids (their sort order decides enrolment).
    speakers : sequence of str [shape=(n,)]
        Speaker of each utterance.
    rounding : {"floor", "ceil"}
        See :func:`reference_halves`.

    Returns
    -------
    dict
        ``accuracy`` (fraction), ``correct`` and ``total`` (test utterances),
        ``n_speakers``, and ``decisions``: a DataFrame with one row per test
        utterance (sorted by id) and columns ``utt_id``, ``speaker``,
        ``predicted``, ``score`` (cosine of the predicted model), ``correct``.

    Raises
    ------
    ScoreError
        If the lengths differ, ids repeat, or an embedding is not finite.
    SplitError
        If a speaker has fewer than 2 utterances.
    """
    matrix, table = embedding_table(X, utt_ids, speakers)
    table = table.sort_values("utt_id", kind="stable").reset_index(drop=True)
    enrol = reference_halves(table, rounding=rounding).to_numpy()
    names = np.array(sorted(table["speaker"].unique()), dtype=object)
    rows = table["row"].to_numpy()
    spk = table["speaker"].to_numpy(dtype=object)
    models = np.vstack([matrix[rows[enrol & (spk == name)]].mean(axis=0) for name in names])
    test = ~enrol
    similarity = l2_normalize(matrix[rows[test]]) @ l2_normalize(models).T
    best = np.argmax(similarity, axis=1)
    predicted = names[best]
    correct = predicted == spk[test]
    decisions = pd.DataFrame({
        "utt_id": table["utt_id"].to_numpy()[test],
        "speaker": spk[test],
        "predicted": predicted,
        "score": similarity[np.arange(best.size), best],
        "correct": correct,
    })
    n_correct = int(correct.sum())
    return {
        "accuracy": n_correct / int(test.sum()),
        "correct": n_correct,
        "total": int(test.sum()),
        "n_speakers": int(names.size),
        "decisions": decisions,
    }


def membership_reference(
    X: ArrayLike,
    utt_ids: Sequence[str],
    speakers: Sequence[str],
    *,
    n_enrolled: int = 20,
    rounding: str = "floor",
) -> dict:
    """The seed's "SV" protocol: open-set membership detection, scored as the seed does.

    Reading of ``SEED.md``: the first ``n_enrolled`` speakers in sorted id
    order are enrolled with :func:`reference_halves` of their utterances (mean
    embedding). The trials are every utterance that was not used for
    enrolment: the second halves of the enrolled speakers (positives, label
    1) and *all* utterances of the other speakers (negatives, label 0). This
    reading reproduces the seed's counts: TIMIT test (168 speakers x 10
    utterances) with ``n_enrolled=20`` gives 20 x 5 = 100 positives and
    148 x 10 = 1 480 negatives, as in its README run; with 84 enrolled it
    gives the 420 positives in 1 260 trials of the ``timit_6845b81`` score
    files. Each trial's score is ``(max over enrolled models of cosine + 1) / 2``,
    in [0, 1]. :func:`reference_metrics` is applied to the result.

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings, row ``i`` for ``utt_ids[i]``.
    utt_ids : sequence of str [shape=(n,)]
        Unique utterance ids.
    speakers : sequence of str [shape=(n,)]
        Speaker of each utterance.
    n_enrolled : int >= 1
        Enrolled speakers (the first in sorted order); at least one speaker
        must remain as a non-member.
    rounding : {"floor", "ceil"}
        See :func:`reference_halves`.

    Returns
    -------
    dict
        ``y_true`` (int64, shape (m,)), ``y_score`` (float64, shape (m,)),
        ``utt_id`` and ``speaker`` (object arrays, shape (m,)) for the trials
        in sorted id order; ``enrolled`` (list of speaker ids);
        ``metrics`` (:func:`reference_metrics` of the trials).

    Raises
    ------
    ProtocolError
        If ``n_enrolled`` is not between 1 and the number of speakers - 1.
    SplitError
        If an enrolled speaker has fewer than 2 utterances.
    ScoreError
        If the lengths differ, ids repeat, or an embedding is not finite.
    """
    matrix, table = embedding_table(X, utt_ids, speakers)
    table = table.sort_values("utt_id", kind="stable").reset_index(drop=True)
    names = sorted(table["speaker"].unique())
    if not 1 <= n_enrolled < len(names):
        raise ProtocolError(
            f"expected 1 <= n_enrolled <= {len(names) - 1} (at least one speaker must stay a "
            f"non-member), found n_enrolled={n_enrolled} with {len(names)} speakers."
        )
    enrolled = names[:n_enrolled]
    member = table["speaker"].isin(enrolled).to_numpy()
    enrol = np.zeros(len(table), dtype=bool)
    enrol[member] = reference_halves(table[member], rounding=rounding).to_numpy()
    rows = table["row"].to_numpy()
    spk = table["speaker"].to_numpy(dtype=object)
    models = np.vstack([matrix[rows[enrol & (spk == name)]].mean(axis=0) for name in enrolled])
    trial = ~enrol
    best = (l2_normalize(matrix[rows[trial]]) @ l2_normalize(models).T).max(axis=1)
    y_score = (best + 1.0) / 2.0
    y_true = member[trial].astype(np.int64)
    return {
        "y_true": y_true,
        "y_score": y_score,
        "utt_id": table["utt_id"].to_numpy(dtype=object)[trial],
        "speaker": spk[trial],
        "enrolled": list(enrolled),
        "metrics": reference_metrics(y_true, y_score),
    }
