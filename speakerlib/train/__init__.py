"""Training speaker-embedding networks from a feature store: recipes, profiles, stages, resume.

A *run* trains one model (:mod:`speakerlib.models`) with one *recipe* (how:
loss, optimiser, crops, normalisation, augmentation) at one *profile* (how
much: epochs, width, early stopping) on the training speakers of a feature
store (:func:`speakerlib.prepare.prepare`), and writes everything to a run
folder. The package, in the order a run uses it:

:mod:`~speakerlib.train.recipes`
    :class:`Recipe`, :class:`Profile` and their registered names
    (:data:`RECIPES`, :data:`PROFILES`), and the later stages' settings.
:mod:`~speakerlib.train.config`
    :class:`RunConfig`, a run's whole configuration as its ``config.json`` holds it.
:mod:`~speakerlib.train.inputs`
    The features in memory and the tf.data pipeline of crops.
:mod:`~speakerlib.train.waveforms`
    Whole utterances in memory, augmented random windows, features on the fly.
:mod:`~speakerlib.train.feeds`
    A run's data loaded once, and one epoch of batches, for the classifier stages.
:mod:`~speakerlib.train.assemble`
    Devices, precision, the training model and its random layers.
:mod:`~speakerlib.train.progress`
    What a run shows while it trains: each epoch's steps with the running
    loss, its val and dev scoring phases.
:mod:`~speakerlib.train.run_folder`
    The run folder and the lifecycle every stage shares: resume, state,
    history, checkpoints, the kept epoch, export; :func:`load_run`. A
    finished run is returned at once (``TrainResult.already_finished``).
:mod:`~speakerlib.train.stages`
    :func:`train` (the classifier), :func:`finetune_large_margin` and
    :func:`finetune_triplet` (DeepSpeaker's second stage), all on that
    lifecycle, and the honest train / val / dev / test parts (:func:`training_parts`).
"""

from speakerlib.train.assemble import precision_policy
from speakerlib.train.config import RunConfig
from speakerlib.train.recipes import (
    PROFILES,
    RECIPES,
    LargeMarginSettings,
    Profile,
    Recipe,
    TripletSettings,
    profile_named,
    recipe_named,
)
from speakerlib.train.run_folder import TrainResult, load_embedding_model, load_run, runs_table
from speakerlib.train.stages import (
    dev_metrics,
    finetune_large_margin,
    finetune_triplet,
    margin_at,
    train,
    training_parts,
)

__all__ = [
    "Recipe",
    "Profile",
    "RECIPES",
    "PROFILES",
    "recipe_named",
    "profile_named",
    "RunConfig",
    "TripletSettings",
    "LargeMarginSettings",
    "TrainResult",
    "runs_table",
    "train",
    "finetune_large_margin",
    "finetune_triplet",
    "margin_at",
    "load_run",
    "load_embedding_model",
    "training_parts",
    "dev_metrics",
    "precision_policy",
]
