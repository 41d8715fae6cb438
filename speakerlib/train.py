"""Training speaker-embedding networks from a feature store: recipes, profiles, resume.

A *run* trains one model (:mod:`speakerlib.models`) with one *recipe* (how:
loss, optimiser, crops, normalisation, augmentation) at one *profile* (how
much: epochs, width, early stopping) on the training speakers of a feature
store (:func:`speakerlib.prepare.prepare`), and writes everything to a run
folder::

    RUN/
      config.json        model, recipe, profile, seed, the store's PrepareConfig,
                         the training speakers (label order), input shape
      split.csv          utt_id, speaker, split, part: which utterance did what
                         (part = train / val / dev / test)
      history.csv        one row per finished epoch (also history.json)
      state.json         epochs done, best epoch, early stopping, timings
      checkpoints/last.keras   the whole training model with its optimiser, every epoch
      checkpoints/best.keras   the epoch with the lowest dev EER so far
      embedding.keras    the exported embedding model (from best.keras) at the end

Honest model selection
----------------------
Three kinds of speakers are kept apart (column ``split`` of the store's
index, or :func:`speakerlib.data.splits.speaker_split` with the run's seed
when the store has none):

* ``train`` speakers are the classes. A seeded share of each one's
  utterances (``Recipe.val_fraction``, 20 % like the reference) is held out
  as *val*: ``val_loss`` / ``val_accuracy`` are closed-set numbers
  comparable with the reference's curves.
* ``dev`` speakers are never trained on. After every epoch their utterances
  are embedded and every pair scored (cosine): ``dev_eer`` chooses the best
  checkpoint and drives early stopping. The reference chose its checkpoint on
  the test set; this is the correction.
* ``test`` speakers are not touched here at all.

Resume
------
Every epoch ends by writing ``checkpoints/last.keras`` (model *and* optimiser
state), ``history.csv`` and ``state.json``, each written to a temporary file
and renamed, so a run killed at any moment restarts (same command) from its
last finished epoch. The batches, crops and random masks (dropout,
SpecAugment) of epoch ``e`` depend only on ``(seed, e)``, so a resumed run
sees exactly what an uninterrupted one would have, and ends with the same weights.
A run folder made with another configuration, or whose checkpoint is missing
or unreadable while ``state.json`` says epochs were done, raises
:class:`~speakerlib.errors.CheckpointError`: a resume never silently starts
again from scratch.

Devices
-------
On one device (this CPU) training is deterministic for a seed
(``tf.config.experimental.enable_op_determinism``). With several GPUs, or
several logical CPU devices, :class:`tf.distribute.MirroredStrategy` splits
each batch across them. Several machines (``TF_CONFIG``) are refused with a
clear error: Keras 3's ``Model.fit`` fails under
``MultiWorkerMirroredStrategy`` (tried here with two local workers; upstream
keras-team/keras#20585). On a GPU the ``gpu`` profile trains in mixed
precision (float16 compute, float32 heads).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib.errors import CheckpointError, FeatureError, TrainingError
from speakerlib.prepare import _describe_difference

__all__ = [
    "Recipe",
    "Profile",
    "RECIPES",
    "PROFILES",
    "TrainResult",
    "runs_table",
    "train",
    "finetune_triplet",
    "load_run",
    "training_parts",
    "precision_policy",
]

CONFIG_NAME = "config.json"
STATE_NAME = "state.json"
HISTORY_NAME = "history.csv"
SPLIT_NAME = "split.csv"
EMBEDDING_NAME = "embedding.keras"
LAST_NAME = "checkpoints/last.keras"
BEST_NAME = "checkpoints/best.keras"


# ---------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class Recipe:
    """How a model is trained (independent of how long).

    Attributes
    ----------
    name : str
    loss : {"softmax", "aam"}
        ``softmax``: a Dense layer over the training speakers and softmax
        cross-entropy (the reference). ``aam``: a cosine classifier and
        additive angular margin softmax (:class:`speakerlib.losses.AAMSoftmaxLoss`).
    optimizer : {"sgd", "adam"}
    learning_rate : float > 0
        Peak learning rate.
    momentum : float in [0, 1)
        SGD momentum (ignored by Adam).
    schedule : {"constant", "warmup_cosine"}
        ``warmup_cosine``: linear warm-up from a tenth of ``learning_rate``
        over ``warmup_epochs``, then cosine decay to 1 % of it at the last epoch.
    warmup_epochs : int >= 0
    batch_size : int >= 2
        Utterances per step (across all devices).
    crop : {"fixed", "random"}
        ``fixed``: every epoch sees the same centre crop of each utterance
        (the stored 3 s, as the reference). ``random``: a new random crop of
        ``crop_frames`` each time (shorter utterances wrap around).
    crop_frames : int >= 1 or None [frames]
        Crop length; None: the store's fixed length (or 300 frames, 3 s at
        a 10 ms hop, for a variable-length store).
    normalize : {"per_frame", "per_utterance", "none"}
        Feature normalisation of each crop (:func:`speakerlib.tf_features.normalize_tf`);
        the reference z-normalises each frame.
    spec_augment : bool
        Random time and frequency masks during training (:class:`speakerlib.augment.SpecAugment`).
    aam_margin : float >= 0 [radians], aam_scale : float > 0
        AAM softmax settings (``loss="aam"``).
    weight_decay : float >= 0
        L2 penalty on convolution and dense kernels (the reference: 1e-5).
    pooling : str or None
        The model's pooling (None: its own; ``"stats"``: mean and standard
        deviation over time; DeepSpeaker always keeps its own temporal average).
    val_fraction : float in [0, 1)
        Share of each training speaker's utterances held out for
        ``val_loss``/``val_accuracy`` (closed-set; 0.2 as the reference).
    """

    name: str
    loss: str = "softmax"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    schedule: str = "constant"
    warmup_epochs: int = 0
    batch_size: int = 32
    crop: str = "fixed"
    crop_frames: int | None = None
    normalize: str = "per_frame"
    spec_augment: bool = False
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    weight_decay: float = 1e-5
    pooling: str | None = None
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        choices = {
            "loss": ("softmax", "aam"),
            "optimizer": ("sgd", "adam"),
            "schedule": ("constant", "warmup_cosine"),
            "crop": ("fixed", "random"),
            "normalize": ("per_frame", "per_utterance", "none"),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"Recipe.{name}: expected one of {valid}, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"Recipe.learning_rate: expected > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"Recipe.momentum: expected in [0, 1), got {self.momentum}")
        if self.batch_size < 2:
            raise ValueError(f"Recipe.batch_size: expected >= 2, got {self.batch_size}")
        if self.crop_frames is not None and self.crop_frames < 1:
            raise ValueError(f"Recipe.crop_frames: expected >= 1 or None, got {self.crop_frames}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"Recipe.val_fraction: expected in [0, 1), got {self.val_fraction}")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.aam_margin < 0 or self.aam_scale <= 0:
            raise ValueError(f"Recipe {self.name!r}: warmup_epochs, weight_decay and aam_margin must be "
                             ">= 0 and aam_scale > 0")


@dataclass(frozen=True)
class Profile:
    """How much training: the same recipe at test, CPU or paper scale.

    Attributes
    ----------
    name : str
    epochs : int >= 1
        Maximum number of epochs.
    patience : int >= 1 or None
        Stop when ``dev_eer`` has not improved for this many epochs.
    width : float > 0
        Channel multiplier passed to the model builder (1.0: the paper's).
    widths : tuple of (model name, float)
        Per-model overrides of ``width``.
    batch_size : int or None
        Overrides the recipe's batch size (None: the recipe's).
    mixed_precision : bool
        float16 compute on a GPU (ignored on CPU).
    max_dev_utterances : int or None
        At most this many dev utterances embedded after each epoch (a seeded
        sample), to bound the cost of the dev EER.
    bn_momentum : float in (0, 1)
        Momentum of every batch normalisation's moving mean and variance
        (Keras' default and the reference's: 0.99). Those moving statistics
        are what the model uses at inference; with 0.99 they need several
        hundred steps to forget their initial values, more than a short run
        on a small corpus takes, so the small profiles use less.
    """

    name: str
    epochs: int
    patience: int | None = None
    width: float = 1.0
    widths: tuple[tuple[str, float], ...] = ()
    batch_size: int | None = None
    mixed_precision: bool = False
    max_dev_utterances: int | None = None
    bn_momentum: float = 0.99

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"Profile.epochs: expected >= 1, got {self.epochs}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"Profile.patience: expected >= 1 or None, got {self.patience}")
        if not 0 < self.bn_momentum < 1:
            raise ValueError(f"Profile.bn_momentum: expected in (0, 1), got {self.bn_momentum}")
        if not self.width > 0 or any(w <= 0 for _, w in self.widths):
            raise ValueError(f"Profile {self.name!r}: widths must be > 0")

    def width_for(self, model: str) -> float:
        """The channel multiplier this profile uses for ``model``."""
        return dict(self.widths).get(model, self.width)


RECIPES: dict[str, Recipe] = {
    # The seed's training: softmax over the training speakers, SGD 0.01 with
    # momentum 0.9, batch 32, the one stored 3-s crop, per-frame normalisation.
    "reference": Recipe(name="reference"),
    # What current systems do (WeSpeaker, ECAPA recipes), scaled to small data:
    # random 2-s crops every epoch, SpecAugment masks, AAM softmax (margin 0.2,
    # scale 30), Adam with warm-up and cosine decay, statistics pooling where the
    # model supports it. Normalisation stays per frame: per-utterance mean and
    # variance normalisation was measured far worse on dev speakers (SE-ResNet,
    # width 0.5, 8 epochs: dev EER 0.37 against 0.14 on the synthetic corpus,
    # 0.37 against 0.089 on speechocean762), probably because the zero padding
    # of short utterances in the reference's 3-s features dominates per-band
    # statistics. "per_utterance" remains available for stores without padding.
    "improved": Recipe(
        name="improved", loss="aam", optimizer="adam", learning_rate=2e-3,
        schedule="warmup_cosine", warmup_epochs=2, crop="random", crop_frames=200,
        normalize="per_frame", spec_augment=True, pooling="stats",
    ),
}

PROFILES: dict[str, Profile] = {
    # Seconds: for tests. Tiny widths, two epochs.
    "smoke": Profile(name="smoke", epochs=2, width=0.125, batch_size=16, max_dev_utterances=64,
                     bn_momentum=0.5),
    # The book's default on a 2-core CPU: minutes per model on the synthetic corpus.
    "cpu": Profile(name="cpu", epochs=8, patience=4, width=0.5, widths=(("deepspeaker", 0.25),),
                   max_dev_utterances=400, bn_momentum=0.9),
    # Paper scale: the reference's epoch budget with early stopping on dev.
    "gpu": Profile(name="gpu", epochs=300, patience=20, width=1.0, mixed_precision=True),
}


def _pick(registry: dict, name, kind: str):
    if not isinstance(name, str):
        return name
    try:
        return registry[name]
    except KeyError:
        raise KeyError(f"unknown {kind} {name!r}; valid: {sorted(registry)}") from None


# ---------------------------------------------------------------------------
# Data


def training_parts(index: pd.DataFrame, *, seed: int, val_fraction: float) -> pd.DataFrame:
    """Which utterance trains, validates (closed-set), tunes (dev) or is kept for test.

    Parameters
    ----------
    index : DataFrame
        A feature store's index (``utt_id``, ``speaker``, and ``split`` when
        the prepared manifest had one).
    seed : int
        Seeds the speaker split when there is no ``split`` column, and the
        choice of val utterances.
    val_fraction : float in [0, 1)
        Share of each training speaker's utterances held out as ``val``
        (rounded; at least one when the speaker has 3 or more utterances and
        ``val_fraction > 0``).

    Returns
    -------
    DataFrame
        ``utt_id``, ``speaker``, ``split``, ``part`` (``train``/``val``/``dev``/``test``).

    Raises
    ------
    TrainingError
        Fewer than two training speakers.
    """
    from speakerlib.data.splits import _stable_hash, speaker_split

    if len(index) == 0:
        raise TrainingError("expected a feature store with utterances, found an empty index.")
    frame = index[["utt_id", "speaker"] + [c for c in ("split", "gender") if c in index]].copy()
    frame["speaker"] = frame["speaker"].astype(str)
    has_split = "split" in frame and frame["split"].notna().all() and \
        frame["split"].isin(["train", "dev", "test"]).all()
    if not has_split:
        stratify = "gender" if "gender" in frame and frame["gender"].notna().all() else None
        frame = speaker_split(frame, seed=seed, stratify=stratify)
    frame["part"] = frame["split"]
    for speaker, group in frame[frame["split"] == "train"].groupby("speaker", sort=True):
        n = len(group)
        k = int(round(val_fraction * n))
        if val_fraction > 0 and n >= 3:
            k = max(k, 1)
        k = min(k, n - 1)
        if k <= 0:
            continue
        rng = np.random.default_rng([seed, _stable_hash(str(speaker))])
        chosen = group.sort_values("utt_id").index[rng.choice(n, size=k, replace=False)]
        frame.loc[chosen, "part"] = "val"
    speakers = sorted(frame.loc[frame["part"] == "train", "speaker"].unique())
    if len(speakers) < 2:
        raise TrainingError(
            f"expected at least 2 training speakers, found {len(speakers)} ({speakers}); "
            f"the store has {frame['speaker'].nunique()} speakers in all. Training a speaker "
            "classifier needs several speakers: prepare a bigger manifest, or give it a split "
            "column with more train speakers."
        )
    return frame[["utt_id", "speaker", "split", "part"]].reset_index(drop=True)


@dataclass
class _Frames:
    """Every utterance's features end to end in one array, for cheap gathers."""

    frames: np.ndarray   # (total_frames, bins) float32
    offsets: np.ndarray  # (N,) int64
    lengths: np.ndarray  # (N,) int64
    ids: list[str]
    _per_frame: np.ndarray | None = field(default=None, repr=False)

    def per_frame_normalized(self) -> np.ndarray:
        """The frames z-normalised each over its bins (computed once, then kept).

        Per-frame statistics do not depend on which crop a frame falls in, so
        the pipeline can gather already-normalised frames instead of
        normalising every batch again.
        """
        if self._per_frame is None:
            from speakerlib.features import normalize

            self._per_frame = normalize(self.frames, mode="per_frame") if len(self.frames) else self.frames
        return self._per_frame


