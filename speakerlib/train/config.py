"""A run's whole setting, as its ``config.json`` holds it: :class:`RunConfig`.

:class:`RunConfig` is everything a run folder's ``config.json`` holds, typed:
the model, the recipe and profile (:mod:`speakerlib.train.recipes`), the seed,
the store and its preparation settings, the training speakers in label order,
and the values that follow from them once (the batch size, the crop and
evaluation lengths, the normalisation). It is written once when a run starts
and read back by everything that uses the run (resume, embedding, fine-tuning).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from speakerlib import __version__, registry
from speakerlib._io import json_text, write_text
from speakerlib.errors import ConfigError, TrainingError
from speakerlib.store import PrepareConfig
from speakerlib.train.recipes import (
    DEFAULT_EVAL_FRAMES,
    Profile,
    Recipe,
    TripletSettings,
)

__all__ = ["RunConfig", "CONFIG_NAME", "STAGES", "samples_for_frames"]

#: A run folder's configuration file.
CONFIG_NAME = "config.json"

#: The training stages a run folder can hold.
STAGES = ("softmax", "triplet", "large_margin")

#: The keys of ``config.json`` that describe where and when a run was made, not what it is.
_PROVENANCE = ("created", "speakerlib_version", "hardware")


def samples_for_frames(features, frames: int) -> int:
    """The fewest samples whose features (a :class:`~speakerlib.features.FeatureConfig`) have ``frames`` frames.

    >>> from speakerlib.features import FeatureConfig
    >>> samples_for_frames(FeatureConfig.for_kind("logmel"), 200)
    31840
    """
    n = max(features.win_samples, (frames - 1) * features.hop_samples)
    while features.output_shape(n)[0] < frames:
        n += 1
    while n > features.win_samples and features.output_shape(n - 1)[0] >= frames:
        n -= 1
    return int(n)


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
    stage : {"softmax", "triplet", "large_margin"}
        Which training stage made the run.
    base_run : str or None
        The run a later stage started from.
    triplet : TripletSettings or None
        The triplet stage's settings.
    crop_samples : int or None [samples]
        The training windows' length, for a store of audio (the fewest
        samples whose features have ``crop_frames`` frames); None for a store
        of features.
    noise_dir, rir_dir : str or None
        The MUSAN and OpenSLR 28 folders the augmentation draws from (None:
        generated noise and simulated rooms only).
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
    crop_samples: int | None = None
    noise_dir: str | None = None
    rir_dir: str | None = None

    def __post_init__(self) -> None:
        registry.check_name("model", self.model, registry.MODELS)
        object.__setattr__(self, "speakers", tuple(str(s) for s in self.speakers))
        if self.stage not in STAGES:
            raise ConfigError(f"RunConfig.stage: expected one of {STAGES}, got {self.stage!r}")
        if self.normalize not in registry.NORMALIZE_MODES:
            raise ConfigError(f"RunConfig.normalize: expected one of {registry.NORMALIZE_MODES}, "
                              f"got {self.normalize!r}")

    @classmethod
    def for_store(cls, store, *, model: str, recipe: Recipe, profile: Profile, seed: int,
                  speakers: list[str], noise_dir: str | None = None, rir_dir: str | None = None) -> RunConfig:
        """The configuration of a new run on ``store``: the one place its derived values are set.

        Parameters
        ----------
        store : FeatureStore
            The training data.
        model, recipe, profile, seed
            As :func:`speakerlib.train.train` takes them (objects, not names).
        speakers : list of str
            The training speakers, sorted.
        noise_dir, rir_dir : str, optional
            Folders of noise and impulse responses for the augmentation.

        Raises
        ------
        TrainingError
            A recipe with waveform augmentation on a store of features.
        """
        recipe = recipe.for_model(model)  # the recipe as this model trains with it (recorded so)
        fixed = store.config.output_shape
        crop_frames = recipe.crop_frames or (fixed[0] if fixed else DEFAULT_EVAL_FRAMES)
        audio = store.config.content == "audio"
        if recipe.input == "audio" and not audio:
            raise TrainingError(
                f"recipe {recipe.name!r} trains on whole utterances of audio, but the store {store.path} holds "
                "features. Prepare a store of audio for it (speakerlib prepare --content audio --features "
                "logmel --mels 80, or PrepareConfig(content='audio')): speakerlib reproduce does."
            )
        return cls(
            model=model, recipe=recipe, profile=profile, seed=int(seed),
            batch_size=int(profile.batch_size or recipe.batch_size),
            crop_frames=int(crop_frames),
            eval_frames=int(fixed[0] if fixed else max(crop_frames, DEFAULT_EVAL_FRAMES)),
            normalize=recipe.normalize or store.config.features.normalize,
            input_bins=int(store.index["num_bins"].iloc[0]),
            store=str(store.path), store_config=store.config, speakers=tuple(speakers),
            crop_samples=samples_for_frames(store.config.features, crop_frames) if audio else None,
            noise_dir=None if noise_dir is None else str(noise_dir),
            rir_dir=None if rir_dir is None else str(rir_dir),
        )

    @property
    def width(self) -> float:
        """The model's channel multiplier under this profile."""
        return self.profile.width_for(self.model)

    @property
    def pooling(self) -> str | None:
        """The model's pooling: DeepSpeaker keeps its own temporal average (the paper's) and ECAPA-TDNN its
        attentive statistics pooling; the others take the recipe's."""
        return None if self.model in ("deepspeaker", "ecapa") else self.recipe.pooling

    @property
    def training_model_name(self) -> str:
        """The name of the model a checkpoint of this run holds."""
        if self.stage == "triplet":
            return f"{self.model}_embedding"
        return f"{self.model}_{self.recipe.name}_training"

    @property
    def num_classes(self) -> int:
        """Classes of the classifier: the training speakers at every speed of the recipe."""
        return len(self.speakers) * (1 + len(self.recipe.speed_factors))

    def to_dict(self) -> dict:
        """The JSON record of ``config.json`` (without the provenance keys written beside it)."""
        return {
            "stage": self.stage,
            "model": self.model,
            "recipe": self.recipe.to_dict(),
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
            "crop_samples": self.crop_samples,
            "noise_dir": self.noise_dir,
            "rir_dir": self.rir_dir,
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
            recipe = Recipe.from_dict(record["recipe"])
            return cls(
                model=record["model"], recipe=recipe, profile=Profile(**record["profile"]),
                seed=int(record["seed"]), batch_size=int(record["batch_size"]),
                crop_frames=int(record["crop_frames"]), eval_frames=int(record["eval_frames"]),
                normalize=record["normalize"], input_bins=int(record["input_bins"]),
                store=str(record["store"]), store_config=store_config, speakers=tuple(record["speakers"]),
                stage=record.get("stage", "softmax"), base_run=record.get("base_run"),
                triplet=None if record.get("triplet") is None else TripletSettings(**record["triplet"]),
                crop_samples=record.get("crop_samples"), noise_dir=record.get("noise_dir"),
                rir_dir=record.get("rir_dir"),
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
        """Write ``config.json`` (atomically) with the provenance keys; return its path.

        Raises
        ------
        ConfigError
            A setting is NaN or infinite (strict JSON has no such number).
        """
        path = Path(run_dir) / CONFIG_NAME
        record = {**self.to_dict(), "speakerlib_version": __version__, "created": created, "hardware": hardware}
        return write_text(path, json_text(record, nulls=False, where=f"the run configuration {path}"))

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
