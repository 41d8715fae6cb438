"""Embeddings as evaluation sees them: the on-disk file, lookup by id, length normalisation.

Format
------
A NumPy ``.npz`` archive (written without pickles, so loading runs no code)
holding two arrays, and optionally a third:

``utt_id`` : np.ndarray [shape=(n,), dtype=unicode ``<U*``]
    The utterance ids (the manifest's ``utt_id``), unique.
``embeddings`` : np.ndarray [shape=(n, d), dtype=float32]
    Row ``i`` is the embedding of ``utt_id[i]``; every value finite.
``run_dir`` : np.ndarray [shape=(), dtype=unicode], optional
    The absolute path of the training run folder whose model computed the
    embeddings (:func:`embedding_run_dir` reads it), so that evaluation can
    check the evaluated speakers against the run's training speakers
    (``RUN/split.csv``). Files without it (older ones, or embeddings of no
    run such as the MFCC baseline) are read the same way.

Evaluation code never relies on the row order: it looks rows up by id with
:func:`align`. Cosine scoring everywhere in speakerlib (verification trials,
identification, the dev EER of training, the baseline) length-normalises
with :func:`l2_normalize`, which refuses a zero vector rather than giving it
an arbitrary direction.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from speakerlib._io import atomic_path
from speakerlib.errors import EmbeddingFileError, ScoreError, UnknownUtteranceError

__all__ = ["save_embeddings", "load_embeddings", "embedding_run_dir", "read_embedding_file", "align",
           "embedding_table", "l2_normalize"]

_KEYS = ("utt_id", "embeddings")
_RUN_KEY = "run_dir"


def _listing(values: Sequence[object], limit: int = 5) -> str:
    """``'a', 'b', ... (12 in all)`` for an error message."""
    shown = ", ".join(repr(str(v)) for v in list(values)[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _check_table(ids: np.ndarray, X: np.ndarray, where: str) -> None:
    """Raise :class:`EmbeddingFileError` unless ``ids`` and ``X`` form a valid table."""
    if ids.ndim != 1:
        raise EmbeddingFileError(f"{where}: expected utt_id of shape (n,), found shape {ids.shape}.")
    if X.ndim != 2:
        raise EmbeddingFileError(
            f"{where}: expected embeddings of shape (n, d), found shape {X.shape}. "
            "Stack one embedding vector per utterance."
        )
    if ids.shape[0] != X.shape[0]:
        raise EmbeddingFileError(
            f"{where}: expected one embedding row per utterance id, found {ids.shape[0]} ids and "
            f"{X.shape[0]} rows."
        )
    if not np.issubdtype(X.dtype, np.floating):
        raise EmbeddingFileError(f"{where}: expected floating-point embeddings, found dtype {X.dtype}.")
    unique, counts = np.unique(ids, return_counts=True)
    if unique.size != ids.size:
        raise EmbeddingFileError(
            f"{where}: expected unique utterance ids, found {int((counts > 1).sum())} repeated: "
            f"{_listing(unique[counts > 1])}. Embed each utterance once."
        )
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise EmbeddingFileError(
            f"{where}: expected finite embeddings, found NaN or infinite values in {int(bad.sum())} "
            f"rows, utterances {_listing(ids[bad])}. Check the audio and features of these "
            "utterances (silence after VAD, a diverged model)."
        )


def save_embeddings(path: str | os.PathLike, utt_ids: Sequence[str] | ArrayLike, X: ArrayLike, *,
                    run_dir: str | os.PathLike | None = None) -> Path:
    """Write embeddings to an ``.npz`` file atomically (see the module docstring).

    The archive is written through :func:`speakerlib._io.atomic_path`, so a
    crash never leaves a half-written file under ``path``.

    Parameters
    ----------
    path : path-like
        Destination; ``.npz`` is the conventional suffix (it is not added).
        The parent folder is created when missing.
    utt_ids : sequence of str [shape=(n,)]
        Unique utterance ids.
    X : array_like [shape=(n, d), float]
        Embeddings; stored as float32.
    run_dir : path-like, optional
        The training run folder whose model computed them; stored as an
        absolute path (array ``run_dir``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    EmbeddingFileError
        If the shapes disagree, an id repeats, or a row holds NaN or infinite
        values (also after the cast to float32).
    """
    path = Path(path)
    ids = np.asarray([str(u) for u in utt_ids], dtype=str)
    matrix = np.asarray(X)
    if matrix.ndim == 2 and np.issubdtype(matrix.dtype, np.floating):
        with np.errstate(over="ignore"):
            matrix = matrix.astype(np.float32)
    _check_table(ids, matrix, f"saving {path}")
    extra = {} if run_dir is None else {_RUN_KEY: np.asarray(str(Path(run_dir).expanduser().absolute()))}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, allow_pickle=False, utt_id=ids, embeddings=matrix, **extra)
    return path


def embedding_run_dir(path: str | os.PathLike) -> Path | None:
    """The training run folder an embedding file records (array ``run_dir``), or None.

    Parameters
    ----------
    path : path-like
        An ``.npz`` written by :func:`save_embeddings`.

    Returns
    -------
    Path or None
        None when the file records no run (it was written without ``run_dir``).

    Raises
    ------
    EmbeddingFileError
        As :func:`load_embeddings`, or ``run_dir`` is not one string.
    """
    return read_embedding_file(path)[2]


def load_embeddings(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate an embedding file written by :func:`save_embeddings`.

    Parameters
    ----------
    path : path-like
        An ``.npz`` file.

    Returns
    -------
    ids : np.ndarray [shape=(n,), dtype=unicode]
        Utterance ids, in file order.
    X : np.ndarray [shape=(n, d), dtype as stored (float32)]
        Embeddings, row ``i`` for ``ids[i]``.

    Raises
    ------
    EmbeddingFileError
        If the file is missing or not an ``.npz`` archive, lacks ``utt_id`` or
        ``embeddings``, holds pickled objects, the lengths differ, an id
        repeats, or a row holds NaN or infinite values (the message names
        the utterances).
    """
    ids, X, _ = read_embedding_file(path)
    return ids, X


def read_embedding_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, Path | None]:
    """The ids, embeddings and recorded run folder of an embedding file, read and checked once
    (:func:`load_embeddings` and :func:`embedding_run_dir` are its two halves)."""
    path = Path(path)
    rewrite = {"Write it again with save_embeddings": "Write it again with speakerlib embed",
               "Write the file with save_embeddings": "Write the file with speakerlib embed"}
    if not path.is_file():
        raise EmbeddingFileError(
            f"expected an embedding file at {path}, found none. Compute the embeddings first "
            "(embed_manifest).", cli={"(embed_manifest)": "(speakerlib embed)"})
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in _KEYS if k not in archive.files]
            if missing:
                raise EmbeddingFileError(
                    f"{path}: expected the arrays {list(_KEYS)}, found {sorted(archive.files)} "
                    f"(missing {missing}). Write the file with save_embeddings.", cli=rewrite)
            ids = archive["utt_id"]
            X = archive["embeddings"]
            run = archive[_RUN_KEY] if _RUN_KEY in archive.files else None
    except EmbeddingFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise EmbeddingFileError(
            f"{path}: expected a NumPy .npz archive without pickled objects, could not read it "
            f"({exc}). Write it again with save_embeddings.", cli=rewrite) from exc
    if ids.dtype.kind != "U":
        raise EmbeddingFileError(f"{path}: expected unicode utterance ids, found dtype {ids.dtype}.")
    _check_table(ids, X, str(path))
    if run is not None and (run.shape != () or run.dtype.kind != "U" or not str(run)):
        raise EmbeddingFileError(
            f"{path}: expected run_dir to hold one folder path (a unicode scalar), found dtype "
            f"{run.dtype} and shape {run.shape}. Write the file again with save_embeddings(..., run_dir=RUN).",
            cli={"save_embeddings(..., run_dir=RUN)": "speakerlib embed"})
    return ids, X, None if run is None else Path(str(run))