def _load_frames(store, ids: list[str]) -> _Frames:
    """Read the un-normalised features of ``ids`` and check them."""
    feats = store.features(ids, normalize=False)
    arrays = [np.asarray(x, dtype=np.float32) for x in feats]
    if not arrays:
        return _Frames(np.zeros((0, store.index["num_bins"].iloc[0] if len(store) else 1), np.float32),
                       np.zeros(0, np.int64), np.zeros(0, np.int64), [])
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
    return _Frames(np.concatenate(arrays, axis=0), offsets, lengths, list(ids))


def _epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """Shuffled index batches of epoch ``epoch``: (batches, batch_size), a partial last batch dropped."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(n)
    if n < batch_size:  # a tiny training set: one batch, some utterances twice
        order = np.resize(order, batch_size)
    usable = (len(order) // batch_size) * batch_size
    return order[:usable].reshape(-1, batch_size)


def _crop_batch_fn(data: _Frames, *, crop_frames: int, random_crop: bool, normalize: str):
    """A tf function: (index batch, stateless seed) -> (batch, crop_frames, bins, 1)."""
    import tensorflow as tf

    from speakerlib.tf_features import normalize_tf

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


def _batches_dataset(data: _Frames, labels: np.ndarray, batches: np.ndarray, *, crop_frames: int,
                     random_crop: bool, normalize: str, seed: int, epoch: int):
    """A tf.data pipeline over given index batches: (features, labels) per batch."""
    import tensorflow as tf

    seeds = np.random.default_rng([seed, epoch, 11]).integers(0, 2**31 - 1, size=(len(batches), 2))
    crop = _crop_batch_fn(data, crop_frames=crop_frames, random_crop=random_crop, normalize=normalize)
    label_table = tf.constant(labels.astype(np.int32))
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(batches, dtype=np.int64), seeds))
    ds = ds.map(lambda idx, s: (crop(idx, s), tf.gather(label_table, idx)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(2)


def _train_dataset(data: _Frames, labels: np.ndarray, *, batch_size: int, crop_frames: int,
                   random_crop: bool, normalize: str, seed: int, epoch: int):
    batches = _epoch_batches(len(data.ids), batch_size, seed, epoch)
    ds = _batches_dataset(data, labels, batches, crop_frames=crop_frames, random_crop=random_crop,
                          normalize=normalize, seed=seed, epoch=epoch)
    return ds, len(batches)


def _fixed_crops(data: _Frames, labels: np.ndarray | None, *, crop_frames: int, normalize: str,
                 batch_size: int):
    """Centre crops of every utterance, in order (val data, dev embeddings)."""
    import tensorflow as tf

    idx = np.arange(len(data.ids))
    crop = _crop_batch_fn(data, crop_frames=crop_frames, random_crop=False, normalize=normalize)
    ds = tf.data.Dataset.from_tensor_slices(idx).batch(batch_size)
    if labels is None:
        ds = ds.map(lambda i: crop(i, tf.zeros(2, tf.int64)))
    else:
        table = tf.constant(labels.astype(np.int32))
        ds = ds.map(lambda i: (crop(i, tf.zeros(2, tf.int64)), tf.gather(table, i)))
    return ds.prefetch(2)


# ---------------------------------------------------------------------------
# Model


def precision_policy(profile: Profile, num_gpus: int) -> str:
    """The Keras dtype policy a run uses: ``mixed_float16`` for a mixed-precision profile on a GPU.

    On a CPU float16 arithmetic is emulated and slower than float32, so a
    mixed-precision profile (``gpu``) falls back to ``float32`` there. Under
    ``mixed_float16`` the classifier heads and the losses stay in float32
    (they are built with ``dtype="float32"``).
    """
    return "mixed_float16" if profile.mixed_precision and num_gpus > 0 else "float32"


def _strategy():
    """The distribution strategy for the devices present (see the module docstring).

    Several GPUs (or, for tests, several logical CPUs) of one machine:
    :class:`tf.distribute.MirroredStrategy`. Several machines (``TF_CONFIG``)
    are refused: ``keras.Model.fit`` of Keras 3 fails under
    ``MultiWorkerMirroredStrategy`` (measured here with two local workers:
    "Attempt to convert a value (PerReplica...) to a Tensor"; upstream,
    keras-team/keras#20585).
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        raise TrainingError(
            "TF_CONFIG is set, asking for multi-worker training, which Keras 3's Model.fit does not "
            "support (MultiWorkerMirroredStrategy fails on its PerReplica batches; keras-team/keras#20585). "
            "Unset TF_CONFIG and train on one machine: all of its GPUs are used through MirroredStrategy."
        )
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    if not gpus:
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) > 1:
            return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()


