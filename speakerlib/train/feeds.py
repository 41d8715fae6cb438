"""What the training stages feed their models: the data of a run, loaded once, and one epoch of batches.

:func:`training_data` reads a run's utterances once: the training utterances
as features (:class:`~speakerlib.train.inputs.Frames`, from a store of
features) or as audio (:class:`~speakerlib.train.waveforms.Waveforms`, from a
store of audio, with the speed-perturbed copies and the augmentation sources
the recipe asks for), and the val and dev utterances as features.
:func:`epoch_feed` then gives any stage the batches of one epoch at the crop
length it wants. Both stages that train a classifier (the main one and the
large-margin fine-tune) use them, so they see the same speakers, labels and
augmentation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from speakerlib.augmentation import AugmentationSources, augment, load_sources, speed_perturb
from speakerlib.paths import data_dir
from speakerlib.train.config import RunConfig, samples_for_frames
from speakerlib.train.inputs import Frames, epoch_batches, fixed_crops, load_frames, train_dataset
from speakerlib.train.waveforms import Waveforms, load_waveforms, speed_perturbed, waveform_dataset

__all__ = ["TrainingData", "training_data", "epoch_feed", "val_feed", "dev_rows"]


@dataclass
class TrainingData:
    """A run's utterances, loaded once (:func:`training_data`).

    Attributes
    ----------
    train : Frames or Waveforms
        The training utterances (with their speed-perturbed copies, for a store of audio).
    labels : np.ndarray [shape=(len(train),), dtype=int]
        Their classes in ``[0, config.num_classes)``.
    val : Frames
        Features of the held-out utterances of the training speakers.
    val_labels : np.ndarray [shape=(len(val),), dtype=int]
    dev : Frames
        Features of the dev utterances scored after every epoch.
    dev_speakers : np.ndarray [shape=(len(dev),), dtype=str]
    augment : callable (window, rng) -> window, or None
        The recipe's waveform augmentation, with its sources loaded.
    """

    train: Frames | Waveforms
    labels: np.ndarray
    val: Frames
    val_labels: np.ndarray
    dev: Frames
    dev_speakers: np.ndarray
    augment: Callable | None = None


def dev_rows(parts: pd.DataFrame, config: RunConfig) -> pd.DataFrame:
    """The dev utterances scored after every epoch: all, or a seeded sample of ``max_dev_utterances``."""
    rows = parts[parts["part"] == "dev"]
    limit = config.profile.max_dev_utterances
    if limit and len(rows) > limit:
        rows = rows.sample(limit, random_state=config.seed).sort_index()
    return rows


def _augmentation(config: RunConfig, train: Waveforms) -> Callable | None:
    """``augment(window, rng)`` with the recipe's settings and sources, or None."""
    settings = config.recipe.augmentation
    if settings is None or not (settings.noise_probability or settings.babble_probability
                                or settings.reverb_probability):
        return None
    babble = [train.utterance(i) for i in range(len(train))] if settings.babble_probability else ()
    sources: AugmentationSources = load_sources(
        musan_root=config.noise_dir, rirs_root=config.rir_dir,
        num_simulated_rirs=config.recipe.simulated_rirs if settings.reverb_probability else 0,
        seed=config.seed, cache_dir=data_dir() / "cache" / "rirs", babble=babble,
        sample_rate_hz=config.store_config.sample_rate_hz,
    )

    def apply(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment(window, config=settings, sources=sources, rng=rng)

    return apply


def training_data(store, parts: pd.DataFrame, config: RunConfig) -> TrainingData:
    """Load a run's training, val and dev utterances (see the module docstring).

    Parameters
    ----------
    store : FeatureStore
        The run's store (of features, or of audio).
    parts : DataFrame
        ``split.csv`` (:func:`speakerlib.train.stages.training_parts`).
    config : RunConfig
    """
    label_of = {s: i for i, s in enumerate(config.speakers)}
    rows = {part: parts[parts["part"] == part] for part in ("train", "val")}
    labels = np.array([label_of[s] for s in rows["train"]["speaker"]], dtype=np.int64)
    ids = rows["train"]["utt_id"].tolist()
    augment_fn = None
    if store.config.content == "audio":
        train = load_waveforms(store, ids)
        if config.recipe.speed_factors:
            train, labels = speed_perturbed(train, labels, factors=config.recipe.speed_factors,
                                            num_classes=len(config.speakers), perturb=speed_perturb)
        augment_fn = _augmentation(config, train)
    else:
        train = load_frames(store, ids)
    dev = dev_rows(parts, config)
    return TrainingData(
        train=train, labels=labels,
        val=load_frames(store, rows["val"]["utt_id"].tolist()),
        val_labels=np.array([label_of[s] for s in rows["val"]["speaker"]], dtype=np.int64),
        dev=load_frames(store, dev["utt_id"].tolist()), dev_speakers=dev["speaker"].to_numpy(),
        augment=augment_fn,
    )


def epoch_feed(data: TrainingData, config: RunConfig, *, epoch: int, crop_frames: int | None = None):
    """The training batches of one epoch: ``(tf.data.Dataset, utterances it holds)``.

    Parameters
    ----------
    data : TrainingData
    config : RunConfig
    epoch : int
        0-based; with the run's seed, it decides the batches, crops and augmentation.
    crop_frames : int, optional
        The crop length [frames]; default the run's (``config.crop_frames``).
    """
    crop_frames = crop_frames or config.crop_frames
    if isinstance(data.train, Waveforms):
        batches = epoch_batches(len(data.train), config.batch_size, config.seed, epoch)
        features = dataclasses.replace(config.store_config.features, normalize=config.normalize)
        ds = waveform_dataset(data.train, data.labels, batches,
                              crop_samples=samples_for_frames(features, crop_frames), features=features,
                              seed=config.seed, epoch=epoch, augment=data.augment,
                              random_crop=config.recipe.crop == "random")
        return ds, batches.size
    ds, n_batches = train_dataset(data.train, data.labels, batch_size=config.batch_size, crop_frames=crop_frames,
                                  random_crop=config.recipe.crop == "random", normalize=config.normalize,
                                  seed=config.seed, epoch=epoch)
    return ds, n_batches * config.batch_size


def val_feed(data: TrainingData, config: RunConfig):
    """Centre crops of the val utterances with their labels (None without val utterances)."""
    if not len(data.val):
        return None
    return fixed_crops(data.val, data.val_labels, crop_frames=config.crop_frames, normalize=config.normalize,
                       batch_size=config.batch_size)