def align(ids: Sequence[str] | ArrayLike, X: ArrayLike, wanted_ids: Sequence[str] | ArrayLike) -> np.ndarray:
    """The rows of ``X`` for ``wanted_ids``, in that order.

    Parameters
    ----------
    ids : sequence of str [shape=(n,)]
        Unique ids of the rows of ``X``.
    X : array_like [shape=(n, d)]
        Embeddings.
    wanted_ids : sequence of str [shape=(m,)]
        Ids to look up (repeats allowed).

    Returns
    -------
    np.ndarray [shape=(m, d), dtype of X]
        ``X[ids.index(w)]`` for every ``w`` in ``wanted_ids``.

    Raises
    ------
    EmbeddingFileError
        If ``ids`` and ``X`` differ in length or ``ids`` repeats a value.
    UnknownUtteranceError
        If a wanted id is not in ``ids`` (the message names them).
    """
    keys = np.asarray([str(u) for u in ids], dtype=object)
    matrix = np.asarray(X)
    if keys.shape[0] != matrix.shape[0]:
        raise EmbeddingFileError(
            f"expected one embedding row per id, found {keys.shape[0]} ids and {matrix.shape[0]} rows."
        )
    position: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key in position:
            raise EmbeddingFileError(f"expected unique ids, found {key!r} twice. Embed each utterance once.")
        position[key] = i
    wanted = [str(u) for u in wanted_ids]
    unknown = sorted({w for w in wanted if w not in position})
    if unknown:
        raise UnknownUtteranceError(
            f"expected an embedding for every requested utterance, found none for {len(unknown)}: "
            f"{_listing(unknown)}. Embed these utterances, or drop them from the manifest or trial list."
        )
    return matrix[np.asarray([position[w] for w in wanted], dtype=np.intp)]