def _batch_norms(model):
    """Every BatchNormalization layer of a model, nested models included."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _batch_norms(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            yield layer


def _seed_generators(model):
    """Every ``keras.random.SeedGenerator`` held by a layer of the model, in layer order."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _seed_generators(layer)
            continue
        found += [v for _, v in sorted(vars(layer).items()) if isinstance(v, keras.random.SeedGenerator)]
    return found


def _reseed(model, seed: int, epoch: int) -> None:
    """Set the state of the model's random layers (dropout, SpecAugment) from ``(seed, epoch)``.

    Their state advances with every step, and a checkpoint does not restore
    it; resetting it at the start of each epoch makes epoch ``e`` draw the
    same masks whether or not the run was interrupted before it.
    """
    for k, generator in enumerate(_seed_generators(model)):
        base = int(np.random.default_rng([seed, k, 13]).integers(0, 2**30))
        generator.state.assign(np.array([base, epoch * 1_000_000], dtype=generator.state.dtype))


def _build_training_model(config: dict, num_classes: int, steps_per_epoch: int):
    import keras

    from speakerlib.augment import SpecAugment
    from speakerlib.losses import AAMSoftmaxLoss, CosineClassifier, softmax_loss
    from speakerlib.models import build_embedding_model

    recipe = Recipe(**config["recipe"])
    profile = Profile(**{**config["profile"], "widths": tuple(map(tuple, config["profile"]["widths"]))})
    bins = config["input_bins"]
    # DeepSpeaker keeps its own temporal average (the paper's); the others take the recipe's pooling.
    pooling = None if config["model"] == "deepspeaker" else recipe.pooling
    embedding = build_embedding_model(
        config["model"], (None, bins, 1), weight_decay=recipe.weight_decay,
        width=profile.width_for(config["model"]), pooling=pooling, seed=config["seed"],
    )
    for layer in _batch_norms(embedding):
        layer.momentum = profile.bn_momentum  # saved with the layer's config
    inputs = keras.Input((None, bins, 1), name="features")
    x = inputs
    if recipe.spec_augment:
        x = SpecAugment(seed=config["seed"], name="spec_augment")(x)
    emb = embedding(x)
    regularizer = keras.regularizers.L2(recipe.weight_decay) if recipe.weight_decay else None
    if recipe.loss == "softmax":
        outputs = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, dtype="float32",
                                     name="speaker_logits")(emb)
        loss = softmax_loss()
    else:
        outputs = CosineClassifier(num_classes, dtype="float32", name="speaker_cosines")(emb)
        loss = AAMSoftmaxLoss(margin=recipe.aam_margin, scale=recipe.aam_scale)
    model = keras.Model(inputs, outputs, name=f"{config['model']}_{recipe.name}_training")

    total_steps = max(1, profile.epochs * steps_per_epoch)
    if recipe.schedule == "constant":
        lr = recipe.learning_rate
    else:
        warmup = min(recipe.warmup_epochs * steps_per_epoch, total_steps - 1)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=recipe.learning_rate / 10, decay_steps=max(1, total_steps - warmup),
            alpha=0.01, warmup_target=recipe.learning_rate, warmup_steps=warmup,
        )
    if recipe.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=recipe.momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr)
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def _embedding_submodel(training_model, model_name: str):
    return training_model.get_layer(f"{model_name}_embedding")


