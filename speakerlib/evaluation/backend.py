"""Back-ends trained on embeddings: an LDA projection, a WCCN, and the fusion of several systems.

Speaker recognition systems rarely score raw front-end vectors. Three classical
back-ends are trained here, on embeddings and the speaker labels of the
*training* speakers only (or, for the fusion weights, the trials of the *dev*
speakers), so that test speakers stay unseen:

* :class:`LDAProjection`: linear discriminant analysis, the projection that
  maximises between-speaker over within-speaker variance (Kaldi's x-vector
  back-end uses it before PLDA). It turns statistics that mix speaker,
  channel and content, such as MFCC means and deviations, into directions
  that separate speakers.
* :class:`WCCN`: within-class covariance normalisation (Hatch, Kajarekar and
  Stolcke, ICSLP 2006): the length-normalised embeddings are centred on the
  training mean and whitened by the training speakers' within-class
  covariance, so that the directions along which one speaker's utterances
  vary (channel, session, content) weigh less in the cosine. It keeps every
  dimension, unlike LDA, and has one setting, the regularisation.
* :func:`fusion_weights` and :func:`fuse`: the score-level fusion of several
  systems. A logistic regression on the dev trials' cosine scores (the
  classic linear fusion of speaker recognition, as in FoCal and BOSARIS)
  gives each system a weight; :func:`fuse` builds one embedding per
  utterance whose cosine is the weighted sum of the systems' cosines, so the
  fused system is scored by the same protocols, on the same trials, as any
  other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from speakerlib._io import atomic_path
from speakerlib.errors import ConfigError, EmbeddingFileError, ProtocolError, ScoreError
from speakerlib.evaluation.embeddings import align, l2_normalize
from speakerlib.evaluation.verification import score_trials

__all__ = ["LDAProjection", "WCCN", "wccn_normalised", "fusion_weights", "fuse", "scores_of"]


def _write_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write named arrays as one ``.npz`` (no pickle), atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    return path


def _read_arrays(path: str | os.PathLike, names: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """The named arrays of a ``.npz`` written by :func:`_write_arrays`; ``what`` names it in the error."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names}
    except (OSError, KeyError, ValueError) as exc:
        raise EmbeddingFileError(f"{path}: expected {what}, could not read it ({exc}). Fit it again.") from exc