def l2_normalize(X: ArrayLike, *, what: str = "embeddings") -> np.ndarray:
    """Scale every row to unit Euclidean length (in float64), so that cosine is a dot product.

    The one length normalisation of the package. Its policy for a zero row:
    refuse it. A zero vector has no direction, so its cosine with anything is
    undefined; giving it one silently (a score of 0 to everything) would hide
    a broken model or silent audio.

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings, any scale.
    what : str
        What the rows are, for the error message.

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float64]
        ``X[i] / ||X[i]||``.

    Raises
    ------
    ScoreError
        If ``X`` is not 2-D, or a row holds NaN or infinite values, or is zero.

    Examples
    --------
    >>> l2_normalize([[3.0, 4.0]]).tolist()
    [[0.6, 0.8]]
    """
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ScoreError(f"{what}: expected a matrix of shape (n, d), found shape {matrix.shape}.")
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise ScoreError(
            f"{what}: expected finite embeddings, found NaN or infinite values in {int(bad.sum())} "
            f"rows (first: {int(np.flatnonzero(bad)[0])})."
        )
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    zero = norms[:, 0] == 0
    if zero.any():
        raise ScoreError(
            f"{what}: expected non-zero embeddings (cosine is undefined for a zero vector), found "
            f"{int(zero.sum())} zero rows (first: {int(np.flatnonzero(zero)[0])})."
        )
    return matrix / norms


def embedding_table(X: ArrayLike, utt_ids: Sequence[str], speakers: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Validate embeddings given with their ids and speakers, as the protocols take them.

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings, row ``i`` for ``utt_ids[i]``.
    utt_ids : sequence of str [shape=(n,)]
        Unique utterance ids.
    speakers : sequence of str [shape=(n,)]
        The speaker of each utterance.

    Returns
    -------
    X : np.ndarray [shape=(n, d), dtype=float64]
    table : DataFrame
        Columns ``utt_id``, ``speaker`` (str) and ``row`` (the row of ``X``), in the given order.

    Raises
    ------
    ScoreError
        If ``X`` is not 2-D, the lengths differ, an id repeats, or a row is
        not finite (the message names the utterances).
    """
    matrix = np.asarray(X, dtype=np.float64)
    ids = pd.Series([str(u) for u in utt_ids], dtype=object)
    spk = pd.Series([str(s) for s in speakers], dtype=object)
    if matrix.ndim != 2:
        raise ScoreError(f"expected embeddings of shape (n, d), found shape {matrix.shape}.")
    if not (matrix.shape[0] == len(ids) == len(spk)):
        raise ScoreError(
            f"expected one utterance id and one speaker per embedding row, found {matrix.shape[0]} "
            f"rows, {len(ids)} ids and {len(spk)} speakers."
        )
    repeated = ids[ids.duplicated()].unique().tolist()
    if repeated:
        raise ScoreError(f"expected unique utterance ids, found repeats: {repeated[:5]}.")
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise ScoreError(
            f"expected finite embeddings, found NaN or infinite values for utterances "
            f"{ids[bad].tolist()[:5]} ({int(bad.sum())} in all)."
        )
    return matrix, pd.DataFrame({"utt_id": ids, "speaker": spk, "row": np.arange(len(ids))})