# ---------------------------------------------------------------------------
# Files


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save_model_atomically(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, expected_name: str):
    import keras

    import speakerlib.augment  # noqa: F401  (registers the custom layers)
    import speakerlib.losses  # noqa: F401
    import speakerlib.models  # noqa: F401

    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). It is corrupted or "
            f"was not written by speakerlib. Restore it from a backup, or delete the run folder "
            f"{path.parent.parent} to train again from scratch."
        ) from exc
    if model.name != expected_name:
        raise CheckpointError(
            f"checkpoint {path} holds model {model.name!r}, expected {expected_name!r}: it comes "
            "from another model or recipe. Use another --out folder for this run."
        )
    return model


def _comparable(config: dict) -> dict:
    """The parts of a run config that must match for a resume."""
    return {k: v for k, v in config.items() if k not in ("created", "speakerlib_version", "hardware")}


def _hardware() -> dict:
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
        "tensorflow": tf.__version__,
    }


# ---------------------------------------------------------------------------
# Dev evaluation


def _dev_metrics(embedding_model, data: _Frames, speakers: np.ndarray, *, crop_frames: int,
                 normalize: str, seed: int) -> dict:
    """Pairwise cosine EER and nearest-centroid SI accuracy over the dev speakers."""
    from speakerlib.metrics import eer

    if len(data.ids) < 2 or len(np.unique(speakers)) < 2:
        return {"dev_eer": float("nan"), "dev_si_accuracy": float("nan")}
    emb = embedding_model.predict(_fixed_crops(data, None, crop_frames=crop_frames,
                                               normalize=normalize, batch_size=64), verbose=0)
    emb = emb.astype(np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sim = emb @ emb.T
    upper = np.triu_indices(len(emb), k=1)
    same = speakers[:, None] == speakers[None, :]
    value = eer(sim[upper], same[upper])
    # SI: a seeded half of each speaker's utterances enrol (mean embedding), the rest are tested.
    rng = np.random.default_rng([seed, 3])
    enrol = np.zeros(len(emb), dtype=bool)
    for s in np.unique(speakers):
        where = np.flatnonzero(speakers == s)
        if len(where) >= 2:
            enrol[rng.choice(where, size=len(where) // 2, replace=False)] = True
    names = np.unique(speakers[enrol])
    centroids = np.stack([emb[enrol & (speakers == s)].mean(axis=0) for s in names])
    tests = ~enrol & np.isin(speakers, names)
    predicted = names[np.argmax(emb[tests] @ centroids.T, axis=1)]
    accuracy = float(np.mean(predicted == speakers[tests])) if tests.any() else float("nan")
    return {"dev_eer": float(value), "dev_si_accuracy": accuracy}


# ---------------------------------------------------------------------------
# The driver


@dataclass
class TrainResult:
    """What :func:`train` returns (and :func:`load_run` reads back).

    Attributes
    ----------
    run_dir : Path
    config : dict
        ``config.json``.
    history : DataFrame
        One row per epoch: ``epoch`` (1-based), ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``, ``dev_eer``, ``dev_si_accuracy``,
        ``learning_rate``, ``seconds`` (the whole epoch, dev evaluation and
        checkpoints included), ``samples_per_s`` (training utterances per
        second of the fit, val evaluation included; the first epoch also
        pays for tracing the graph).
    state : dict
        ``state.json``: ``epochs_done``, ``best_epoch``, ``best_dev_eer``,
        ``stopped_early``, ``finished``, ``train_seconds``, ``resumed_from``
        (the epoch a resumed run continued from, or None), ``replicas``
        (devices the batches were split across).
    """

    run_dir: Path
    config: dict
    history: pd.DataFrame
    state: dict = field(default_factory=dict)

    @property
    def embedding_path(self) -> Path:
        """The exported embedding model (``embedding.keras``)."""
        return self.run_dir / EMBEDDING_NAME

    def summary(self) -> str:
        s = self.state
        return (f"{self.config['model']} / {self.config['recipe']['name']} / "
                f"{self.config['profile']['name']}: {s.get('epochs_done')} epochs, best dev EER "
                f"{s.get('best_dev_eer', float('nan')):.3f} at epoch {s.get('best_epoch')}, "
                f"{s.get('train_seconds', 0):.0f} s")

    def best(self) -> dict:
        """The run in one table row: its length, and the kept epoch's figures.

        Returns
        -------
        dict
            ``epochs`` (run), ``best epoch`` (the kept checkpoint, chosen on
            dev EER), that epoch's ``dev EER``, ``dev SI accuracy`` and
            ``val accuracy``, ``samples/s`` (the median over epochs after
            the first, which also pays for tracing; the first when there is
            only one) and ``minutes`` of training.
        """
        h = self.history
        best_epoch = int(self.state["best_epoch"])
        row = h.loc[h["epoch"] == best_epoch].iloc[0]
        speeds = h["samples_per_s"].iloc[1:] if len(h) > 1 else h["samples_per_s"]
        return {
            "epochs": int(len(h)),
            "best epoch": best_epoch,
            "dev EER": float(row["dev_eer"]),
            "dev SI accuracy": float(row["dev_si_accuracy"]),
            "val accuracy": float(row.get("val_accuracy", np.nan)),
            "samples/s": float(speeds.median()),
            "minutes": float(self.state.get("train_seconds", np.nan)) / 60,
        }


def runs_table(results: Mapping[str, TrainResult], index: str = "run") -> pd.DataFrame:
    """One row per run (:meth:`TrainResult.best`), indexed by the mapping's keys.

    >>> runs_table({"ResNet-34": r34, "ResNet-50": r50}, index="model")  # doctest: +SKIP
    """
    table = pd.DataFrame([result.best() for result in results.values()], index=list(results))
    table.index.name = index
    return table


def load_run(run_dir: str | Path) -> TrainResult:
    """Read a run folder written by :func:`train`.

    Raises
    ------
    TrainingError
        If the folder has no ``config.json``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).is_file():
        raise TrainingError(f"{run_dir} is not a training run: expected {CONFIG_NAME} in it.")
    config = json.loads((run_dir / CONFIG_NAME).read_text())
    history = pd.read_csv(run_dir / HISTORY_NAME) if (run_dir / HISTORY_NAME).is_file() else pd.DataFrame()
    state = json.loads((run_dir / STATE_NAME).read_text()) if (run_dir / STATE_NAME).is_file() else {}
    return TrainResult(run_dir, config, history, state)


def train(
    store,
    run_dir: str | Path,
    *,
    model: str = "seresnet",
    recipe: str | Recipe = "reference",
    profile: str | Profile = "cpu",
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    deterministic: bool = True,
) -> TrainResult:
    """Train one model on a feature store; resume if the run folder holds an unfinished run.

    Parameters
    ----------
    store : str, Path or FeatureStore
        A feature store (:func:`speakerlib.prepare.prepare`).
    run_dir : str or Path
        The run folder (created; see the module docstring for its contents).
    model : str
        One of :data:`speakerlib.models.MODEL_NAMES`.
    recipe : str or Recipe
        ``"reference"``, ``"improved"`` (:data:`RECIPES`) or a :class:`Recipe`.
    profile : str or Profile
        ``"smoke"``, ``"cpu"``, ``"gpu"`` (:data:`PROFILES`) or a :class:`Profile`.
    seed : int
        Seeds the weights, the split (when the store has none), the val
        utterances, the batches and the crops.
    epochs : int, optional
        Overrides the profile's maximum number of epochs.
    progress : bool
        A progress bar over epochs with the latest metrics.
    deterministic : bool
        Enable TensorFlow's op determinism (same seed, same weights on CPU).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingError
        Too few speakers; a run folder made with another configuration.
    CheckpointError
        A resume whose checkpoint is missing, corrupted or from another model.
    FeatureError
        NaN or infinite features, or features whose number of bins differs
        from a resumed run's.
    KeyError
        Unknown model, recipe or profile name (the message lists valid ones).
    """
    import keras
    import tensorflow as tf
    from tqdm.auto import tqdm

    from speakerlib import __version__
    from speakerlib.models import MODEL_NAMES
    from speakerlib.prepare import FeatureStore, load_store

    if model not in MODEL_NAMES:
        raise KeyError(f"unknown model {model!r}; valid: {list(MODEL_NAMES)}")
    recipe = _pick(RECIPES, recipe, "recipe")
    profile = _pick(PROFILES, profile, "profile")
    if epochs is not None:
        profile = dataclasses.replace(profile, epochs=int(epochs))
    strategy = _strategy()
    store = store if isinstance(store, FeatureStore) else load_store(store)
    run_dir = Path(run_dir).expanduser().absolute()

    parts = training_parts(store.index, seed=seed, val_fraction=recipe.val_fraction)
    speakers = sorted(parts.loc[parts["part"] == "train", "speaker"].unique())
    label_of = {s: i for i, s in enumerate(speakers)}
    batch_size = profile.batch_size or recipe.batch_size
    fixed = store.config.output_shape
    crop_frames = recipe.crop_frames or (fixed[0] if fixed else 300)
    # Dev (and later test) utterances are embedded from one centre crop of the whole
    # stored 3 s, or of 3 s at least for a variable-length store.
    eval_frames = fixed[0] if fixed else max(crop_frames, 300)
    bins = int(store.index["num_bins"].iloc[0])

    config = {
        "model": model,
        "recipe": dataclasses.asdict(recipe),
        "profile": {**dataclasses.asdict(profile), "widths": [list(w) for w in profile.widths]},
        "seed": int(seed),
        "batch_size": batch_size,
        "crop_frames": int(crop_frames),
        "eval_frames": int(eval_frames),
        "input_bins": bins,
        "store": str(store.path),
        "store_config": store.config.to_dict(),
        "speakers": speakers,
        "speakerlib_version": __version__,
    }
    expected_name = f"{model}_{recipe.name}_training"

    # --- an existing run: finished, resumable, or in the way
    state = {"epochs_done": 0, "best_epoch": None, "best_dev_eer": None, "stopped_early": False,
             "finished": False, "train_seconds": 0.0, "resumed_from": None}
    history: list[dict] = []
    if (run_dir / CONFIG_NAME).is_file():
        old = json.loads((run_dir / CONFIG_NAME).read_text())
        diff = _describe_difference(_comparable(old), _comparable(config), where="run folder")
        if diff:
            raise TrainingError(
                f"run folder {run_dir} was made with another configuration: " + "; ".join(diff[:6])
                + ". Use a new --out folder, or delete this one to start again."
            )
        if (run_dir / STATE_NAME).is_file():
            state = json.loads((run_dir / STATE_NAME).read_text())
        if (run_dir / HISTORY_NAME).is_file() and state["epochs_done"]:
            history = pd.read_csv(run_dir / HISTORY_NAME).to_dict("records")[: state["epochs_done"]]
        if state.get("finished"):
            result = load_run(run_dir)
            if progress:
                print(f"run {run_dir.name} already finished: {result.summary()}")
            return result
        if state["epochs_done"] > 0:
            if not (run_dir / LAST_NAME).is_file():
                raise CheckpointError(
                    f"{run_dir / STATE_NAME} says {state['epochs_done']} epochs were done, but "
                    f"{run_dir / LAST_NAME} is missing. Restore it, or delete the run folder to "
                    "train again from scratch."
                )
            state["resumed_from"] = state["epochs_done"]
    run_dir.mkdir(parents=True, exist_ok=True)
    config["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    config["hardware"] = _hardware()
    _write_atomically(run_dir / CONFIG_NAME, json.dumps(config, indent=2))
    parts.to_csv(run_dir / SPLIT_NAME, index=False)

    # --- data
    train_ids = parts.loc[parts["part"] == "train", "utt_id"].tolist()
    val_ids = parts.loc[parts["part"] == "val", "utt_id"].tolist()
    dev_parts = parts[parts["part"] == "dev"]
    if profile.max_dev_utterances and len(dev_parts) > profile.max_dev_utterances:
        dev_parts = dev_parts.sample(profile.max_dev_utterances, random_state=seed).sort_index()
    train_data = _load_frames(store, train_ids)
    val_data = _load_frames(store, val_ids)
    dev_data = _load_frames(store, dev_parts["utt_id"].tolist())
    train_labels = np.array([label_of[s] for s in parts.loc[parts["part"] == "train", "speaker"]])
    val_labels = np.array([label_of[s] for s in parts.loc[parts["part"] == "val", "speaker"]])
    dev_speakers = dev_parts["speaker"].to_numpy()

    # --- model, on the devices present
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        precision_policy(profile, len(tf.config.list_logical_devices("GPU"))))
    state["replicas"] = int(strategy.num_replicas_in_sync)
    steps = len(_epoch_batches(len(train_ids), batch_size, seed, 0))
    with strategy.scope():
        if state["epochs_done"] > 0:
            training_model = _load_checkpoint(run_dir / LAST_NAME, expected_name)
            if training_model.input_shape[2] != bins:
                raise FeatureError(
                    f"checkpoint {run_dir / LAST_NAME} expects {training_model.input_shape[2]} bins, "
                    f"the store {store.path} has {bins}."
                )
        else:
            training_model = _build_training_model(config, len(speakers), steps)
    embedding_model = _embedding_submodel(training_model, model)
    val_ds = (_fixed_crops(val_data, val_labels, crop_frames=crop_frames, normalize=recipe.normalize,
                           batch_size=batch_size) if len(val_ids) else None)

    bar = tqdm(total=profile.epochs, initial=state["epochs_done"], desc=f"{model}/{recipe.name}",
               unit="epoch", disable=not progress)
    since_best = 0 if state["best_epoch"] is None else state["epochs_done"] - state["best_epoch"]
    try:
        for epoch in range(state["epochs_done"], profile.epochs):
            start = time.perf_counter()
            _reseed(training_model, seed, epoch)
            ds, n_batches = _train_dataset(
                train_data, train_labels, batch_size=batch_size, crop_frames=crop_frames,
                random_crop=recipe.crop == "random", normalize=recipe.normalize, seed=seed, epoch=epoch,
            )
            logs = training_model.fit(ds, validation_data=val_ds, epochs=epoch + 1, initial_epoch=epoch,
                                      shuffle=False, verbose=0).history
            train_time = time.perf_counter() - start
            row = {"epoch": epoch + 1}
            row.update({k: float(v[-1]) for k, v in logs.items()})
            row.update(_dev_metrics(embedding_model, dev_data, dev_speakers, crop_frames=eval_frames,
                                    normalize=recipe.normalize, seed=seed))
            lr = training_model.optimizer.learning_rate
            row["learning_rate"] = float(keras.ops.convert_to_numpy(lr))
            row["seconds"] = time.perf_counter() - start
            row["samples_per_s"] = n_batches * batch_size / train_time
            history.append(row)

            # Without dev speakers (dev EER undefined) the latest epoch counts as the best.
            improved = (not math.isfinite(row["dev_eer"]) or state["best_dev_eer"] is None
                        or not math.isfinite(state["best_dev_eer"])
                        or row["dev_eer"] < state["best_dev_eer"])
            _save_model_atomically(training_model, run_dir / LAST_NAME)
            if improved:
                _save_model_atomically(training_model, run_dir / BEST_NAME)
                state["best_epoch"], state["best_dev_eer"] = epoch + 1, row["dev_eer"]
                since_best = 0
            else:
                since_best += 1
            state["epochs_done"] = epoch + 1
            state["train_seconds"] = float(state["train_seconds"]) + row["seconds"]
            frame = pd.DataFrame(history)
            _write_atomically(run_dir / HISTORY_NAME, frame.to_csv(index=False))
            _write_atomically(run_dir / "history.json", frame.to_json(orient="records", indent=1))
            if profile.patience and since_best >= profile.patience and epoch + 1 < profile.epochs:
                state["stopped_early"] = True
            _write_atomically(run_dir / STATE_NAME, json.dumps(state, indent=2))
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}",
                            dev_eer=f"{row['dev_eer']:.3f}")
            if state["stopped_early"]:
                break
    finally:
        bar.close()

    best = _load_checkpoint(run_dir / BEST_NAME, expected_name)
    _save_model_atomically(_embedding_submodel(best, model), run_dir / EMBEDDING_NAME)
    state["finished"] = True
    _write_atomically(run_dir / STATE_NAME, json.dumps(state, indent=2))
    result = load_run(run_dir)
    if progress:
        print(result.summary())
    return result


def finetune_triplet(
    run_dir: str | Path,
    *,
    epochs: int = 5,
    margin: float = 0.1,
    speakers_per_batch: int = 8,
    utterances_per_speaker: int = 4,
    learning_rate: float = 1e-4,
    seed: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """DeepSpeaker's second stage: fine-tune a finished run's embedding with the triplet loss.

    Li et al. (2017) pre-train with softmax and then fine-tune the embedding
    with a triplet loss on cosine similarity; the reference keeps such a
    fine-tune in a side folder. Here the kept (best dev EER) embedding model
    of ``run_dir`` is trained further with
    :class:`speakerlib.losses.BatchHardTripletLoss` (every anchor-positive
    pair in a batch against the anchor's hardest negative) on batches of
    ``speakers_per_batch`` training speakers x ``utterances_per_speaker``
    utterances (:func:`speakerlib.losses.pk_batch_indices`), with Adam.
    The run's own crops and normalisation are used; dev EER selects the kept
    epoch as in :func:`train` (epoch 0, the starting point, counts: the
    fine-tune only replaces it when it does better).

    The result is a run folder of its own, ``run_dir/triplet``, with the same
    files as a training run (so :func:`speakerlib.embed.embed_store` and the
    evaluation read it the same way); it resumes after an interruption.

    Parameters
    ----------
    run_dir : str or Path
        A finished :func:`train` run.
    epochs : int >= 1
    margin : float >= 0
        The cosine margin (the reference's side folder: 0.1).
    speakers_per_batch, utterances_per_speaker : int >= 2
        P and K.
    learning_rate : float > 0
    seed : int, optional
        Default: the run's seed.
    progress : bool

    Returns
    -------
    TrainResult
        Of ``run_dir/triplet``; its history has ``loss`` (the triplet loss),
        ``dev_eer`` and ``dev_si_accuracy`` per epoch, row 0 being the start.

    Raises
    ------
    TrainingError
        If the run is not finished, or the folder holds a fine-tune made with
        other settings.
    CheckpointError
        As :func:`train`.
    """
    import keras
    from tqdm.auto import tqdm

    from speakerlib.embed import load_embedding_model
    from speakerlib.losses import BatchHardTripletLoss, pk_batch_indices
    from speakerlib.prepare import load_store

    base = load_run(run_dir)
    if not base.state.get("finished"):
        raise TrainingError(f"{base.run_dir} is not a finished run: finish it first (train resumes it).")
    seed = base.config["seed"] if seed is None else int(seed)
    out = base.run_dir / "triplet"
    config = {
        **{k: base.config[k] for k in ("model", "recipe", "profile", "crop_frames", "eval_frames",
                                       "input_bins", "store", "store_config", "speakers")},
        "seed": seed,
        "stage": "triplet",
        "base_run": str(base.run_dir),
        "triplet": {"epochs": int(epochs), "margin": float(margin), "speakers_per_batch": int(speakers_per_batch),
                    "utterances_per_speaker": int(utterances_per_speaker),
                    "learning_rate": float(learning_rate)},
    }
    state = {"epochs_done": 0, "best_epoch": 0, "best_dev_eer": None, "stopped_early": False,
             "finished": False, "train_seconds": 0.0, "resumed_from": None, "replicas": 1}
    history: list[dict] = []
    if (out / CONFIG_NAME).is_file():
        diff = _describe_difference(_comparable(json.loads((out / CONFIG_NAME).read_text())), config,
                                    where="run folder")
        if diff:
            raise TrainingError(f"{out} holds a fine-tune with other settings: " + "; ".join(diff[:6])
                                + ". Delete it to fine-tune again.")
        if (out / STATE_NAME).is_file():
            state = json.loads((out / STATE_NAME).read_text())
        if state.get("finished"):
            return load_run(out)
        if state["epochs_done"] > 0:
            if not (out / LAST_NAME).is_file():
                raise CheckpointError(f"{out / STATE_NAME} says {state['epochs_done']} epochs were done but "
                                      f"{out / LAST_NAME} is missing. Delete {out} to fine-tune again.")
            history = pd.read_csv(out / HISTORY_NAME).to_dict("records")[: state["epochs_done"] + 1]
            state["resumed_from"] = state["epochs_done"]
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(out / CONFIG_NAME, json.dumps({**config, "hardware": _hardware()}, indent=2))

    store = load_store(base.config["store"])
    parts = pd.read_csv(base.run_dir / SPLIT_NAME, dtype={"utt_id": str, "speaker": str})
    train_rows = parts[parts["part"] == "train"]
    dev_rows = parts[parts["part"] == "dev"]
    profile = base.config["profile"]
    if profile.get("max_dev_utterances") and len(dev_rows) > profile["max_dev_utterances"]:
        dev_rows = dev_rows.sample(profile["max_dev_utterances"], random_state=seed).sort_index()
    train_data = _load_frames(store, train_rows["utt_id"].tolist())
    dev_data = _load_frames(store, dev_rows["utt_id"].tolist())
    labels = np.array([config["speakers"].index(s) for s in train_rows["speaker"]])
    recipe = config["recipe"]
    evaluate_dev = dict(crop_frames=config["eval_frames"], normalize=recipe["normalize"], seed=seed)

    keras.utils.set_random_seed(seed)
    if state["epochs_done"] > 0:
        model = _load_checkpoint(out / LAST_NAME, f"{config['model']}_embedding")
    else:
        model = load_embedding_model(base.run_dir)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                      loss=BatchHardTripletLoss(margin=margin))
        start = _dev_metrics(model, dev_data, dev_rows["speaker"].to_numpy(), **evaluate_dev)
        history = [{"epoch": 0, "loss": float("nan"), **start}]
        state["best_dev_eer"] = start["dev_eer"]
        _save_model_atomically(model, out / BEST_NAME)

    bar = tqdm(total=epochs, initial=state["epochs_done"], desc=f"{config['model']}/triplet", unit="epoch",
               disable=not progress)
    try:
        for epoch in range(state["epochs_done"], epochs):
            began = time.perf_counter()
            _reseed(model, seed, epoch)
            rng = np.random.default_rng([seed, epoch, 17])
            batches = np.stack(pk_batch_indices(labels, speakers_per_batch=speakers_per_batch,
                                                utterances_per_speaker=utterances_per_speaker, rng=rng))
            ds = _batches_dataset(train_data, labels, batches, crop_frames=config["crop_frames"],
                                  random_crop=recipe["crop"] == "random", normalize=recipe["normalize"],
                                  seed=seed, epoch=epoch)
            logs = model.fit(ds, epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0).history
            row = {"epoch": epoch + 1, "loss": float(logs["loss"][-1])}
            row.update(_dev_metrics(model, dev_data, dev_rows["speaker"].to_numpy(), **evaluate_dev))
            row["seconds"] = time.perf_counter() - began
            history.append(row)
            _save_model_atomically(model, out / LAST_NAME)
            if math.isfinite(row["dev_eer"]) and row["dev_eer"] < state["best_dev_eer"]:
                _save_model_atomically(model, out / BEST_NAME)
                state["best_epoch"], state["best_dev_eer"] = epoch + 1, row["dev_eer"]
            state["epochs_done"] = epoch + 1
            state["train_seconds"] = float(state["train_seconds"]) + row["seconds"]
            frame = pd.DataFrame(history)
            _write_atomically(out / HISTORY_NAME, frame.to_csv(index=False))
            _write_atomically(out / "history.json", frame.to_json(orient="records", indent=1))
            _write_atomically(out / STATE_NAME, json.dumps(state, indent=2))
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3f}", dev_eer=f"{row['dev_eer']:.3f}")
    finally:
        bar.close()
    parts.to_csv(out / SPLIT_NAME, index=False)
    best = _load_checkpoint(out / BEST_NAME, f"{config['model']}_embedding")
    _save_model_atomically(best, out / EMBEDDING_NAME)
    state["finished"] = True
    _write_atomically(out / STATE_NAME, json.dumps(state, indent=2))
    return load_run(out)
