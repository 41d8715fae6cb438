"""How a model is trained (:class:`Recipe`) and how much (:class:`Profile`), by name or as objects.

A recipe and a profile are chosen by name (:data:`RECIPES`, :data:`PROFILES`;
the names are listed in :mod:`speakerlib.registry`) or given as objects. A
recipe's later stages have settings of their own (:class:`LargeMarginSettings`,
:class:`TripletSettings`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from speakerlib import registry
from speakerlib.augmentation import AugmentationConfig
from speakerlib.errors import ConfigError, ConfigTypeError
from speakerlib.features import FeatureConfig
from speakerlib.store import PrepareConfig
from speakerlib.vad import VadConfig

__all__ = [
    "Recipe",
    "Profile",
    "RECIPES",
    "PROFILES",
    "recipe_named",
    "profile_named",
    "LargeMarginSettings",
    "TripletSettings",
    "DEFAULT_EVAL_FRAMES",
    "AUDIO_STORE",
]

#: Frames of the evaluation crop of a variable-length store, at least: 3 s at a 10 ms hop.
DEFAULT_EVAL_FRAMES = 300

#: The store a recipe with ``input="audio"`` trains from: each utterance's audio after VAD
#: (trimmed to its voiced frames), whole, with 80-band log-mel features computed on the fly.
AUDIO_STORE = PrepareConfig(vad=VadConfig(), length_s=None, content="audio",
                            features=FeatureConfig.for_kind("logmel", n_mels=80))


@dataclass(frozen=True)
class LargeMarginSettings:
    """A recipe's last stage: large-margin fine-tuning (Thienpondt et al. 2021; WeSpeaker's ``lm`` stage).

    After the main training, the kept model goes on training for a few epochs
    on longer crops with a larger angular margin and a low learning rate, so
    that the classifier's margin matches the longer test utterances
    (:func:`speakerlib.train.finetune_large_margin`).

    Attributes
    ----------
    epochs : int >= 1
    crop_frames : int >= 1 [frames]
        Crop length (longer than the main stage's).
    margin : float in [0, pi/2] [radians]
        The AAM softmax margin (larger than the main stage's).
    learning_rate : float > 0
        Adam's learning rate, constant.
    """

    epochs: int = 2
    crop_frames: int = 400
    margin: float = 0.5
    learning_rate: float = 1e-4

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.crop_frames < 1:
            raise ConfigError(f"LargeMarginSettings: expected epochs and crop_frames >= 1, got {self.epochs} "
                              f"and {self.crop_frames}")
        if not 0 <= self.margin <= 1.5707963267948966:
            raise ConfigError(f"LargeMarginSettings.margin: expected an angle in [0, pi/2] radians, got "
                              f"{self.margin}")
        if not self.learning_rate > 0:
            raise ConfigError(f"LargeMarginSettings.learning_rate: expected > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained (independent of how long).

    Attributes
    ----------
    name : str
    loss : {"softmax", "aam"}
        ``softmax``: a Dense layer over the training speakers and softmax
        cross-entropy (the reference). ``aam``: a cosine classifier and
        additive angular margin softmax (:class:`speakerlib.models.losses.AAMSoftmaxLoss`).
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
        Crop length; None: the store's fixed length (or
        :data:`DEFAULT_EVAL_FRAMES`, 3 s at a 10 ms hop, for a variable-length store).
    normalize : {"per_frame", "per_utterance", "none"} or None
        Feature normalisation of each crop (:func:`speakerlib.features.tf_features.normalize_tf`).
        None: the store's own (``features.normalize`` of its
        :class:`~speakerlib.store.PrepareConfig`, which follows the feature
        kind). The run records the value it used (:attr:`RunConfig.normalize`).
    spec_augment : bool
        Random time and frequency masks during training (:class:`speakerlib.models.augment.SpecAugment`).
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
    input : {"features", "audio"}
        What the recipe trains from: the stored features (the reference's 3-s
        features: :class:`~speakerlib.store.PrepareConfig` by default), or whole
        utterances of audio (:data:`AUDIO_STORE`); :meth:`store_config` says which.
    augmentation : AugmentationConfig or None
        Waveform augmentation of every training crop (noise, babble,
        reverberation: :func:`speakerlib.augmentation.augment`) and the speed
        perturbation of the training utterances (its ``speed_factors``; every
        speed other than 1 adds its own speaker classes). Needs a store of audio
        (``PrepareConfig(content="audio")``). None: none.
    simulated_rirs : int >= 0
        Rooms simulated for the reverberation when no RIR folder is given to
        :func:`speakerlib.train.train` (generated once per seed and cached).
    margin_warmup_epochs : int >= 0
        With ``loss="aam"``: the margin rises linearly from 0 to ``aam_margin``
        over these first epochs (WeSpeaker's schedule), then stays.
    large_margin : LargeMarginSettings or None
        A last stage after the main one (``loss="aam"`` only).
    spec_augment_off_for : tuple of str
        Models that train without SpecAugment under this recipe (the recipe
        adapted to a family where it was measured to hurt): :meth:`for_model`
        applies it, and the run records the adapted recipe.

    Raises
    ------
    ConfigError
        (a ValueError) if a field is out of range; the message names it.
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
    normalize: str | None = None
    spec_augment: bool = False
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    weight_decay: float = 1e-5
    pooling: str | None = None
    val_fraction: float = 0.2
    input: str = "features"
    augmentation: AugmentationConfig | None = None
    simulated_rirs: int = 0
    margin_warmup_epochs: int = 0
    large_margin: LargeMarginSettings | None = None
    spec_augment_off_for: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec_augment_off_for", tuple(str(m) for m in self.spec_augment_off_for))
        choices = {
            "loss": ("softmax", "aam"),
            "optimizer": ("sgd", "adam"),
            "schedule": ("constant", "warmup_cosine"),
            "crop": ("fixed", "random"),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ConfigError(f"Recipe.{name}: expected one of {valid}, got {getattr(self, name)!r}")
        if self.normalize is not None and self.normalize not in registry.NORMALIZE_MODES:
            raise ConfigError(f"Recipe.normalize: expected one of {registry.NORMALIZE_MODES} or None, "
                              f"got {self.normalize!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"Recipe.learning_rate: expected > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"Recipe.momentum: expected in [0, 1), got {self.momentum}")
        if self.batch_size < 2:
            raise ConfigError(f"Recipe.batch_size: expected >= 2, got {self.batch_size}")
        if self.crop_frames is not None and self.crop_frames < 1:
            raise ConfigError(f"Recipe.crop_frames: expected >= 1 or None, got {self.crop_frames}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"Recipe.val_fraction: expected in [0, 1), got {self.val_fraction}")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.aam_margin < 0 or self.aam_scale <= 0:
            raise ConfigError(f"Recipe {self.name!r}: warmup_epochs, weight_decay and aam_margin must be "
                              ">= 0 and aam_scale > 0")
        for name, kind in (("augmentation", AugmentationConfig), ("large_margin", LargeMarginSettings)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise ConfigTypeError(f"Recipe.{name}: expected a {kind.__name__} or None, got "
                                      f"{type(value).__name__}")
        if self.input not in ("features", "audio"):
            raise ConfigError(f"Recipe.input: expected 'features' or 'audio', got {self.input!r}")
        if self.augmentation is not None and self.input != "audio":
            raise ConfigError(f"Recipe {self.name!r}: waveform augmentation needs input='audio'")
        if self.simulated_rirs < 0 or self.margin_warmup_epochs < 0:
            raise ConfigError(f"Recipe {self.name!r}: simulated_rirs and margin_warmup_epochs must be >= 0")
        if self.loss != "aam" and (self.margin_warmup_epochs or self.large_margin is not None):
            raise ConfigError(f"Recipe {self.name!r}: margin_warmup_epochs and large_margin need loss='aam', "
                              f"got loss={self.loss!r}")

    def for_model(self, model: str) -> Recipe:
        """This recipe as ``model`` trains with it: SpecAugment off for the models of :attr:`spec_augment_off_for`,
        and that list emptied (a run records the settings that apply to it).

        >>> RECIPES["modern_noaug"].for_model("resnet34").spec_augment
        False
        >>> RECIPES["modern_noaug"].for_model("seresnet").spec_augment
        True
        """
        # the run records only what applies to its model: the adapted settings, not the list
        return dataclasses.replace(self, spec_augment=self.spec_augment and model not in self.spec_augment_off_for,
                                   spec_augment_off_for=())

    def store_config(self) -> PrepareConfig:
        """The store this recipe trains from: the reference's 3-s features, or :data:`AUDIO_STORE`."""
        return AUDIO_STORE if self.input == "audio" else PrepareConfig()

    @property
    def speed_factors(self) -> tuple[float, ...]:
        """The speeds other than 1 that add speaker classes (from :attr:`augmentation`)."""
        if self.augmentation is None:
            return ()
        return tuple(f for f in self.augmentation.speed_factors if f != 1.0)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (nested settings as dicts)."""
        record = dataclasses.asdict(self)
        record["augmentation"] = None if self.augmentation is None else self.augmentation.to_dict()
        if self.spec_augment_off_for:  # as JSON reads it back; left out when empty (what a run records)
            record["spec_augment_off_for"] = list(self.spec_augment_off_for)
        else:
            del record["spec_augment_off_for"]
        return record

    @classmethod
    def from_dict(cls, record: dict) -> Recipe:
        """Inverse of :meth:`to_dict`."""
        values = dict(record)
        if values.get("augmentation") is not None:
            values["augmentation"] = AugmentationConfig.from_dict(values["augmentation"])
        if values.get("large_margin") is not None:
            values["large_margin"] = LargeMarginSettings(**values["large_margin"])
        return cls(**values)


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

    Raises
    ------
    ConfigError
        (a ValueError) if a field is out of range; the message names it.
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
        object.__setattr__(self, "widths", tuple((str(m), float(w)) for m, w in self.widths))
        if self.epochs < 1:
            raise ConfigError(f"Profile.epochs: expected >= 1, got {self.epochs}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"Profile.patience: expected >= 1 or None, got {self.patience}")
        if not 0 < self.bn_momentum < 1:
            raise ConfigError(f"Profile.bn_momentum: expected in (0, 1), got {self.bn_momentum}")
        if not self.width > 0 or any(w <= 0 for _, w in self.widths):
            raise ConfigError(f"Profile {self.name!r}: widths must be > 0")

    def width_for(self, model: str) -> float:
        """The channel multiplier this profile uses for ``model``."""
        return dict(self.widths).get(model, self.width)


RECIPES: dict[str, Recipe] = {
    # The seed's training: softmax over the training speakers, SGD 0.01 with
    # momentum 0.9, batch 32, the one stored 3-s crop, per-frame normalisation
    # (the seed's loader z-normalises every frame, whatever the features).
    "reference": Recipe(name="reference", normalize="per_frame"),
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
    # What today's toolkits share (WeSpeaker, SpeechBrain, 3D-Speaker), scaled to small data and two
    # cores: fresh random 2-s windows of whole VAD-trimmed utterances every epoch, 80-band log-mel
    # computed on the fly, noise, babble and reverberation added to the waveform, AAM softmax whose
    # margin is warmed up, then a large-margin fine-tune on longer crops. Measured on speechocean762's
    # dev speakers (SE-ResNet, cpu profile, benchmarks/ablation.py): whole utterances alone take the
    # improved recipe from 0.089 to 0.074 dev EER; per-utterance normalisation and dropping SpecAugment
    # (0.096 together) did worse, so both stay as in the improved recipe. Speed perturbation (each speed
    # its own speakers) triples an epoch; it is a switch (AugmentationConfig.speed_factors), off here.
    "modern": Recipe(
        name="modern", loss="aam", optimizer="adam", learning_rate=2e-3, schedule="warmup_cosine",
        warmup_epochs=2, crop="random", crop_frames=200, normalize="per_frame", spec_augment=True,
        pooling="stats", aam_margin=0.2, aam_scale=32.0, input="audio",
        augmentation=AugmentationConfig(noise_probability=0.5, noise_sources=("coloured",),
                                        babble_probability=0.3, reverb_probability=0.5,
                                        speed_factors=(1.0,)),
        simulated_rirs=200, margin_warmup_epochs=3,
        large_margin=LargeMarginSettings(epochs=2, crop_frames=400, margin=0.4, learning_rate=1e-4),
    ),
}
# The modern recipe without waveform augmentation. On a hundred speakers and a CPU's budget of epochs,
# the added noise, babble and reverberation cost more than they protect (SE-ResNet, speechocean762's
# dev speakers, cpu profile: dev EER 0.101 with them, 0.073 without; benchmarks/ablation.py), so this
# is the course's best recipe on its small corpora; augmentation pays on large corpora and long runs.
# Adapted per family: SpecAugment hurts the ResNets and ECAPA-TDNN in eight epochs (the improved recipe's
# ablation on ResNet-34; and here, speechocean762's dev speakers, cpu profile, benchmarks/ablation.py
# --recipe modern_noaug: dev EER with it and without, ResNet-34 0.165 and 0.146, ResNet-50 0.243 and
# 0.212, ECAPA-TDNN 0.085 and 0.066), so they train without it; SE-ResNet (the pretrained encoder's
# recipe) and DeepSpeaker keep it.
RECIPES["modern_noaug"] = dataclasses.replace(RECIPES["modern"], name="modern_noaug", augmentation=None,
                                              simulated_rirs=0, spec_augment_off_for=("resnet34", "resnet50", "ecapa"))

PROFILES: dict[str, Profile] = {
    # Seconds: for tests. Tiny widths, two epochs.
    "smoke": Profile(name="smoke", epochs=2, width=0.125, batch_size=16, max_dev_utterances=64,
                     bn_momentum=0.5),
    # The book's default on a 2-core CPU: minutes per model on the synthetic corpus. ECAPA-TDNN at
    # C=128 trains at about the speed of the SE-ResNet at half width here. Its 8 epochs always run
    # (the best on dev is still the one kept): in the first epochs of so short a run the dev EER
    # is noisy, and a patience of 4 stopped runs whose loss was still falling fast (ResNet-50 on
    # the synthetic corpus, seed 3: best dev EER 0.42 at epoch 1, stopped at epoch 5 with the loss
    # down from 8.2 to 3.8; seeds 0-2 went on to 0.31-0.34 at epoch 8).
    "cpu": Profile(name="cpu", epochs=8, width=0.5, widths=(("deepspeaker", 0.25), ("ecapa", 0.125)),
                   max_dev_utterances=400, bn_momentum=0.9),
    # The best model two laptop cores train in about an hour on a corpus of a hundred speakers: the
    # SE-ResNet and the ResNets at full width, 20 epochs.
    "laptop": Profile(name="laptop", epochs=20, patience=6, width=1.0,
                      widths=(("deepspeaker", 0.5), ("ecapa", 0.25)), max_dev_utterances=400,
                      bn_momentum=0.95),
    # Paper scale: the reference's epoch budget with early stopping on dev.
    "gpu": Profile(name="gpu", epochs=300, patience=20, width=1.0, mixed_precision=True),
}

assert tuple(RECIPES) == registry.RECIPES and tuple(PROFILES) == registry.PROFILES


def recipe_named(recipe: str | Recipe) -> Recipe:
    """``recipe`` itself, or the registered recipe of that name.

    Raises
    ------
    UnknownNameError
        (a KeyError) for a name that is not registered; the message lists the valid ones.
    """
    if isinstance(recipe, Recipe):
        return recipe
    return RECIPES[registry.check_name("recipe", recipe, registry.RECIPES)]


def profile_named(profile: str | Profile) -> Profile:
    """``profile`` itself, or the registered profile of that name.

    Raises
    ------
    UnknownNameError
        (a KeyError) for a name that is not registered; the message lists the valid ones.
    """
    if isinstance(profile, Profile):
        return profile
    return PROFILES[registry.check_name("profile", profile, registry.PROFILES)]


@dataclass(frozen=True)
class TripletSettings:
    """DeepSpeaker's second stage (:func:`speakerlib.train.finetune_triplet`): its own settings.

    Attributes
    ----------
    epochs : int >= 1
    margin : float >= 0
        The cosine margin of :class:`speakerlib.models.losses.BatchHardTripletLoss`.
    speakers_per_batch, utterances_per_speaker : int >= 2
        P and K of the batches (:func:`speakerlib.models.losses.pk_batch_indices`).
    learning_rate : float > 0
        Adam's learning rate.
    """

    epochs: int = 5
    margin: float = 0.1
    speakers_per_batch: int = 8
    utterances_per_speaker: int = 4
    learning_rate: float = 1e-4

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"TripletSettings.epochs: expected >= 1, got {self.epochs}")
        if not self.margin >= 0:
            raise ConfigError(f"TripletSettings.margin: expected >= 0, got {self.margin}")
        if self.speakers_per_batch < 2 or self.utterances_per_speaker < 2:
            raise ConfigError(
                f"TripletSettings: expected speakers_per_batch and utterances_per_speaker >= 2, got "
                f"{self.speakers_per_batch} and {self.utterances_per_speaker}")
        if not self.learning_rate > 0:
            raise ConfigError(f"TripletSettings.learning_rate: expected > 0, got {self.learning_rate}")
