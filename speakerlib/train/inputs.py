"""The input pipeline of training: a store's features in one array, and tf.data batches of crops.

:func:`load_frames` reads the utterances a run uses into :class:`Frames`, every
utterance's feature frames end to end in one array, so that a batch is a
gather. :func:`batches_dataset` turns index batches into a ``tf.data``
pipeline of ``(crops, labels)``: each utterance cropped (at random or in its
centre, wrapping around when it is shorter than the crop) and normalised.
Everything random is a function of ``(seed, epoch)`` (:mod:`speakerlib.seeds`):
epoch ``e`` sees the same batches and crops whether or not the run was
interrupted before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from speakerlib._tensorflow import tf
from speakerlib import seeds
from speakerlib.errors import FeatureError
from speakerlib.features import normalize as normalize_features
from speakerlib.features.tf_features import normalize_tf

__all__ = [
    "Frames",
    "load_frames",
    "epoch_batches",
    "crop_batch_fn",
    "batches_dataset",
    "train_dataset",
    "fixed_crops",
]


@dataclass
class Frames:
    """Every utterance's features end to end in one array, for cheap gathers.

    Attributes
    ----------
    frames : np.ndarray [shape=(total_frames, bins), dtype=float32]
        Un-normalised features of all utterances, concatenated.
    offsets : np.ndarray [shape=(N,), dtype=int64]
        Row of ``frames`` where utterance ``i`` starts.
    lengths : np.ndarray [shape=(N,), dtype=int64]
        Frames of utterance ``i``.
    ids : list of str
        The utterance ids, in that order.
    """

    frames: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    ids: list[str]
    _per_frame: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def per_frame_normalized(self) -> np.ndarray:
        """The frames z-normalised each over its bins (computed once, then kept).

        Per-frame statistics do not depend on which crop a frame falls in, so
        the pipeline can gather already-normalised frames instead of
        normalising every batch again.
        """
        if self._per_frame is None:
            self._per_frame = (normalize_features(self.frames, mode="per_frame") if len(self.frames)
                               else self.frames)
        return self._per_frame


def load_frames(store, ids: list[str]) -> Frames:
    """Read the un-normalised features of ``ids`` from a feature store and check them.

    Parameters
    ----------
    store : FeatureStore
    ids : list of str
        Utterances, in the order wanted.

    Raises
    ------
    FeatureError
        If the utterances differ in their number of bins, or a feature is NaN or infinite.
    """
    feats = store.features(ids, normalize=False)
    arrays = [np.asarray(x, dtype=np.float32) for x in feats]
    if not arrays:
        bins = int(store.index["num_bins"].iloc[0]) if len(store) else 1
        return Frames(np.zeros((0, bins), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    bins = {a.shape[1] for a in arrays}
    if len(bins) != 1:
        raise FeatureError(f"store {store.path}: expected one number of bins, found {sorted(bins)}")
    bad = [u for u, a in zip(ids, arrays) if not np.isfinite(a).all()]
    if bad:
        raise FeatureError(
            f"store {store.path}: {len(bad)} utterances have NaN or infinite features "
            f"(first: {bad[:5]}). Re-run prepare for them, or leave them out of the manifest."
        )
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Frames(np.concatenate(arrays, axis=0), offsets, lengths, list(ids))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """Shuffled index batches of one epoch.

    Parameters
    ----------
    n : int
        Training utterances.
    batch_size : int
    seed, epoch : int
        The order is drawn from stream ``"train.batches"`` keyed by ``epoch``.

    Returns
    -------
    np.ndarray [shape=(batches, batch_size), dtype=int64]
        A partial last batch is dropped; a training set smaller than one
        batch becomes one batch with some utterances twice.
    """
    order = seeds.rng(seed, "train.batches", epoch).permutation(n)
    if n < batch_size:
        order = np.resize(order, batch_size)
    usable = (len(order) // batch_size) * batch_size
    return order[:usable].reshape(-1, batch_size)


def crop_batch_fn(data: Frames, *, crop_frames: int, random_crop: bool, normalize: str):
    """A TensorFlow function ``(index batch, stateless seed) -> (batch, crop_frames, bins, 1)``.

    Parameters
    ----------
    data : Frames
    crop_frames : int [frames]
    random_crop : bool
        A uniformly random start in each utterance (from the stateless seed),
        else the centre crop. Utterances shorter than the crop wrap around.
    normalize : {"per_frame", "per_utterance", "none"}
        Applied to each crop (:func:`speakerlib.features.tf_features.normalize_tf`).
    """
    if normalize == "per_frame":  # the same per-frame statistics every time: normalise once
        frames, normalize = tf.constant(data.per_frame_normalized()), "none"
    else:
        frames = tf.constant(data.frames)
    offsets = tf.constant(data.offsets)
    lengths = tf.constant(data.lengths)
    steps = tf.range(crop_frames, dtype=tf.int64)

    def crop(idx, seed):
        lens = tf.gather(lengths, idx)
        offs = tf.gather(offsets, idx)
        room = tf.maximum(lens - crop_frames, 0)
        if random_crop:
            u = tf.random.stateless_uniform(tf.shape(idx), seed=seed, dtype=tf.float64)
            starts = tf.cast(tf.floor(u * tf.cast(room + 1, tf.float64)), tf.int64)
        else:
            starts = room // 2
        positions = offs[:, None] + tf.math.floormod(starts[:, None] + steps[None, :], lens[:, None])
        x = tf.gather(frames, positions)
        return normalize_tf(x, mode=normalize)[..., None]

    return crop


def batches_dataset(data: Frames, labels: np.ndarray, batches: np.ndarray, *, crop_frames: int,
                    random_crop: bool, normalize: str, seed: int, epoch: int):
    """A tf.data pipeline over given index batches: ``(crops, labels)`` per batch.

    Parameters
    ----------
    data : Frames
    labels : np.ndarray [shape=(N,), dtype=int]
        The class of each utterance of ``data``.
    batches : np.ndarray [shape=(batches, batch_size), dtype=int]
        Indices into ``data``, one row per step.
    crop_frames, random_crop, normalize
        As :func:`crop_batch_fn`.
    seed, epoch : int
        The crops' stateless seeds come from stream ``"train.crops"`` keyed by ``epoch``.
    """
    crop_seeds = seeds.rng(seed, "train.crops", epoch).integers(0, 2**31 - 1, size=(len(batches), 2))
    crop = crop_batch_fn(data, crop_frames=crop_frames, random_crop=random_crop, normalize=normalize)
    label_table = tf.constant(labels.astype(np.int32))
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(batches, dtype=np.int64), crop_seeds))
    ds = ds.map(lambda idx, s: (crop(idx, s), tf.gather(label_table, idx)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(2)


def train_dataset(data: Frames, labels: np.ndarray, *, batch_size: int, crop_frames: int,
                  random_crop: bool, normalize: str, seed: int, epoch: int):
    """One epoch of training batches: :func:`epoch_batches` through :func:`batches_dataset`.

    Returns
    -------
    (tf.data.Dataset, int)
        The pipeline and its number of batches.
    """
    batches = epoch_batches(len(data.ids), batch_size, seed, epoch)
    ds = batches_dataset(data, labels, batches, crop_frames=crop_frames, random_crop=random_crop,
                         normalize=normalize, seed=seed, epoch=epoch)
    return ds, len(batches)


def fixed_crops(data: Frames, labels: np.ndarray | None, *, crop_frames: int, normalize: str,
                batch_size: int):
    """Centre crops of every utterance, in order (val data, dev embeddings).

    Returns
    -------
    tf.data.Dataset
        Batches of ``(batch, crop_frames, bins, 1)`` crops, with their labels
        when ``labels`` is given.
    """
    idx = np.arange(len(data.ids))
    crop = crop_batch_fn(data, crop_frames=crop_frames, random_crop=False, normalize=normalize)
    ds = tf.data.Dataset.from_tensor_slices(idx).batch(batch_size)
    if labels is None:
        ds = ds.map(lambda i: crop(i, tf.zeros(2, tf.int64)))
    else:
        table = tf.constant(labels.astype(np.int32))
        ds = ds.map(lambda i: (crop(i, tf.zeros(2, tf.int64)), tf.gather(table, i)))
    return ds.prefetch(2)
