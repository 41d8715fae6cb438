"""How a model is trained (:class:`Recipe`), how much (:class:`Profile`), and a run's whole setting (:class:`RunConfig`).

A recipe and a profile are chosen by name (:data:`RECIPES`, :data:`PROFILES`;
the names are listed in :mod:`speakerlib.registry`) or given as objects.
:class:`RunConfig` is everything a run folder's ``config.json`` holds, typed:
the model, the recipe and profile, the seed, the store and its preparation
settings, the training speakers in label order, and the values that follow
from them once (the batch size, the crop and evaluation lengths, the
normalisation). It is written once when a run starts and read back by
everything that uses the run (resume, embedding, fine-tuning).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from speakerlib import __version__, registry
from speakerlib._io import write_json
from speakerlib.errors import ConfigError, TrainingError
from speakerlib.store import PrepareConfig

__all__ = [
    "Recipe",
    "Profile",
    "RECIPES",
    "PROFILES",
    "recipe_named",
    "profile_named",
    "TripletSettings",
    "RunConfig",
    "DEFAULT_EVAL_FRAMES",
    "CONFIG_NAME",
]

#: A run folder's configuration file.
CONFIG_NAME = "config.json"

#: Frames of the evaluation crop of a variable-length store, at least: 3 s at a 10 ms hop.
DEFAULT_EVAL_FRAMES = 300

#: The keys of ``config.json`` that describe where and when a run was made, not what it is.
_PROVENANCE = ("created", "speakerlib_version", "hardware")


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

    def __post_init__(self) -> None:
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


@dataclass(frozen=True)
class RunConfig:
    """Everything a run is, as its ``config.json`` holds it.

    Attributes
    ----------
    model : str
        One of :data:`speakerlib.registry.MODELS`.
    recipe : Recipe
    profile : Profile
        With any ``epochs`` override already applied.
    seed : int
        Seeds the weights, the split (when the store has none), the val
        utterances, the batches, the crops and the random layers
        (:mod:`speakerlib.seeds`).
    batch_size : int
        The profile's batch size, else the recipe's.
    crop_frames : int [frames]
        Training crop length.
    eval_frames : int [frames]
        Length of the one centre crop that embeds an utterance for the dev
        metrics and, by default, for :mod:`speakerlib.embed`: the whole
        stored length of a fixed-length store, else the longer of
        ``crop_frames`` and :data:`DEFAULT_EVAL_FRAMES`.
    normalize : str
        The feature normalisation applied to every crop (the recipe's, else the store's).
    input_bins : int
        Feature bins (the model's input width).
    store : str
        The feature store's folder.
    store_config : PrepareConfig
        How the store was made: embedding new audio repeats it.
    speakers : tuple of str
        The training speakers; the class of speaker ``speakers[i]`` is ``i``.
    stage : {"softmax", "triplet"}
        Which training stage made the run.
    base_run : str or None
        The run a later stage started from.
    triplet : TripletSettings or None
        The triplet stage's settings.
    """

    model: str
    recipe: Recipe
    profile: Profile
    seed: int
    batch_size: int
    crop_frames: int
    eval_frames: int
    normalize: str
    input_bins: int
    store: str
    store_config: PrepareConfig
    speakers: tuple[str, ...]
    stage: str = "softmax"
    base_run: str | None = None
    triplet: TripletSettings | None = None

    def __post_init__(self) -> None:
        registry.check_name("model", self.model, registry.MODELS)
        object.__setattr__(self, "speakers", tuple(str(s) for s in self.speakers))
        if self.stage not in ("softmax", "triplet"):
            raise ConfigError(f"RunConfig.stage: expected 'softmax' or 'triplet', got {self.stage!r}")
        if self.normalize not in registry.NORMALIZE_MODES:
            raise ConfigError(f"RunConfig.normalize: expected one of {registry.NORMALIZE_MODES}, "
                              f"got {self.normalize!r}")

    @classmethod
    def for_store(cls, store, *, model: str, recipe: Recipe, profile: Profile, seed: int,
                  speakers: list[str]) -> RunConfig:
        """The configuration of a new run on ``store``: the one place its derived values are set.

        Parameters
        ----------
        store : FeatureStore
            The training data.
        model, recipe, profile, seed
            As :func:`speakerlib.train.train` takes them (objects, not names).
        speakers : list of str
            The training speakers, sorted.
        """
        fixed = store.config.output_shape
        crop_frames = recipe.crop_frames or (fixed[0] if fixed else DEFAULT_EVAL_FRAMES)
        return cls(
            model=model, recipe=recipe, profile=profile, seed=int(seed),
            batch_size=int(profile.batch_size or recipe.batch_size),
            crop_frames=int(crop_frames),
            eval_frames=int(fixed[0] if fixed else max(crop_frames, DEFAULT_EVAL_FRAMES)),
            normalize=recipe.normalize or store.config.features.normalize,
            input_bins=int(store.index["num_bins"].iloc[0]),
            store=str(store.path), store_config=store.config, speakers=tuple(speakers),
        )

    @property
    def width(self) -> float:
        """The model's channel multiplier under this profile."""
        return self.profile.width_for(self.model)

    @property
    def pooling(self) -> str | None:
        """The model's pooling: DeepSpeaker keeps its own temporal average (the paper's), the others take the recipe's."""
        return None if self.model == "deepspeaker" else self.recipe.pooling

    @property
    def training_model_name(self) -> str:
        """The name of the model a checkpoint of this run holds."""
        if self.stage == "triplet":
            return f"{self.model}_embedding"
        return f"{self.model}_{self.recipe.name}_training"

    def to_dict(self) -> dict:
        """The JSON record of ``config.json`` (without the provenance keys written beside it)."""
        return {
            "stage": self.stage,
            "model": self.model,
            "recipe": dataclasses.asdict(self.recipe),
            "profile": {**dataclasses.asdict(self.profile), "widths": [list(w) for w in self.profile.widths]},
            "seed": self.seed,
            "batch_size": self.batch_size,
            "crop_frames": self.crop_frames,
            "eval_frames": self.eval_frames,
            "normalize": self.normalize,
            "input_bins": self.input_bins,
            "store": self.store,
            "store_config": self.store_config.to_dict(),
            "speakers": list(self.speakers),
            "base_run": self.base_run,
            "triplet": None if self.triplet is None else dataclasses.asdict(self.triplet),
        }

    @classmethod
    def from_dict(cls, record: dict) -> RunConfig:
        """Inverse of :meth:`to_dict`; the provenance keys are ignored.

        Raises
        ------
        ConfigError
            If a key is missing or a value invalid.
        """
        try:
            store_config = PrepareConfig.from_dict(record["store_config"])
            recipe = Recipe(**record["recipe"])
            return cls(
                model=record["model"], recipe=recipe, profile=Profile(**record["profile"]),
                seed=int(record["seed"]), batch_size=int(record["batch_size"]),
                crop_frames=int(record["crop_frames"]), eval_frames=int(record["eval_frames"]),
                normalize=record["normalize"], input_bins=int(record["input_bins"]),
                store=str(record["store"]), store_config=store_config, speakers=tuple(record["speakers"]),
                stage=record.get("stage", "softmax"), base_run=record.get("base_run"),
                triplet=None if record.get("triplet") is None else TripletSettings(**record["triplet"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"a run's config.json: expected the keys of speakerlib {__version__}'s RunConfig, could "
                f"not read it ({type(exc).__name__}: {exc}). The run was made by another version: "
                "train it again in a new folder."
            ) from exc

    def comparable(self) -> dict:
        """What must match for a run folder to be resumed with this configuration."""
        return self.to_dict()

    def write(self, run_dir: Path, *, hardware: dict, created: str) -> Path:
        """Write ``config.json`` (atomically) with the provenance keys; return its path."""
        return write_json(Path(run_dir) / CONFIG_NAME, {
            **self.to_dict(), "speakerlib_version": __version__, "created": created, "hardware": hardware})

    @classmethod
    def read(cls, run_dir: str | Path) -> RunConfig:
        """Read a run folder's ``config.json``.

        Raises
        ------
        TrainingError
            If the folder has no ``config.json``.
        ConfigError
            If it cannot be read as a RunConfig.
        """
        path = Path(run_dir) / CONFIG_NAME
        if not path.is_file():
            raise TrainingError(f"{Path(run_dir)} is not a training run: expected {CONFIG_NAME} in it.")
        return cls.from_dict(json.loads(path.read_text()))

    @staticmethod
    def stored_record(run_dir: str | Path) -> dict | None:
        """The comparable part of the ``config.json`` in ``run_dir`` (provenance dropped), or None."""
        path = Path(run_dir) / CONFIG_NAME
        if not path.is_file():
            return None
        return {k: v for k, v in json.loads(path.read_text()).items() if k not in _PROVENANCE}
