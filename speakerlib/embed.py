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
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from speakerlib.errors import FeatureError, TrainingError

__all__ = ["load_embedding_model", "crop_indices", "embed_features", "embed_store", "embed_manifest"]


def load_embedding_model(run_or_file: str | Path):
    """Load an exported embedding model with Keras' safe mode on.

    Parameters
    ----------
    run_or_file : str or Path
        A run folder (its ``embedding.keras``) or a ``.keras`` file.

    Returns
    -------
    keras.Model

    Raises
    ------
    TrainingError
        If there is no exported model there (the run has not finished).
    """
    import keras

    import speakerlib.augment  # noqa: F401  (registers the custom layers)
    import speakerlib.losses  # noqa: F401
    import speakerlib.models  # noqa: F401  (registers the model layers)

    path = Path(run_or_file)
    if path.is_dir():
        path = path / "embedding.keras"
    if not path.is_file():
        raise TrainingError(
            f"expected an exported embedding model at {path}, found none. Finish the training run "
            "first (speakerlib train ... with the same --out resumes it)."
        )
    return keras.saving.load_model(path, safe_mode=True)


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
    from speakerlib.framing import evenly_spaced_crops

    if num_frames < 1:
        raise FeatureError(f"expected an utterance with at least one frame, found {num_frames}.")
    return evenly_spaced_crops(np.arange(num_frames, dtype=np.int64), num_samples=crop_frames,
                               num_crops=num_crops, pad="repeat")


def embed_features(
    model,
    features,
    *,
    normalize: str,
    crop_frames: int,
    num_crops: int = 1,
    batch_size: int = 64,
    progress: bool = False,
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
    crop_frames : int >= 1 [frames]
    num_crops : int >= 1
    batch_size : int
        Crops per forward pass.
    progress : bool
        A progress bar over batches.

    Returns
    -------
    np.ndarray [shape=(N, dim), dtype=float32]
        L2-normalised mean of the L2-normalised crop embeddings.

    Raises
    ------
    FeatureError
        Features with the wrong number of bins for the model, or NaN/infinite values.
    """
    from tqdm.auto import tqdm

    from speakerlib.features import normalize as normalize_features

    bins = model.input_shape[2]
    arrays = list(features)
    if not arrays:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    crops = np.empty((len(arrays) * num_crops, crop_frames, bins), dtype=np.float32)
    for i, x in enumerate(arrays):
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != bins:
            raise FeatureError(
                f"utterance {i}: expected features of shape (frames, {bins}) for this model, found "
                f"{x.shape}. Prepare the features with the run's store settings (config.json)."
            )
        if not np.isfinite(x).all():
            raise FeatureError(f"utterance {i}: NaN or infinite features; re-run prepare for it.")
        for k, rows in enumerate(crop_indices(len(x), crop_frames=crop_frames, num_crops=num_crops)):
            crops[i * num_crops + k] = normalize_features(x[rows], mode=normalize) if normalize != "none" \
                else x[rows]
    outputs = []
    starts = range(0, len(crops), batch_size)
    for start in tqdm(starts, desc="embedding", unit="batch", disable=not progress):
        batch = crops[start:start + batch_size, :, :, None]
        outputs.append(np.asarray(model(batch, training=False), dtype=np.float64))
    emb = np.concatenate(outputs).reshape(len(arrays), num_crops, -1)
    emb /= np.maximum(np.linalg.norm(emb, axis=2, keepdims=True), 1e-12)
    mean = emb.mean(axis=1)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    return mean.astype(np.float32)


def _run_dir(run_or_file: str | Path) -> Path:
    path = Path(run_or_file)
    return path.parent if path.is_file() else path


def _run_config(run_dir: Path) -> dict:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise TrainingError(f"{run_dir} is not a training run: expected config.json in it.")
    return json.loads(path.read_text())


def _eval_crops(config: dict, store, num_crops: int | None, crop_frames: int | None) -> tuple[int, int]:
    fixed = store.config.output_shape
    frames = crop_frames or config.get("eval_frames") or (fixed[0] if fixed else 300)
    crops = num_crops or (1 if fixed else 3)
    return int(frames), int(crops)


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
        Default: one crop of the whole stored 3 s for a fixed-length store,
        three crops of the run's ``eval_frames`` for a variable-length one.

    Returns
    -------
    (ids, embeddings [shape=(N, dim), dtype=float32])
    """
    from speakerlib.prepare import FeatureStore, load_store

    run_dir = _run_dir(run_dir)
    config = _run_config(run_dir)
    store = store if isinstance(store, FeatureStore) else load_store(store)
    ids = store.ids if ids is None else list(ids)
    frames, crops = _eval_crops(config, store, num_crops, crop_frames)
    model = load_embedding_model(run_dir)
    feats = store.features(ids, normalize=False)
    emb = embed_features(model, feats, normalize=config["recipe"]["normalize"], crop_frames=frames,
                         num_crops=crops, progress=progress)
    return ids, emb


def embed_manifest(run_dir: str | Path, manifest, out: str | Path, *, store: str | Path | None = None,
                   num_crops: int | None = None, crop_frames: int | None = None, jobs: int = 2,
                   progress: bool = True) -> tuple[Path, int, int]:
    """Embed every utterance of a manifest (from its audio) into one ``.npz`` file.

    The audio goes through the run's own preprocessing (its store's
    :class:`~speakerlib.prepare.PrepareConfig`) into a feature store at
    ``store`` (default: ``<out>.features/`` beside the output, kept, so that a
    second call is quick and an interrupted one resumes), then through the
    embedding model.

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
    (out path, utterances embedded, utterances rejected by preprocessing
    (listed in the store's ``rejects.csv``))
    """
    from speakerlib.evaluation.embeddings import save_embeddings
    from speakerlib.prepare import PrepareConfig, load_store, prepare

    run_dir = _run_dir(run_dir)
    config = _run_config(run_dir)
    out = Path(out)
    store_dir = Path(store) if store is not None else out.with_name(out.name + ".features")
    summary = prepare(manifest, store_dir, config=PrepareConfig.from_dict(config["store_config"]),
                      jobs=jobs, progress=progress)
    opened = load_store(store_dir)
    ids, emb = embed_store(run_dir, opened, num_crops=num_crops, crop_frames=crop_frames,
                           progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_embeddings(out, ids, emb)
    return out, len(ids), int(summary.rejected)