@dataclass(frozen=True)
class LDAProjection:
    """A linear discriminant analysis projection (fit with :meth:`fit`, applied with :meth:`transform`).

    Attributes
    ----------
    mean : np.ndarray [shape=(d,), dtype=float64]
        Per-dimension mean of the training embeddings (subtracted first).
    scale : np.ndarray [shape=(d,), dtype=float64]
        Their per-dimension standard deviation (divided by next; 1 where it is 0).
    centre : np.ndarray [shape=(d,), dtype=float64]
        The standardised training embeddings' overall mean, as the LDA saw it.
    scalings : np.ndarray [shape=(d, k), dtype=float64]
        The ``k`` discriminant directions, most discriminant first.
    """

    mean: np.ndarray
    scale: np.ndarray
    centre: np.ndarray
    scalings: np.ndarray

    @classmethod
    def fit(cls, X: ArrayLike, speakers: ArrayLike, *, dims: int) -> LDAProjection:
        """Fit on training embeddings and their speakers.

        Parameters
        ----------
        X : array_like [shape=(n, d)]
            Embeddings of the training speakers' utterances.
        speakers : array_like [shape=(n,)]
            Their speakers (at least ``dims + 1`` of them).
        dims : int >= 1
            Directions kept, at most ``min(d, speakers - 1)``.

        Raises
        ------
        ConfigError
            If ``dims`` is out of range for the data.
        ScoreError
            If ``X`` is not a finite matrix with one speaker per row.
        """
        # scikit-learn is imported here, not at the top: it is slow to import and only fitting needs it.
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        matrix = np.asarray(X, dtype=np.float64)
        speakers = np.asarray(speakers)
        if matrix.ndim != 2 or matrix.shape[0] != speakers.shape[0] or not np.isfinite(matrix).all():
            raise ScoreError(f"LDAProjection.fit: expected finite embeddings (n, d) and n speakers, found "
                             f"shape {matrix.shape} and {speakers.shape[0]} speakers.")
        limit = min(matrix.shape[1], len(np.unique(speakers)) - 1)
        if not 1 <= dims <= limit:
            raise ConfigError(f"LDAProjection.fit: expected 1 <= dims <= {limit} (the embedding size and the "
                              f"number of training speakers minus one bound it), got {dims}.")
        mean, scale = matrix.mean(axis=0), matrix.std(axis=0)
        scale[scale == 0] = 1.0
        standard = (matrix - mean) / scale
        lda = LinearDiscriminantAnalysis(n_components=dims, solver="svd").fit(standard, speakers)
        return cls(mean, scale, np.asarray(lda.xbar_, dtype=np.float64),
                   np.asarray(lda.scalings_[:, :dims], dtype=np.float64))

    @property
    def dims(self) -> int:
        """Directions kept."""
        return int(self.scalings.shape[1])

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Project embeddings ``(n, d)`` to ``(n, dims)`` float64 (what scikit-learn's ``transform`` gives)."""
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.mean.shape[0]:
            raise ScoreError(f"LDAProjection.transform: expected embeddings of shape (n, {self.mean.shape[0]}), "
                             f"found {matrix.shape}.")
        return ((matrix - self.mean) / self.scale - self.centre) @ self.scalings

    def save(self, path: str | os.PathLike) -> Path:
        """Write the projection as a ``.npz`` (no pickle), atomically; return ``path``."""
        return _write_arrays(path, mean=self.mean, scale=self.scale, centre=self.centre, scalings=self.scalings)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LDAProjection:
        """Read a projection written by :meth:`save`.

        Raises
        ------
        EmbeddingFileError
            If the file is missing or lacks an array.
        """
        data = _read_arrays(path, ("mean", "scale", "centre", "scalings"), "an LDA projection written by "
                            "LDAProjection.save")
        return cls(data["mean"], data["scale"], data["centre"], data["scalings"])


@dataclass(frozen=True)
class WCCN:
    """Within-class covariance normalisation of embeddings (fit with :meth:`fit`, applied with :meth:`transform`).

    With ``z = x / |x| - mean`` for an embedding ``x``, the transform is
    ``z @ whitener``, where ``whitener`` is the symmetric inverse square
    root of the regularised within-class covariance ``W + r * tr(W) / d * I``
    of the training speakers. The cosine of two transformed embeddings is
    then ``z1' W_r^-1 z2 / sqrt(z1' W_r^-1 z1 * z2' W_r^-1 z2)``: the WCCN
    kernel of Hatch et al. (2006), whichever square root of ``W_r^-1`` is used.

    Attributes
    ----------
    mean : np.ndarray [shape=(d,), dtype=float64]
        Mean of the length-normalised training embeddings.
    whitener : np.ndarray [shape=(d, d), dtype=float64]
        Symmetric inverse square root of the regularised within-class covariance.
    regularisation : float
        ``r``: the share of the average within-class variance added to every
        direction (0: none).
    """

    mean: np.ndarray
    whitener: np.ndarray
    regularisation: float

    @classmethod
    def fit(cls, X: ArrayLike, speakers: ArrayLike, *, regularisation: float = 0.1) -> WCCN:
        """Fit on training embeddings and their speakers.

        Parameters
        ----------
        X : array_like [shape=(n, d)]
            Embeddings of the training speakers' utterances, finite and non-zero.
        speakers : array_like [shape=(n,)]
            Their speakers; at least 2, and at least one with 2 utterances.
        regularisation : float >= 0
            ``r`` (see the class). Choose it on dev speakers, never on test.

        Raises
        ------
        ConfigError
            If ``regularisation`` is negative, or 0 with a singular within-class
            covariance (fewer utterances than dimensions, say).
        ScoreError
            If ``X`` is not a finite, non-zero matrix with one speaker per row, or
            no speaker has two utterances.
        """
        speakers = np.asarray(speakers)
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != speakers.shape[0]:
            raise ScoreError(f"WCCN.fit: expected embeddings (n, d) and n speakers, found shape {matrix.shape} "
                             f"and {speakers.shape[0]} speakers.")
        if not (np.isfinite(regularisation) and regularisation >= 0):
            raise ConfigError(f"WCCN.fit: expected regularisation >= 0, got {regularisation}.")
        Z = l2_normalize(matrix, what="WCCN.fit's embeddings")
        names, codes, counts = np.unique(speakers, return_inverse=True, return_counts=True)
        if len(names) < 2 or counts.max() < 2:
            raise ScoreError(f"WCCN.fit: expected at least 2 speakers and one with 2 utterances or more (the "
                             f"within-class covariance), found {len(names)} speakers with at most "
                             f"{counts.max()} utterances each.")
        mean = Z.mean(axis=0)
        centred = Z - mean
        sums = np.zeros((len(names), centred.shape[1]))
        np.add.at(sums, codes, centred)
        deviation = centred - (sums / counts[:, None])[codes]  # each utterance less its speaker's mean
        within = deviation.T @ deviation / len(Z)
        d = within.shape[0]
        within += regularisation * np.trace(within) / d * np.eye(d)
        values, vectors = np.linalg.eigh(within)
        if values.min() <= 1e-12 * max(values.max(), 1e-300):
            raise ConfigError(f"WCCN.fit: the within-class covariance of {len(Z)} utterances in {d} dimensions is "
                              f"singular with regularisation={regularisation:g}; give regularisation > 0.")
        whitener = (vectors / np.sqrt(values)) @ vectors.T
        return cls(mean, whitener, float(regularisation))

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Normalise embeddings ``(n, d)`` to ``(n, d)`` float64 (length-normalised, centred, whitened)."""
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.mean.shape[0]:
            raise ScoreError(f"WCCN.transform: expected embeddings of shape (n, {self.mean.shape[0]}), "
                             f"found {matrix.shape}.")
        return (l2_normalize(matrix, what="WCCN.transform's embeddings") - self.mean) @ self.whitener

    def save(self, path: str | os.PathLike) -> Path:
        """Write the transform as a ``.npz`` (no pickle), atomically; return ``path``."""
        return _write_arrays(path, mean=self.mean, whitener=self.whitener,
                             regularisation=np.float64(self.regularisation))

    @classmethod
    def load(cls, path: str | os.PathLike) -> WCCN:
        """Read a transform written by :meth:`save`.

        Raises
        ------
        EmbeddingFileError
            If the file is missing or lacks an array.
        """
        data = _read_arrays(path, ("mean", "whitener", "regularisation"), "a WCCN transform written by WCCN.save")
        return cls(data["mean"], data["whitener"], float(data["regularisation"]))


def wccn_normalised(ids, X: np.ndarray, frame: pd.DataFrame, regularisation: float) -> tuple[np.ndarray, dict]:
    """Every embedding through a WCCN fitted on the embeddings of ``frame``'s train split.

    Parameters
    ----------
    ids : sequence of str [shape=(n,)]
        The utterance of each row of ``X``.
    X : np.ndarray [shape=(n, d)]
        Embeddings, the train split's among them.
    frame : DataFrame
        ``utt_id``, ``speaker`` and ``split`` (without it, or with no train
        speaker, the WCCN cannot be fitted).
    regularisation : float >= 0
        As :meth:`speakerlib.evaluation.backend.WCCN.fit`.

    Returns
    -------
    normalised, record : np.ndarray [shape=(n, d), dtype=float64], dict
        The transformed rows of ``X``, and ``regularisation``, ``train_speakers``
        and ``train_utterances``.

    Raises
    ------
    ProtocolError
        Fewer than 2 train speakers.
    ConfigError
        A singular covariance at ``regularisation`` (the message says ``--wccn``
        on the command line).
    """
    train = frame[frame["split"] == "train"] if "split" in frame else frame.iloc[:0]
    if train["speaker"].nunique() < 2:
        raise ProtocolError(
            f"wccn={regularisation!r}: the WCCN is fitted on the train split's utterances, and the manifest "
            f"has {train['speaker'].nunique()} train speakers. Evaluate with a manifest whose split column "
            "marks training speakers (embedded too), or leave wccn out.",
            cli={f"wccn={regularisation!r}": f"--wccn {regularisation}", "leave wccn out": "leave out --wccn"})
    try:
        fitted = WCCN.fit(align(ids, X, train["utt_id"].to_numpy()), train["speaker"].to_numpy(),
                          regularisation=regularisation)
    except ConfigError as error:
        raise ConfigError(str(error), cli={"regularisation": "--wccn", **error.cli}) from None
    return fitted.transform(X), {"regularisation": float(regularisation),
                                 "train_speakers": int(train["speaker"].nunique()),
                                 "train_utterances": int(len(train))}


def fusion_weights(scores: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """The weights of a linear fusion of systems, from their scores of the same (dev) trials.

    A logistic regression of the labels on the scores (unregularised in
    practice: ``C=1e4``) is the linear fusion that minimises the
    cross-entropy of the fused scores; its coefficients are the weights. A
    system whose coefficient comes out negative (it only adds noise once the
    others are known) gets weight 0. The weights are scaled to sum to 1.

    Parameters
    ----------
    scores : array_like [shape=(n_trials, n_systems)]
        Each system's score (cosine) of each trial.
    labels : array_like [shape=(n_trials,)]
        1 target, 0 non-target; both present.

    Returns
    -------
    np.ndarray [shape=(n_systems,), dtype=float64]
        Non-negative weights summing to 1.

    Raises
    ------
    ScoreError
        Bad shapes, non-finite scores, or no positive weight at all.
    """
    from sklearn.linear_model import LogisticRegression  # slow to import; only fitting needs it

    S = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    if S.ndim != 2 or S.shape[0] != y.shape[0] or not np.isfinite(S).all():
        raise ScoreError(f"fusion_weights: expected finite scores (n_trials, n_systems) and one label per "
                         f"trial, found shape {S.shape} and {y.shape[0]} labels.")
    if len(np.unique(y)) != 2:
        raise ScoreError("fusion_weights: expected target and non-target trials, found one class only.")
    model = LogisticRegression(C=1e4, max_iter=1000).fit(S, y)
    weights = np.maximum(model.coef_[0], 0.0)
    if not weights.sum() > 0:
        raise ScoreError("fusion_weights: every system got a negative weight; the scores are not "
                         "informative on these trials.")
    return weights / weights.sum()


def fuse(systems: Sequence[tuple[Sequence[str], ArrayLike]], weights: ArrayLike,
         ids: Sequence[str]) -> np.ndarray:
    """One embedding per utterance whose cosines are the weighted sums of the systems' cosines.

    Each system's embeddings are length-normalised and scaled by the square
    root of its weight, then concatenated: with weights summing to 1 the
    result has unit length, and the dot product of two results is
    ``sum_i w_i cos_i``.

    Parameters
    ----------
    systems : sequence of (ids, X)
        Each system's embedding table (any row order).
    weights : array_like [shape=(n_systems,)]
        Non-negative, summing to 1 (:func:`fusion_weights`).
    ids : sequence of str
        The utterances wanted, in order (every system must have them).

    Returns
    -------
    np.ndarray [shape=(len(ids), sum of the systems' dims), dtype=float32]
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(systems),) or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ConfigError(f"fuse: expected {len(systems)} non-negative weights summing to 1, got {w.tolist()}.")
    parts = [np.sqrt(weight) * l2_normalize(align(system_ids, X, ids), what="a fused system's embeddings")
             for (system_ids, X), weight in zip(systems, w)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def scores_of(trials, systems: Mapping[str, tuple[Sequence[str], ArrayLike]]) -> np.ndarray:
    """Each system's cosine score of each trial: ``(n_trials, n_systems)``, systems in mapping order."""
    return np.stack([score_trials(trials, ids, X) for ids, X in systems.values()], axis=1)
