"""The training stages: the classifier (:func:`train`), the large-margin and the triplet fine-tunes.

All run on the one run-folder lifecycle of :mod:`speakerlib.train.run_folder`;
each supplies its model, one epoch of training, and its export. The two that
train a classifier over the training speakers read their batches from
:mod:`speakerlib.train.feeds` (features, or augmented audio).

Honest model selection
----------------------
Three kinds of speakers are kept apart (column ``split`` of the store's
index, or :func:`speakerlib.data.splits.speaker_split` with the run's seed
when the store has none; :func:`training_parts`):

* ``train`` speakers are the classes. A seeded share of each one's
  utterances (``Recipe.val_fraction``, 20 % like the reference) is held out
  as *val*: ``val_loss`` / ``val_accuracy`` are closed-set numbers
  comparable with the reference's curves.
* ``dev`` speakers are never trained on. After every epoch their utterances
  are embedded and scored by the evaluation code (:func:`dev_metrics`):
  ``dev_eer`` chooses the kept checkpoint and drives early stopping. The
  reference chose its checkpoint on the test set; this is the correction.
* ``test`` speakers are not touched here at all.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib._tensorflow import keras
from speakerlib import registry, seeds
from speakerlib.data.splits import CALIBRATION, SPLITS, enrolment_split, speaker_rng, speaker_split
from speakerlib.errors import FeatureError, TrainingError
from speakerlib.evaluation.identification import nearest_centroid
from speakerlib.evaluation.verification import all_pairs_eer
from speakerlib.models.losses import AAMSoftmaxLoss, BatchHardTripletLoss, pk_batch_indices
from speakerlib.store import FeatureStore, load_store
from speakerlib.train.assemble import build_training_model, embedding_submodel
from speakerlib.train.config import RunConfig
from speakerlib.train.recipes import (
    LargeMarginSettings,
    Profile,
    Recipe,
    TripletSettings,
    profile_named,
    recipe_named,
)
from speakerlib.train.feeds import dev_rows, epoch_feed, training_data, val_feed
from speakerlib.train.inputs import Frames, batches_dataset, epoch_batches, fixed_crops, load_frames
from speakerlib.train.run_folder import (
    BEST_NAME,
    SPLIT_NAME,
    Stage,
    TrainResult,
    finished_run,
    load_checkpoint,
    load_embedding_model,
    load_run,
    run_stage,
)

__all__ = ["training_parts", "dev_metrics", "margin_at", "train", "finetune_large_margin", "finetune_triplet"]


def training_parts(index: pd.DataFrame, *, seed: int, val_fraction: float,
                   store: str | Path | None = None) -> pd.DataFrame:
    """Which utterance trains, validates (closed-set), tunes (dev) or is kept for test.

    Parameters
    ----------
    index : DataFrame
        A feature store's index (``utt_id``, ``speaker``, and ``split`` when
        the prepared manifest had one).
    seed : int
        Seeds the speaker split when there is no ``split`` column, and the
        choice of val utterances (per speaker: :func:`speakerlib.data.splits.speaker_rng`).
    val_fraction : float in [0, 1)
        Share of each training speaker's utterances held out as ``val``
        (rounded; at least one when the speaker has 3 or more utterances and
        ``val_fraction > 0``).
    store : path-like, optional
        The feature store the index is of, named in the error of an empty one.

    Returns
    -------
    DataFrame
        ``utt_id``, ``speaker``, ``split``, ``part`` (``train``/``val``/``dev``/``test``, and
        ``calibration`` where the split has that part: those speakers neither train nor tune).

    Raises
    ------
    TrainingError
        An empty index, or fewer than two training speakers.
    """
    if len(index) == 0:
        where = "feature store index" if store is None else f"feature store {store}"
        files = ("the store's index.csv and rejects.csv" if store is None else
                 f"{Path(store) / 'index.csv'}; {Path(store) / 'rejects.csv'} says why each was left out")
        raise TrainingError(
            f"{where}: expected utterances to train on, found an empty index ({files}). Every "
            "utterance was rejected when it was prepared. Run speakerlib prepare on a manifest with "
            "readable audio (speakerlib manifest --skip-unreadable lists what it cannot read).")
    frame = index[["utt_id", "speaker"] + [c for c in ("split", "gender") if c in index]].copy()
    frame["speaker"] = frame["speaker"].astype(str)
    has_split = "split" in frame and frame["split"].notna().all() and \
        frame["split"].isin([*SPLITS, CALIBRATION]).all()
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
        chosen = group.sort_values("utt_id").index[speaker_rng(seed, speaker).choice(n, size=k, replace=False)]
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


def dev_metrics(embedding_model, data: Frames, speakers: np.ndarray, *, crop_frames: int,
                normalize: str, seed: int, callbacks: list | None = None) -> dict:
    """Dev EER and dev SI accuracy of an embedding model, scored by the evaluation code.

    Every dev utterance is embedded from its centre crop of ``crop_frames``;
    ``dev_eer`` is :func:`speakerlib.evaluation.verification.all_pairs_eer`
    (every pair a trial, cosine); ``dev_si_accuracy`` is closed-set
    identification (:func:`speakerlib.evaluation.identification.nearest_centroid`)
    with half of each speaker's utterances enrolled
    (:func:`speakerlib.data.splits.enrolment_split`, ``seed``); speakers with
    one utterance take part in the EER only. ``callbacks`` (Keras callbacks,
    e.g. a progress bar) go to the ``predict`` that embeds the utterances.

    Returns
    -------
    dict
        ``dev_eer`` and ``dev_si_accuracy`` (fractions); NaN when undefined
        (fewer than two dev speakers, no same-speaker pair, nothing to identify).
    """
    nan = {"dev_eer": float("nan"), "dev_si_accuracy": float("nan")}
    if len(data.ids) < 2 or len(np.unique(speakers)) < 2:
        return nan
    emb = embedding_model.predict(fixed_crops(data, None, crop_frames=crop_frames, normalize=normalize,
                                              batch_size=64), verbose=0, callbacks=callbacks)
    table = pd.DataFrame({"utt_id": data.ids, "speaker": np.asarray(speakers, dtype=str)})
    several = table["speaker"].map(table["speaker"].value_counts()) >= 2
    enrol = np.zeros(len(table), dtype=bool)
    if several.any():
        roles = enrolment_split(table[several], seed=seed)["role"]
        enrol[np.flatnonzero(several)] = (roles == "enrol").to_numpy()
    accuracy = float("nan")
    if enrol.any():
        names, tested, similarity = nearest_centroid(emb, table["speaker"].to_numpy(), enrol)
        if tested.any():
            predicted = names[np.argmax(similarity, axis=1)]
            accuracy = float(np.mean(predicted == table["speaker"].to_numpy()[tested]))
    return {"dev_eer": all_pairs_eer(emb, table["speaker"].to_numpy()), "dev_si_accuracy": accuracy}


def margin_at(recipe: Recipe, epoch: int) -> float:
    """The AAM margin of epoch ``epoch`` (0-based): a linear warm-up over ``recipe.margin_warmup_epochs``.

    >>> margin_at(Recipe(name="x", loss="aam", aam_margin=0.2, margin_warmup_epochs=4), 1)
    0.05
    """
    if not recipe.margin_warmup_epochs:
        return recipe.aam_margin
    return recipe.aam_margin * min(1.0, epoch / recipe.margin_warmup_epochs)


def _fit_classifier(model, data, config: RunConfig, *, epoch: int, callbacks: list, crop_frames: int | None = None,
                    margin: float | None = None) -> tuple[dict, int]:
    """One epoch of a classifier stage: its batches from the feeds, its margin set first (AAM)."""
    if margin is not None and isinstance(model.loss, AAMSoftmaxLoss):
        model.loss.margin = margin
    ds, samples = epoch_feed(data, config, epoch=epoch, crop_frames=crop_frames)
    logs = model.fit(ds, validation_data=val_feed(data, config), epochs=epoch + 1, initial_epoch=epoch,
                     shuffle=False, verbose=0, callbacks=callbacks).history
    return {k: float(v[-1]) for k, v in logs.items()}, samples


def _classifier_dev_metrics(model, data, config: RunConfig, callbacks: list) -> dict:
    return dev_metrics(embedding_submodel(model, config.model), data.dev, data.dev_speakers,
                       crop_frames=config.eval_frames, normalize=config.normalize, seed=config.seed,
                       callbacks=callbacks)


def _check_dev_speakers(parts: pd.DataFrame, run_dir: Path, store) -> None:
    """Refuse a dev part of one speaker (its dev EER is undefined); warn about none."""
    dev = sorted(parts.loc[parts["part"] == "dev", "speaker"].unique())
    fix = ("Re-split the manifest with more dev speakers (speakerlib split --fractions TRAIN DEV TEST, e.g. "
           "0.6 0.2 0.2) and prepare it into a new store, or give its split column at least 2 dev speakers.")
    if len(dev) == 1:
        raise TrainingError(
            f"run {run_dir}: expected at least 2 dev speakers, found 1 ({dev[0]}) in the split of the store "
            f"{store.path}. The dev EER that chooses the kept epoch compares utterances of different dev "
            f"speakers, so with one it is undefined. {fix}")
    if not dev:
        warnings.warn(
            f"run {run_dir}: the split of the store {store.path} has no dev speakers, so the dev EER is "
            "undefined (null in state.json), the last epoch is the kept one and early stopping is off. "
            + fix, stacklevel=3)


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
    noise_dir: str | Path | None = None,
    rir_dir: str | Path | None = None,
) -> TrainResult:
    """Train one model on a feature store; resume if the run folder holds an unfinished run.

    A Dense (``softmax`` loss) or cosine (``aam`` loss) classifier over the
    training speakers is put on top of the embedding model
    (:func:`speakerlib.train.assemble.build_training_model`) and trained on
    crops of their utterances; the embedding model of the epoch with the
    lowest dev EER is exported (:mod:`speakerlib.train.run_folder`).

    Parameters
    ----------
    store : str, Path or FeatureStore
        A feature store (:func:`speakerlib.prepare.prepare`).
    run_dir : str or Path
        The run folder (created; see :mod:`speakerlib.train.run_folder` for its contents).
    model : str
        One of :data:`speakerlib.registry.MODELS`.
    recipe : str or Recipe
        ``"reference"``, ``"improved"`` (:data:`~speakerlib.train.config.RECIPES`) or a :class:`Recipe`.
    profile : str or Profile
        ``"smoke"``, ``"cpu"``, ``"gpu"`` (:data:`~speakerlib.train.config.PROFILES`) or a :class:`Profile`.
    seed : int
        Seeds the weights, the split (when the store has none), the val
        utterances, the batches and the crops.
    epochs : int, optional
        Overrides the profile's maximum number of epochs.
    progress : bool
        A progress bar over epochs with the latest metrics.
    deterministic : bool
        Enable TensorFlow's op determinism (same seed, same weights on CPU).
    noise_dir, rir_dir : str or Path, optional
        A MUSAN folder and an OpenSLR 28 (RIRS_NOISES) folder for a recipe with
        waveform augmentation; without them it adds generated noise and babble,
        and reverberates with simulated rooms.

    Returns
    -------
    TrainResult
        With ``already_finished`` set when the run folder held the finished run already: then
        nothing is loaded or trained, and the call returns at once.

    Warns
    -----
    UserWarning
        When it resumes an unfinished run (``resuming run RUN from epoch k of N``), and when
        the split has no dev speakers (the last epoch is then the kept one).

    Raises
    ------
    TrainingError
        An empty store (its path, and where its rejects are listed); too few training speakers;
        exactly one dev speaker (the dev EER is undefined); a run folder made with another
        configuration; ``TF_CONFIG`` set; a recipe with waveform augmentation on a store of features.
    CheckpointError
        A resume whose checkpoint is missing, corrupted or from another model.
    FeatureError
        NaN or infinite features, or features whose number of bins differs
        from a resumed run's.
    UnknownNameError
        (a KeyError) Unknown model, recipe or profile name (the message lists valid ones).
    """
    registry.check_name("model", model, registry.MODELS)
    recipe, profile = recipe_named(recipe), profile_named(profile)
    if epochs is not None:
        profile = dataclasses.replace(profile, epochs=int(epochs))
    store = store if isinstance(store, FeatureStore) else load_store(store)
    run_dir = Path(run_dir).expanduser().absolute()
    parts = training_parts(store.index, seed=seed, val_fraction=recipe.val_fraction, store=store.path)
    speakers = sorted(parts.loc[parts["part"] == "train", "speaker"].unique())
    config = RunConfig.for_store(store, model=model, recipe=recipe, profile=profile, seed=seed,
                                 speakers=speakers, noise_dir=noise_dir, rir_dir=rir_dir)
    done = finished_run(run_dir, config)  # before loading the data: a finished run returns at once
    if done is not None:
        return done
    _check_dev_speakers(parts, run_dir, store)
    data = training_data(store, parts, config)
    steps = len(epoch_batches(len(data.train), config.batch_size, seed, 0))

    def check_bins(training_model, path: Path) -> None:
        if training_model.input_shape[2] != config.input_bins:
            raise FeatureError(f"checkpoint {path} expects {training_model.input_shape[2]} bins, "
                               f"the store {store.path} has {config.input_bins}.")

    stage = Stage(
        name=f"{model}/{recipe.name}", epochs=profile.epochs, patience=profile.patience,
        build=lambda: build_training_model(config, config.num_classes, steps),
        fit_epoch=lambda m, epoch, callbacks: _fit_classifier(
            m, data, config, epoch=epoch, callbacks=callbacks,
            margin=margin_at(recipe, epoch) if recipe.loss == "aam" else None),
        dev_metrics=lambda m, callbacks: _classifier_dev_metrics(m, data, config, callbacks),
        export=lambda m: embedding_submodel(m, model),
        postfix=("loss", "accuracy", "dev_eer"),
    )
    return run_stage(run_dir, config, stage, parts=parts, progress=progress, deterministic=deterministic,
                     check_model=check_bins)


def finetune_large_margin(run_dir: str | Path, *, settings: LargeMarginSettings | None = None,
                          progress: bool = True) -> TrainResult:
    """The large-margin fine-tune of a finished run: longer crops, a larger margin, a low learning rate.

    The kept (best dev EER) training model of ``run_dir``, classifier
    included, is trained further on the same speakers and batches as its run
    (:mod:`speakerlib.train.feeds`), with crops of ``settings.crop_frames``,
    the AAM softmax margin ``settings.margin`` and Adam at
    ``settings.learning_rate``. Epoch 0, the starting point, counts: the
    fine-tune only replaces it when it does better on the dev speakers.

    The result is a run folder of its own, ``run_dir/large_margin``, with the
    same files as a training run; it resumes after an interruption.

    Parameters
    ----------
    run_dir : str or Path
        A finished :func:`train` run whose recipe has ``loss="aam"``.
    settings : LargeMarginSettings, optional
        Default: the run's recipe's ``large_margin``, else :class:`LargeMarginSettings`'s defaults.
    progress : bool

    Raises
    ------
    TrainingError
        If the run is not finished or was trained with another loss than AAM softmax, or
        the folder holds a fine-tune made with other settings.
    """
    base = load_run(run_dir)
    if not base.state.get("finished"):
        raise TrainingError(f"{base.run_dir} is not a finished run: finish it first (train resumes it).")
    if base.config.recipe.loss != "aam":
        raise TrainingError(
            f"{base.run_dir} was trained with loss={base.config.recipe.loss!r}; the large-margin fine-tune "
            "needs a cosine classifier: train with a recipe whose loss is 'aam' (improved, modern).")
    settings = settings or base.config.recipe.large_margin or LargeMarginSettings()
    config = dataclasses.replace(base.config, stage="large_margin", base_run=str(base.run_dir),
                                 profile=dataclasses.replace(base.config.profile, epochs=settings.epochs),
                                 recipe=dataclasses.replace(base.config.recipe, large_margin=settings))
    done = finished_run(base.run_dir / "large_margin", config)
    if done is not None:
        return done
    store = load_store(config.store)
    parts = pd.read_csv(base.run_dir / SPLIT_NAME, dtype={"utt_id": str, "speaker": str})
    data = training_data(store, parts, config)

    def build():
        # the weights only: a fresh optimizer and the large-margin loss
        model = load_checkpoint(base.run_dir / BEST_NAME, config.training_model_name, compile=False)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
                      loss=AAMSoftmaxLoss(margin=settings.margin, scale=config.recipe.aam_scale),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        return model

    stage = Stage(
        name=f"{config.model}/large margin", epochs=settings.epochs, patience=None, build=build,
        fit_epoch=lambda m, epoch, callbacks: _fit_classifier(m, data, config, epoch=epoch, callbacks=callbacks,
                                                              crop_frames=settings.crop_frames),
        dev_metrics=lambda m, callbacks: _classifier_dev_metrics(m, data, config, callbacks),
        export=lambda m: embedding_submodel(m, config.model), scores_start=True,
        postfix=("loss", "accuracy", "dev_eer"),
    )
    return run_stage(base.run_dir / "large_margin", config, stage, parts=parts, progress=progress)


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
    :class:`speakerlib.models.losses.BatchHardTripletLoss` (every anchor-positive
    pair in a batch against the anchor's hardest negative) on batches of
    ``speakers_per_batch`` training speakers x ``utterances_per_speaker``
    utterances (:func:`speakerlib.models.losses.pk_batch_indices`), with Adam.
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
    base = load_run(run_dir)
    if not base.state.get("finished"):
        raise TrainingError(f"{base.run_dir} is not a finished run: finish it first (train resumes it).")
    settings = TripletSettings(epochs=int(epochs), margin=float(margin),
                               speakers_per_batch=int(speakers_per_batch),
                               utterances_per_speaker=int(utterances_per_speaker),
                               learning_rate=float(learning_rate))
    seed = base.config.seed if seed is None else int(seed)
    config = dataclasses.replace(base.config, seed=seed, stage="triplet", base_run=str(base.run_dir),
                                 triplet=settings)
    done = finished_run(base.run_dir / "triplet", config)
    if done is not None:
        return done
    store = load_store(config.store)
    parts = pd.read_csv(base.run_dir / SPLIT_NAME, dtype={"utt_id": str, "speaker": str})
    train_rows = parts[parts["part"] == "train"]
    dev = dev_rows(parts, config)
    train_data = load_frames(store, train_rows["utt_id"].tolist())
    dev_data = load_frames(store, dev["utt_id"].tolist())
    labels = np.array([config.speakers.index(s) for s in train_rows["speaker"]])

    def build():
        model = load_embedding_model(base.run_dir)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
                      loss=BatchHardTripletLoss(margin=settings.margin))
        return model

    def fit_epoch(model, epoch: int, callbacks: list) -> tuple[dict, int]:
        batches = np.stack(pk_batch_indices(labels, speakers_per_batch=settings.speakers_per_batch,
                                            utterances_per_speaker=settings.utterances_per_speaker,
                                            rng=seeds.rng(seed, "triplet.batches", epoch)))
        ds = batches_dataset(train_data, labels, batches, crop_frames=config.crop_frames,
                             random_crop=config.recipe.crop == "random", normalize=config.normalize,
                             seed=seed, epoch=epoch)
        logs = model.fit(ds, epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0,
                         callbacks=callbacks).history
        return {"loss": float(logs["loss"][-1])}, int(batches.size)

    stage = Stage(
        name=f"{config.model}/triplet", epochs=settings.epochs, patience=None, build=build,
        fit_epoch=fit_epoch,
        dev_metrics=lambda m, callbacks: dev_metrics(m, dev_data, dev["speaker"].to_numpy(),
                                                     crop_frames=config.eval_frames, normalize=config.normalize,
                                                     seed=seed, callbacks=callbacks),
        export=lambda m: m, scores_start=True,
    )
    return run_stage(base.run_dir / "triplet", config, stage, parts=parts, progress=progress)
