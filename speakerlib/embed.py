"""Embeddings: turn utterances into fixed-size vectors with a trained embedding model.

An embedding model (``RUN/embedding.keras``, exported by
:func:`speakerlib.train.train`) maps features ``(batch, frames, bins, 1)`` to
``(batch, dim)``. Here each utterance is cut into ``num_crops`` evenly spaced
crops of ``crop_frames`` frames (short utterances wrap around), each crop is
normalised as in training and embedded, the crop embeddings are
L2-normalised and averaged, and the average is L2-normalised again. Cosine
similarity between two results is then their dot product.

Embedding files
---------------
:func:`embed_manifest` writes one ``.npz`` (no pickle) holding ``utt_id``
``(N,)`` unicode and ``embeddings`` ``(N, dim)`` float32, rows in the same
order; :func:`speakerlib.evaluation.embeddings.load_embeddings` reads it.

Which features
--------------
Given no store, :func:`embed_manifest` takes the features from the run's own
training store when that store still holds every utterance of the manifest
(same ``utt_id``, same audio file) and was made with the settings the run
records: the store is not copied, and nothing is computed again. Otherwise
(a manifest of other utterances, a store moved, deleted or rebuilt) it
computes them into ``<out>.features`` and warns why the run's store could not
be used. The result says which store it used (:class:`EmbedResult`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from speakerlib.evaluation.embeddings import l2_normalize, save_embeddings
from speakerlib.errors import FeatureError, SpeakerlibError
from speakerlib.features import normalize as normalize_features
from speakerlib.framing import WHOLE_MIN_FRAMES, evenly_spaced_crops
from speakerlib.prepare import manifest_frame, prepare
from speakerlib.store import FeatureStore, load_store
from speakerlib.train.config import RunConfig
from speakerlib.train.run_folder import load_embedding_model

__all__ = ["WHOLE_MIN_FRAMES", "crop_indices", "default_crops", "embed_features", "embed_store", "embed_manifest",
           "EmbedResult", "run_store_for", "load_embedding_model"]



def crop_indices(num_frames: int, *, crop_frames: int, num_crops: int) -> np.ndarray:
    """Frame indices of ``num_crops`` evenly spaced crops of one utterance.

    Parameters
    ----------
    num_frames : int >= 1
        Frames in the utterance.
    crop_frames : int >= 1
        Frames per crop.
    num_crops : int >= 1

    Returns
    -------
    np.ndarray [shape=(num_crops, crop_frames), dtype=int64]
        Row ``k`` indexes crop ``k``: the first crop starts at frame 0 and the
        last ends at the last frame (:func:`speakerlib.framing.evenly_spaced_crops`);
        an utterance shorter than a crop is repeated. One crop is the centre crop.

    Examples
    --------
    >>> crop_indices(10, crop_frames=4, num_crops=3)
    array([[0, 1, 2, 3],
           [3, 4, 5, 6],
           [6, 7, 8, 9]])
    """
    if num_frames < 1:
        raise FeatureError(f"expected an utterance with at least one frame, found {num_frames}.")
    return evenly_spaced_crops(np.arange(num_frames, dtype=np.int64), num_samples=crop_frames,
                               num_crops=num_crops, pad="repeat")


def embed_features(
    model,
    features,
    *,
    normalize: str,
    crop_frames: int | None,
    num_crops: int = 1,
    batch_size: int = 64,
    progress: bool = False,
    min_frames: int = WHOLE_MIN_FRAMES,
) -> np.ndarray:
    """Embed utterances given as un-normalised features.

    Parameters
    ----------
    model : keras.Model
        Embedding model, input ``(batch, frames, bins, 1)``.
    features : sequence of np.ndarray [shape=(frames_i, bins), dtype=float32]
        One array per utterance (or one ``(N, frames, bins)`` array).
    normalize : {"per_frame", "per_utterance", "none"}
        Normalisation applied to each crop (the run's recipe's).
    crop_frames : int >= 1 [frames] or None
        None: every utterance whole, in one piece (``num_crops`` is then
        ignored; one shorter than ``min_frames`` is repeated to that length).
    num_crops : int >= 1
    batch_size : int
        Crops per forward pass (utterances of one length when whole).
    progress : bool
        A progress bar over batches.
    min_frames : int
        The shortest whole utterance the model is given (every model here
        pools over time, but its strides need a few frames).

    Returns
    -------
    np.ndarray [shape=(N, dim), dtype=float32]
        L2-normalised mean of the L2-normalised crop embeddings.

    Raises
    ------
    FeatureError
        Features with the wrong number of bins for the model, or NaN/infinite values.
    ScoreError
        A crop's embedding is zero (it has no direction to compare).
    """
    bins = model.input_shape[2]
    arrays = [_checked(x, i, bins) for i, x in enumerate(features)]
    if not arrays:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    if crop_frames is None:  # whole utterances: one forward pass per length
        pieces = [x[crop_indices(len(x), crop_frames=max(len(x), min_frames), num_crops=1)[0]]
                  for x in arrays]
        num_crops = 1
    else:
        pieces = [x[rows] for x in arrays
                  for rows in crop_indices(len(x), crop_frames=crop_frames, num_crops=num_crops)]
    if normalize != "none":
        pieces = [normalize_features(p, mode=normalize) for p in pieces]
    by_length: dict[int, list[int]] = {}
    for k, piece in enumerate(pieces):
        by_length.setdefault(len(piece), []).append(k)
    groups = [(rows[i:i + batch_size]) for rows in by_length.values() for i in range(0, len(rows), batch_size)]
    flat = np.empty((len(pieces), model.output_shape[-1]), dtype=np.float64)
    for rows in tqdm(groups, desc="embedding", unit="batch", disable=not progress):
        batch = np.stack([pieces[k] for k in rows])[..., None]
        flat[rows] = np.asarray(model(batch, training=False), dtype=np.float64)
    emb = l2_normalize(flat, what="the crop embeddings").reshape(len(arrays), num_crops, -1)
    return l2_normalize(emb.mean(axis=1), what="the utterance embeddings").astype(np.float32)


def _checked(x, i: int, bins: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != bins:
        raise FeatureError(
            f"utterance {i}: expected features of shape (frames, {bins}) for this model, found "
            f"{x.shape}. Prepare the features with the run's store settings (config.json)."
        )
    if not np.isfinite(x).all():
        raise FeatureError(f"utterance {i}: NaN or infinite features; re-run prepare for it.")
    return x


def _run_dir(run_or_file: str | Path) -> Path:
    path = Path(run_or_file)
    return path.parent if path.is_file() else path


def default_crops(config: RunConfig, store_config, num_crops: int | None = None,
                  crop_frames: int | None = None) -> tuple[int | None, int]:
    """Frames per crop and crops per utterance a run's model is given by default.

    Whole utterances (``(None, 1)``) from a store of audio; from a store of
    features the run's ``eval_frames``, one crop for a fixed-length store and three
    for a variable-length one. ``num_crops`` and ``crop_frames`` override them.

    Parameters
    ----------
    config : RunConfig
    store_config : PrepareConfig
        The settings of the store the utterances come from.
    """
    if crop_frames is None and num_crops is None and store_config.content == "audio":
        return None, 1
    return int(crop_frames or config.eval_frames), int(num_crops or (1 if store_config.output_shape else 3))


def embed_store(run_dir: str | Path, store, ids: list[str] | None = None, *,
                num_crops: int | None = None, crop_frames: int | None = None,
                progress: bool = False) -> tuple[list[str], np.ndarray]:
    """Embed utterances of a feature store with a finished run's model.

    Parameters
    ----------
    run_dir : str or Path
        A finished training run.
    store : str, Path or FeatureStore
        Its features must have the run's number of bins.
    ids : list of str, optional
        Utterances to embed (default: all, in index order).
    num_crops, crop_frames : int, optional
        Default: each utterance whole, for a store of audio
        (``PrepareConfig(content="audio")``); else one crop of the run's ``eval_frames``
        (``eval_frames`` of :class:`speakerlib.train.config.RunConfig`: the whole
        stored 3 s of a fixed-length store) for a fixed-length store, three
        crops of it for a variable-length one.

    Returns
    -------
    (ids, embeddings [shape=(N, dim), dtype=float32])
    """
    run_dir = _run_dir(run_dir)
    config = RunConfig.read(run_dir)
    store = store if isinstance(store, FeatureStore) else load_store(store)
    ids = store.ids if ids is None else list(ids)
    frames, crops = default_crops(config, store.config, num_crops, crop_frames)
    model = load_embedding_model(run_dir)
    feats = store.features(ids, normalize=False)
    emb = embed_features(model, feats, normalize=config.normalize, crop_frames=frames,
                         num_crops=crops, progress=progress)
    return ids, emb


class EmbedResult(tuple):
    """What :func:`embed_manifest` did: unpacks as ``(out, embedded, rejected)``, and says which store it used.

    Attributes
    ----------
    out : Path
        The ``.npz`` written.
    embedded : int
        Utterances embedded.
    rejected : int
        Utterances rejected by preprocessing (listed in ``store``'s ``rejects.csv``).
    store : Path
        The feature store the features came from.
    reused_run_store : bool
        True when it is the run's own training store (nothing was computed).
    store_note : str
        One sentence: which store was used, and why.
    """

    def __new__(cls, out: Path, embedded: int, rejected: int, *, store: Path, reused_run_store: bool,
                store_note: str):
        result = super().__new__(cls, (Path(out), int(embedded), int(rejected)))
        result.store, result.reused_run_store, result.store_note = Path(store), bool(reused_run_store), store_note
        return result

    out = property(lambda self: self[0])
    embedded = property(lambda self: self[1])
    rejected = property(lambda self: self[2])


def _resolved(paths) -> list[str]:
    return [str(Path(p).expanduser().resolve()) for p in paths]


def run_store_for(config: RunConfig, manifest: pd.DataFrame) -> tuple[FeatureStore | None, str]:
    """The run's training store if it can give the features of ``manifest``, and why (or why not).

    It can when it still opens, was made with the settings the run records
    (``config.store_config``), and holds every utterance of the manifest with
    the same ``utt_id`` and the same audio file (paths compared resolved).

    Parameters
    ----------
    config : RunConfig
        The run's configuration (its ``store`` and ``store_config``).
    manifest : DataFrame
        ``utt_id`` and ``path`` of the utterances to embed.

    Returns
    -------
    (FeatureStore or None, str)
        The store, or None; and one sentence saying why.
    """
    where = f"the run's training store {config.store}"
    try:
        store = load_store(config.store)
    except SpeakerlibError as exc:
        return None, f"{where} cannot be opened ({exc})"
    if store.config.to_dict() != config.store_config.to_dict():
        return None, f"{where} was made with other settings than the run records (it was prepared again)"
    held = dict(zip(store.index["utt_id"].astype(str), store.index["path"]))
    ids = manifest["utt_id"].astype(str).tolist()
    missing = [u for u in ids if u not in held]
    wanted = dict(zip(ids, _resolved(manifest["path"])))
    held = {u: _resolved([held[u]])[0] for u in ids if u in held}  # only the manifest's: a store can be large
    moved = [u for u in held if held[u] != wanted[u]]
    if missing or moved:
        reasons = []
        if missing:
            reasons.append(f"{len(missing)} are not in it (e.g. {missing[0]})")
        if moved:
            reasons.append(f"{len(moved)} come from another audio file there (e.g. {moved[0]}: "
                           f"{held[moved[0]]} in the store, {wanted[moved[0]]} in the manifest)")
        return None, (f"{where} does not hold the manifest's {len(ids)} utterances: "
                      + " and ".join(reasons))
    return store, (f"{where}: made with the run's settings, it holds all {len(ids)} utterances of the "
                   "manifest from the same audio files, so no features are computed")


def embed_manifest(run_dir: str | Path, manifest, out: str | Path, *, store: str | Path | None = None,
                   num_crops: int | None = None, crop_frames: int | None = None, jobs: int = 2,
                   progress: bool = True) -> EmbedResult:
    """Embed every utterance of a manifest (from its audio) into one ``.npz`` file.

    The features come from a feature store made with the run's own
    preprocessing (its store's :class:`~speakerlib.store.PrepareConfig`), then
    go through the embedding model:

    * ``store`` given: the audio is prepared into it (kept, so that a second
      call is quick and an interrupted one resumes).
    * no ``store``: the run's own training store when it holds every
      utterance of the manifest (:func:`run_store_for`), else a new store at
      ``<out>.features/`` beside the output, with a warning saying why the
      run's store could not be used.

    Parameters
    ----------
    run_dir : str or Path
        A finished training run.
    manifest : DataFrame, str or Path
        Utterances to embed.
    out : str or Path
        The ``.npz`` to write (atomically).
    store : str or Path, optional
        Where the features go.
    num_crops, crop_frames : int, optional
        See :func:`embed_store`.
    jobs : int
        Worker processes for the features.

    Returns
    -------
    EmbedResult
        Unpacks as ``(out path, utterances embedded, utterances rejected by
        preprocessing (listed in the store's rejects.csv))``; its ``store``,
        ``reused_run_store`` and ``store_note`` say which store was used.

    Warns
    -----
    UserWarning
        No ``store`` given, and the run's training store cannot be used for
        these utterances: the message says why, and where the features go.
    """
    run_dir = _run_dir(run_dir)
    config = RunConfig.read(run_dir)
    out = Path(out)
    frame, _ = manifest_frame(manifest, purpose="embed")
    if store is None:
        opened, why = run_store_for(config, frame)
        if opened is not None:
            ids = frame["utt_id"].astype(str).tolist()
            ids, emb = embed_store(run_dir, opened, ids=ids, num_crops=num_crops, crop_frames=crop_frames,
                                   progress=progress)
            save_embeddings(out, ids, emb, run_dir=run_dir)
            return EmbedResult(out, len(ids), 0, store=opened.path, reused_run_store=True,
                               store_note=f"features from {why}")
        store_dir = out.with_name(out.name + ".features")
        warnings.warn(f"{why}; computing the features into {store_dir} instead", stacklevel=2)
        note = f"features computed into {store_dir} ({why})"
    else:
        store_dir = Path(store)
        note = f"features from {store_dir} (the store given)"
    summary = prepare(frame, store_dir, config=config.store_config, jobs=jobs, progress=progress)
    opened = load_store(store_dir)
    ids, emb = embed_store(run_dir, opened, num_crops=num_crops, crop_frames=crop_frames,
                           progress=progress)
    save_embeddings(out, ids, emb, run_dir=run_dir)
    return EmbedResult(out, len(ids), int(summary.rejected), store=store_dir, reused_run_store=False,
                       store_note=note)
