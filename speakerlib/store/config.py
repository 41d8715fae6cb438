"""What makes a feature store: :class:`PrepareConfig`, the settings of :func:`speakerlib.prepare.prepare`.

The store's layout and files are described in :mod:`speakerlib.store`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from speakerlib.errors import ConfigError, ConfigTypeError
from speakerlib.features import FeatureConfig
from speakerlib.framing import DEFAULT_LENGTH_S, FIX_LENGTH_MODES
from speakerlib.vad import REFERENCE_VAD_CONFIG, SUPPORTED_SAMPLE_RATES_HZ, VadConfig

__all__ = ["LENGTH_MODES", "CONTENTS", "PrepareConfig"]

#: How :func:`speakerlib.framing.fix_length` lengthens short utterances.
LENGTH_MODES = FIX_LENGTH_MODES
#: What a store keeps of each utterance: its features, or its audio after VAD.
CONTENTS = ("features", "audio")


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of :func:`speakerlib.prepare.prepare`: the reference pipeline by default.

    Attributes
    ----------
    vad : VadConfig or None
        Voice activity detection settings; default
        :data:`speakerlib.vad.REFERENCE_VAD_CONFIG` (the reference's, with its
        segment boundaries). None: no VAD, the whole file is kept.
    length_s : float > 0 [s] or None
        Fixed length after VAD (3 s in the reference, 48 000 samples at
        16 kHz): longer audio is centre-cropped, shorter padded. None keeps
        every utterance's own length (for random crops at training time);
        no consolidated ``features.npy`` is written then.
    length_mode : {"reference", "repeat"}
        How short audio is padded (see :func:`speakerlib.framing.fix_length`):
        zeros at the end (the reference), or the signal repeated.
    features : FeatureConfig
        Feature settings; default ``FeatureConfig()`` (the reference's 40 log
        filterbanks). Its ``sample_rate_hz`` is the pipeline's rate
        (:attr:`sample_rate_hz`). The store always holds un-normalised
        features; ``features.normalize`` is the normalisation loaders apply
        (see :mod:`speakerlib.store`).
    content : {"features", "audio"}
        What the store keeps of each utterance. ``"features"`` (default): the
        features above. ``"audio"``: the audio after VAD, whole (``length_s``
        must be None), for training pipelines that draw new random crops of
        the waveform every epoch, augment them and compute ``features`` on the
        fly; :meth:`speakerlib.store.FeatureStore.features` computes the
        features from it when asked.

    Raises
    ------
    ConfigError
        (a ValueError) If a field is out of range or the fields disagree (the
        message names the field and the value found).
    ConfigTypeError
        (a TypeError) If ``vad`` or ``features`` has the wrong type.

    Notes
    -----
    The sample rate has one home, ``features.sample_rate_hz``;
    :attr:`sample_rate_hz` reads it. :meth:`to_dict` still records it at the
    top level too (as stores have always had it), and :meth:`from_dict`
    accepts that key when it equals the features' rate.

    Examples
    --------
    >>> PrepareConfig().num_samples, PrepareConfig().output_shape
    (48000, (299, 40))
    >>> PrepareConfig(vad=None, length_s=None).output_shape is None
    True
    >>> PrepareConfig(features=FeatureConfig(sample_rate_hz=8000)).sample_rate_hz
    8000
    """

    vad: VadConfig | None = REFERENCE_VAD_CONFIG
    length_s: float | None = DEFAULT_LENGTH_S
    length_mode: str = "reference"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    content: str = "features"

    def __post_init__(self) -> None:
        if not isinstance(self.features, FeatureConfig):
            raise ConfigTypeError(
                f"PrepareConfig.features: expected a FeatureConfig, got "
                f"{type(self.features).__name__}; build one with FeatureConfig.for_kind(kind)"
            )
        if self.vad is not None:
            if not isinstance(self.vad, VadConfig):
                raise ConfigTypeError(
                    f"PrepareConfig.vad: expected a VadConfig or None, got {type(self.vad).__name__}"
                )
            if self.sample_rate_hz not in SUPPORTED_SAMPLE_RATES_HZ:
                raise ConfigError(
                    f"PrepareConfig.features.sample_rate_hz: webrtcvad needs one of "
                    f"{SUPPORTED_SAMPLE_RATES_HZ} Hz, got {self.sample_rate_hz}; make the features "
                    "at one of them (FeatureConfig.for_kind(kind, sample_rate_hz=...)) or set "
                    "vad=None"
                )
        if self.content not in CONTENTS:
            raise ConfigError(f"PrepareConfig.content: expected one of {CONTENTS}, got {self.content!r}")
        if self.content == "audio" and self.length_s is not None:
            raise ConfigError(
                f"PrepareConfig: content='audio' keeps every utterance whole, but length_s is "
                f"{self.length_s} s; set length_s=None (crops are drawn at training time)"
            )
        if self.length_mode not in LENGTH_MODES:
            raise ConfigError(
                f"PrepareConfig.length_mode: expected one of {LENGTH_MODES}, got {self.length_mode!r}"
            )
        if self.length_s is not None:
            value = self.length_s
            if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(
                    f"PrepareConfig.length_s: expected a positive duration [s] or None, got {value!r}"
                )
            object.__setattr__(self, "length_s", float(value))
            if self.num_samples < self.features.win_samples:
                raise ConfigError(
                    f"PrepareConfig.length_s: expected at least one feature window "
                    f"({self.features.win_s} s), got {self.length_s} s"
                )

    @property
    def sample_rate_hz(self) -> int:
        """Rate every file is read at [Hz]: ``features.sample_rate_hz`` (read-only).

        Files at other rates are resampled and the fact recorded. With VAD, one
        of 8000, 16000, 32000, 48000.
        """
        return int(self.features.sample_rate_hz)

    @property
    def num_samples(self) -> int | None:
        """The fixed length [samples]: ``round(length_s * sample_rate_hz)``; None if variable."""
        if self.length_s is None:
            return None
        return int(round(self.length_s * self.sample_rate_hz))

    @property
    def output_shape(self) -> tuple[int, int] | None:
        """``(frames, bins)`` of every utterance with a fixed length; None if variable."""
        if self.num_samples is None:
            return None
        return self.features.output_shape(self.num_samples)

    @property
    def stored_features(self) -> FeatureConfig:
        """The feature config actually computed: ``features`` with ``normalize="none"``."""
        return dataclasses.replace(self.features, normalize="none")

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (``vad`` and ``features`` as dicts).

        ``sample_rate_hz`` is included first (equal to ``features.sample_rate_hz``),
        so the record is the one stores have always held.
        """
        record = {
            "sample_rate_hz": self.sample_rate_hz,
            "vad": None if self.vad is None else self.vad.to_dict(),
            "length_s": self.length_s,
            "length_mode": self.length_mode,
            "features": self.features.to_dict(),
        }
        if self.content != "features":  # a features store's record is the one stores have always held
            record["content"] = self.content
        return record

    @classmethod
    def from_dict(cls, values: dict) -> PrepareConfig:
        """Inverse of :meth:`to_dict`.

        A top-level ``sample_rate_hz`` (which :meth:`to_dict` writes, and every
        store's ``config.json`` holds) is accepted when it equals the
        features' rate (``features.sample_rate_hz``, 16 000 Hz when
        ``features`` is absent).

        Raises
        ------
        ConfigError
            (a ValueError) If a key is unknown, a value invalid, or
            ``sample_rate_hz`` differs from ``features.sample_rate_hz``.
        """
        known = {f.name for f in dataclasses.fields(cls)} | {"sample_rate_hz"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"PrepareConfig.from_dict: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        values = dict(values)
        rate = values.pop("sample_rate_hz", None)
        if "vad" in values and values["vad"] is not None:
            values["vad"] = VadConfig(**values["vad"])
        if "features" in values:
            values["features"] = FeatureConfig.from_dict(values["features"])
        features = values.get("features") or FeatureConfig()
        if rate is not None and rate != features.sample_rate_hz:
            raise ConfigError(
                f"PrepareConfig.from_dict: sample_rate_hz is {rate!r} Hz but "
                f"features.sample_rate_hz is {features.sample_rate_hz} Hz; the pipeline has one "
                "rate, the features': drop sample_rate_hz or make the two equal"
            )
        return cls(**values)

    @classmethod
    def from_flags(cls, *, features: str = "reference", vad: bool = True, vad_mode: int | None = None,
                   length_s: float | None = DEFAULT_LENGTH_S, content: str = "features",
                   mels: int | None = None) -> PrepareConfig:
        """The config that ``speakerlib prepare``'s flags make (the one home of that mapping).

        Parameters
        ----------
        features : str
            ``--features``: a feature kind, with that kind's defaults.
        vad : bool
            False for ``--no-vad``.
        vad_mode : int in {0, 1, 2, 3} or None
            ``--vad-mode``: webrtcvad's aggressiveness; None keeps the
            reference's (:data:`speakerlib.vad.REFERENCE_VAD_CONFIG`).
        length_s : float > 0 [s] or None
            ``--length-s``; None keeps each utterance's length. Must be None
            with ``content="audio"``.
        content : {"features", "audio"}
            ``--content``.
        mels : int or None
            ``--mels``: mel bands of logmel or mfcc features (None: the kind's).

        Raises
        ------
        ConfigError
            If a value is out of range or the flags disagree (``--vad-mode``
            with ``--no-vad``).

        Examples
        --------
        >>> PrepareConfig.from_flags() == PrepareConfig()
        True
        >>> PrepareConfig.from_flags(vad_mode=0).vad.mode
        0
        """
        if not vad and vad_mode is not None:
            raise ConfigError(
                f"PrepareConfig.from_flags: vad_mode={vad_mode!r} sets the aggressiveness of a VAD "
                "that vad=False turns off; leave one of them out",
                cli={f"vad_mode={vad_mode!r}": f"--vad-mode {vad_mode}", "vad=False": "--no-vad"},
            )
        overrides = {} if mels is None else {"n_mels": mels}
        detector = None
        if vad:
            detector = (REFERENCE_VAD_CONFIG if vad_mode is None
                        else dataclasses.replace(REFERENCE_VAD_CONFIG, mode=vad_mode))
        return cls(vad=detector, length_s=length_s, content=content,
                   features=FeatureConfig.for_kind(features, **overrides))

    def command_line_flags(self) -> str | None:
        """The ``speakerlib prepare`` flags that make this config's store (:meth:`from_flags`'s
        inverse), ``"none, the defaults"`` when none are needed, or None if no flags can.

        Examples
        --------
        >>> PrepareConfig(vad=None, length_s=2.0).command_line_flags()
        '--no-vad --length-s 2'
        >>> PrepareConfig(length_mode="repeat").command_line_flags() is None
        True
        """
        kind = self.features.kind
        default_mels = FeatureConfig.for_kind(kind).n_mels
        mels = None if self.features.n_mels == default_mels else self.features.n_mels
        vad_mode = None if self.vad is None or self.vad.mode == REFERENCE_VAD_CONFIG.mode else self.vad.mode
        length_s = None if self.content == "audio" else self.length_s
        try:
            made = PrepareConfig.from_flags(features=kind, vad=self.vad is not None, vad_mode=vad_mode,
                                            length_s=length_s, content=self.content, mels=mels)
        except ConfigError:
            return None
        if made.store_key() != self.store_key():
            return None
        flags = [] if kind == "reference" else [f"--features {kind}"]
        flags += ["--no-vad"] if self.vad is None else []
        flags += [] if vad_mode is None else [f"--vad-mode {vad_mode}"]
        if self.content != "audio" and self.length_s != DEFAULT_LENGTH_S:
            flags.append(f"--length-s {'none' if self.length_s is None else f'{self.length_s:g}'}")
        flags += ["--content audio"] if self.content == "audio" else []
        flags += [] if mels is None else [f"--mels {mels}"]
        return " ".join(flags) or "none, the defaults"

    def store_key(self) -> dict:
        """What must match for two configs to share a store: :meth:`to_dict`
        without ``features.normalize`` (applied at load time)."""
        key = self.to_dict()
        key["features"] = {k: v for k, v in key["features"].items() if k != "normalize"}
        return key

    def store_id(self) -> str:
        """A short name for the store this config makes, for folder names.

        The first 12 hex digits of the SHA-256 of :meth:`store_key` as
        canonical JSON (``json.dumps(key, sort_keys=True, separators=(",", ":"))``,
        UTF-8): two configs get the same id exactly when they share a store
        (they may differ in ``features.normalize``).

        Returns
        -------
        str
            12 lowercase hex digits.

        Examples
        --------
        >>> a = PrepareConfig()
        >>> b = PrepareConfig(features=FeatureConfig(normalize="per_utterance"))
        >>> a.store_id() == b.store_id(), len(a.store_id())
        (True, 12)
        >>> PrepareConfig(vad=None).store_id() == a.store_id()
        False
        """
        canonical = json.dumps(self.store_key(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
