"""Training on whole utterances: fresh random crops of the waveform every epoch, augmented, featurised on the fly.

A store made with ``PrepareConfig(content="audio")`` keeps each utterance's
audio after VAD, whole. :func:`load_waveforms` reads the utterances a run uses
into :class:`Waveforms` (all samples end to end in one array);
:func:`waveform_dataset` draws, for every batch, a random window of
``crop_samples`` from each utterance (wrapping around one that is shorter),
passes each window through an augmentation function (noise, reverberation:
:mod:`speakerlib.augmentation`), and computes the features of the batch with
``tf.signal`` inside ``tf.data`` (:func:`speakerlib.features.tf_features.compute_features_tf`),
normalised as the run says. Every random choice is drawn from the run's seed,
the epoch and the batch (:mod:`speakerlib.seeds`), so epoch ``e`` sees the same
windows and the same noise whether or not the run was interrupted before it.

:func:`speed_perturbed` adds copies of every training utterance played faster
and slower, each a speaker class of its own (the Kaldi and WeSpeaker practice:
a voice sped up by 10 % is another voice).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from speakerlib import seeds
from speakerlib._tensorflow import tf
from speakerlib.errors import FeatureError
from speakerlib.features import FeatureConfig
from speakerlib.features.tf_features import compute_features_tf

__all__ = [
    "Waveforms",
    "load_waveforms",
    "speed_perturbed",
    "crop_windows",
    "waveform_dataset",
]

#: ``augment(window, rng) -> window``: a window of samples in, the same length out.
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]

_AHEAD = 4  # batches prepared ahead of the one training uses


@dataclass
class Waveforms:
    """Every utterance's samples end to end in one array.

    Attributes
    ----------
    samples : np.ndarray [shape=(total_samples,), dtype=float32]
        Audio in [-1, 1] of all utterances, concatenated.
    offsets : np.ndarray [shape=(N,), dtype=int64]
        Index in ``samples`` where utterance ``i`` starts.
    lengths : np.ndarray [shape=(N,), dtype=int64]
        Samples of utterance ``i``.
    ids : list of str
        The utterance ids, in that order.
    """

    samples: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def utterance(self, i: int) -> np.ndarray:
        """The samples of utterance ``i`` (a view)."""
        return self.samples[self.offsets[i]:self.offsets[i] + self.lengths[i]]

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray], ids: Sequence[str]) -> Waveforms:
        """Concatenate 1-D arrays into :class:`Waveforms`."""
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        lengths = np.array([a.size for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        samples = np.concatenate(arrays) if arrays else np.zeros(0, np.float32)
        return cls(samples, offsets, lengths, [str(u) for u in ids])


def load_waveforms(store, ids: list[str]) -> Waveforms:
    """Read the audio of ``ids`` from a store made with ``content="audio"``, and check it.

    Raises
    ------
    StoreConfigError
        If the store holds features, not audio.
    FeatureError
        If an utterance holds NaN or infinite samples.
    """
    arrays = [store.audio(u) for u in ids]
    bad = [u for u, a in zip(ids, arrays) if not np.isfinite(a).all()]
    if bad:
        raise FeatureError(
            f"store {store.path}: {len(bad)} utterances have NaN or infinite samples (first: {bad[:5]}). "
            "Prepare them again, or leave them out of the manifest."
        )
    return Waveforms.from_arrays(arrays, ids)


def speed_perturbed(data: Waveforms, labels: np.ndarray, *, factors: Sequence[float], num_classes: int,
                    perturb: Callable[[np.ndarray, float], np.ndarray]) -> tuple[Waveforms, np.ndarray]:
    """The training utterances, and copies of them at other speeds, each speed its own classes.

    Parameters
    ----------
    data : Waveforms
    labels : np.ndarray [shape=(N,), dtype=int]
        Classes in ``[0, num_classes)``.
    factors : sequence of float
        Speeds other than 1 (e.g. ``(0.9, 1.1)``); an empty sequence returns the data as it is.
    num_classes : int
        Speaker classes of the original data.
    perturb : callable (samples, factor) -> samples
        The speed change (:func:`speakerlib.augmentation.speed_perturb`).

    Returns
    -------
    (Waveforms, labels)
        ``N * (1 + len(factors))`` utterances; the copies at ``factors[k]``
        have the labels ``labels + (k + 1) * num_classes`` and ids
        ``"<id>@<factor>"``.
    """
    arrays = [data.utterance(i) for i in range(len(data))]
    ids, all_labels = list(data.ids), [np.asarray(labels)]
    for k, factor in enumerate(factors, start=1):
        arrays += [perturb(a, float(factor)) for a in arrays[:len(data)]]
        ids += [f"{u}@{factor:g}" for u in data.ids]
        all_labels.append(np.asarray(labels) + k * num_classes)
    return Waveforms.from_arrays(arrays, ids), np.concatenate(all_labels)


def crop_windows(data: Waveforms, idx: np.ndarray, *, crop_samples: int,
                 rng: np.random.Generator | None) -> np.ndarray:
    """A window of ``crop_samples`` from each utterance ``idx[i]``: random, or centred when ``rng`` is None.

    An utterance shorter than the window wraps around (its samples repeat).

    Returns
    -------
    np.ndarray [shape=(len(idx), crop_samples), dtype=float32]
    """
    idx = np.asarray(idx, dtype=np.int64)
    lengths, offsets = data.lengths[idx], data.offsets[idx]
    room = np.maximum(lengths - crop_samples, 0)
    starts = room // 2 if rng is None else np.floor(rng.random(idx.size) * (room + 1)).astype(np.int64)
    out = np.empty((idx.size, crop_samples), dtype=data.samples.dtype)
    for i, (offset, start, length) in enumerate(zip(offsets, starts, lengths)):
        if length >= crop_samples:  # a slice: no index array of a whole batch of samples
            out[i] = data.samples[offset + start:offset + start + crop_samples]
        else:
            out[i] = data.samples[offset + (start + np.arange(crop_samples)) % length]
    return out


def waveform_dataset(data: Waveforms, labels: np.ndarray, batches: np.ndarray, *, crop_samples: int,
                     features: FeatureConfig, seed: int, epoch: int, augment: Augment | None = None,
                     random_crop: bool = True):
    """A tf.data pipeline over index batches: ``(features (batch, frames, bins, 1), labels)``.

    Parameters
    ----------
    data : Waveforms
    labels : np.ndarray [shape=(N,), dtype=int]
    batches : np.ndarray [shape=(batches, batch_size), dtype=int]
        Indices into ``data``, one row per step (:func:`speakerlib.train.inputs.epoch_batches`).
    crop_samples : int [samples]
        Window length (:func:`speakerlib.train.config.samples_for_frames` of the recipe's crop).
    features : FeatureConfig
        The features computed from each window, normalised as it says.
    seed, epoch : int
        Batch ``b``'s windows come from stream ``"train.crops"`` keyed by
        ``(epoch, b)``; the augmentation of its ``i``-th window from stream
        ``"augment.chain"`` keyed by ``(epoch, b * batch_size + i)``.
    augment : callable (window, rng) -> window, optional
        Applied to every window (None: no augmentation).
    random_crop : bool
        Random windows (training) or centred ones (the val data).
    """
    batches = np.asarray(batches, dtype=np.int64)
    label_table = np.asarray(labels, dtype=np.int32)

    def make_batch(b: int) -> tuple[np.ndarray, np.ndarray]:
        idx = batches[b]
        crop_rng = seeds.rng(seed, "train.crops", epoch, b) if random_crop else None
        windows = crop_windows(data, idx, crop_samples=crop_samples, rng=crop_rng)
        if augment is not None:
            first = b * len(idx)
            windows = np.stack([augment(w, seeds.rng(seed, "augment.chain", epoch, first + i))
                                for i, w in enumerate(windows)]).astype(np.float32)
        return windows, label_table[idx]

    def generate():
        # The windows are cut and augmented in a Python thread of our own, a few batches ahead:
        # numpy's BLAS crashes on the small stacks of TensorFlow's threads (tf.numpy_function).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speakerlib-windows") as pool:
            pending = deque(pool.submit(make_batch, b) for b in range(min(_AHEAD, len(batches))))
            following = len(pending)
            while pending:
                windows, y = pending.popleft().result()
                if following < len(batches):
                    pending.append(pool.submit(make_batch, following))
                    following += 1
                yield windows, y

    signature = (tf.TensorSpec((batches.shape[1], crop_samples), tf.float32),
                 tf.TensorSpec((batches.shape[1],), tf.int32))
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(batches)))  # Keras then knows the epoch's end
    # One batch at a time (its ops use the cores): under op determinism, every run's default, tf.data
    # would run a parallel map behind from_generator sequentially anyway, and log a C++ error line
    # ("NodeDef mentions attribute use_unbounded_threadpool") on stderr every epoch as it rewrites it.
    ds = ds.map(lambda windows, y: (compute_features_tf(windows, features)[..., None], y))
    return ds.prefetch(2)
