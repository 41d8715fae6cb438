"""Feature stores: the settings that make one (:class:`PrepareConfig`), their files, reading them.

A *feature store* is a folder of plain numpy arrays that
:func:`speakerlib.prepare.prepare` writes and :func:`load_store` reads back:
every utterance of a manifest taken through the reference pipeline (read at
16 kHz -> voice activity detection -> pad or centre-crop to 3 s -> 40 log
filterbanks), or through another configuration (:class:`PrepareConfig`): no
VAD, variable length (for random crops at training time), another kind of
features.

The store holds **un-normalised** features
------------------------------------------
Features are computed with ``normalize="none"`` whatever
``PrepareConfig.features.normalize`` says; that field only records the
normalisation a loader should apply (:meth:`FeatureStore.features` with
``normalize=True``). This is what the reference does (it saves raw log
filterbanks and z-normalises each frame when it loads them), and it lets one
store serve several normalisations. For the same reason two configs that
differ only in ``features.normalize`` describe the same store
(:meth:`PrepareConfig.store_key`, :meth:`PrepareConfig.store_id`).

Store layout
------------
Everything is a plain ``.npy``/``.npz`` array (written with
``allow_pickle=False``), CSV or JSON::

    STORE/
      config.json          the PrepareConfig (and the speakerlib version); written first
      utterances/<speaker>/<utt_id>.npz
                           one per utterance, see below
      index.csv            one row per prepared utterance: the manifest's columns and
                           feature_file, row, num_frames, num_bins, audio_s, speech_s,
                           speech_fraction, num_segments, padded, cropped, resampled,
                           downmixed, original_sample_rate_hz, original_channels,
                           clipped_samples, conversions
      rejects.csv          utt_id, path, error, reason: every utterance left out, and why
      features.npy         fixed length only: (N, frames, bins) float32, row i of
                           index.csv is features.npy[i] (memory-mappable)

``config.json`` holds ``format`` (:data:`STORE_FORMAT`), ``version``
(:data:`STORE_VERSION`), ``made_by``, ``speakerlib_version`` and ``config``
(:meth:`PrepareConfig.to_dict`).

Each ``<utt_id>.npz`` holds three arrays: ``features`` ((frames, bins) float32,
un-normalised), ``vad_segments_s`` ((k, 2) float64 [s], the kept segments of the
loaded audio; ``[[0, audio_s]]`` without VAD) and ``metadata``, a 0-d text
array holding a JSON object: ``utt_id``, ``source_path``, ``audio_s``
(duration of the loaded audio [s]), ``speech_s`` (left after VAD [s]),
``num_samples`` (after fixing the length), ``padded``, ``cropped``,
``resampled``, ``downmixed``, ``original_sample_rate_hz``,
``original_channels``, ``clipped_samples``, ``decoder`` and ``conversions``
(what :func:`speakerlib.audio.load_audio` did, in words; empty when nothing).
Utterance ids and speakers that are not safe file names
(``[A-Za-z0-9][A-Za-z0-9._-]*``) are sanitised and suffixed with a hash.

Every file is written whole or not at all (:func:`speakerlib._io.atomic_path`),
and ``index.csv`` last: a store without ``index.csv`` is incomplete (its run
was interrupted; :func:`speakerlib.prepare.prepare` resumes it), and
:func:`load_store` says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from speakerlib.errors import ConfigError, ConfigTypeError, StoreConfigError, UnknownUtteranceError
from speakerlib.features import NORMALIZE_MODES, FeatureConfig, normalize
from speakerlib.framing import DEFAULT_LENGTH_S, FIX_LENGTH_MODES
from speakerlib.vad import REFERENCE_VAD_CONFIG, SUPPORTED_SAMPLE_RATES_HZ, VadConfig

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where it is used, not here: the worker processes of
# speakerlib.prepare import this module and never need it.

__all__ = [
    "LENGTH_MODES",
    "CONFIG_NAME",
    "INDEX_NAME",
    "REJECTS_NAME",
    "FEATURES_NAME",
    "UTTERANCES_DIR",
    "STORE_FORMAT",
    "STORE_VERSION",
    "PrepareConfig",
    "FeatureStore",
    "load_store",
    "read_config_record",
    "read_store_config",
    "read_utterance_file",
]

#: How :func:`speakerlib.framing.fix_length` lengthens short utterances.
LENGTH_MODES = FIX_LENGTH_MODES
#: The store's files and folder (module docstring).
CONFIG_NAME = "config.json"
INDEX_NAME = "index.csv"
REJECTS_NAME = "rejects.csv"
FEATURES_NAME = "features.npy"
UTTERANCES_DIR = "utterances"
#: ``format`` and ``version`` of a store's ``config.json``.
STORE_FORMAT = "speakerlib-feature-store"
STORE_VERSION = 1


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
        (see the module docstring).

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
        return {
            "sample_rate_hz": self.sample_rate_hz,
            "vad": None if self.vad is None else self.vad.to_dict(),
            "length_s": self.length_s,
            "length_mode": self.length_mode,
            "features": self.features.to_dict(),
        }

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


# ---------------------------------------------------------------------------
# The files


def read_config_record(store: Path) -> dict:
    """The record of a store's ``config.json``, checked (its ``config`` not parsed yet).

    Parameters
    ----------
    store : Path
        The store folder.

    Returns
    -------
    dict
        ``format``, ``version``, ``made_by``, ``speakerlib_version``, ``config``.

    Raises
    ------
    StoreConfigError
        If the file cannot be read or parsed, is not a feature store's config,
        or has another format version.
    """
    path = Path(store) / CONFIG_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreConfigError(
            f"{path}: expected the JSON config of a feature store, could not read it ({exc}). "
            "Delete the store and prepare it again."
        ) from exc
    if not isinstance(record, dict) or record.get("format") != STORE_FORMAT or "config" not in record:
        raise StoreConfigError(
            f"{path}: expected a {STORE_FORMAT} config, found something else. "
            "Is this folder a feature store made by speakerlib.prepare?"
        )
    if record.get("version") != STORE_VERSION:
        raise StoreConfigError(
            f"{path}: expected store format version {STORE_VERSION}, found "
            f"{record.get('version')!r}. Prepare the store again with this speakerlib."
        )
    return record


def read_store_config(store: Path) -> PrepareConfig:
    """The :class:`PrepareConfig` of a store's ``config.json``.

    Raises
    ------
    StoreConfigError
        If the record cannot be read (:func:`read_config_record`) or its
        config is invalid (a ``sample_rate_hz`` that differs from the
        features' rate, an unknown key...).
    """
    record = read_config_record(store)
    try:
        return PrepareConfig.from_dict(record["config"])
    except (ConfigError, TypeError) as exc:  # TypeError: a key a config class does not take
        raise StoreConfigError(
            f"{Path(store) / CONFIG_NAME}: expected a valid PrepareConfig, found one that is "
            f"not: {exc}. Prepare the store again with this speakerlib."
        ) from exc


def read_utterance_file(path: Path) -> tuple[dict, tuple[int, int], np.ndarray]:
    """The metadata, features shape and VAD segments of one utterance file.

    Parameters
    ----------
    path : Path
        A ``utterances/<speaker>/<utt_id>.npz`` file (module docstring).

    Returns
    -------
    metadata : dict
        The ``metadata`` JSON object.
    shape : tuple of int
        ``(frames, bins)`` of its features.
    vad_segments_s : np.ndarray [shape=(k, 2), dtype=float64] [s]
    """
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["metadata"].item())
        shape = data["features"].shape
        segments = data["vad_segments_s"]
    return meta, (int(shape[0]), int(shape[1])), segments


# ---------------------------------------------------------------------------
# Reading a store


def _normalize_mode(normalize_arg: bool | str, config: PrepareConfig) -> str:
    if normalize_arg is True:
        return config.features.normalize
    if normalize_arg is False or normalize_arg is None:
        return "none"
    if normalize_arg in NORMALIZE_MODES:
        return str(normalize_arg)
    raise ConfigError(
        f"normalize: expected True (the config's {config.features.normalize!r}), False, or one "
        f"of {NORMALIZE_MODES}, got {normalize_arg!r}"
    )


def _normalize_features(features: np.ndarray, mode: str) -> np.ndarray:
    """:func:`speakerlib.features.normalize`; a float32 copy of the input for ``"none"``."""
    if mode == "none":
        return np.asarray(features, dtype=np.float32)
    return normalize(features, mode=mode)


class FeatureStore:
    """A feature store written by :func:`~speakerlib.prepare.prepare`; open it with :func:`load_store`.

    Attributes
    ----------
    path : Path
        The store folder.
    config : PrepareConfig
        The config that made it.
    index : DataFrame
        ``index.csv``: one row per utterance (see the module docstring).
    rejects : DataFrame
        ``rejects.csv``: ``utt_id``, ``path``, ``error``, ``reason``.
    """

    def __init__(self, path: Path, config: PrepareConfig, index: pd.DataFrame,
                 rejects: pd.DataFrame) -> None:
        self.path = path
        self.config = config
        self.index = index
        self.rejects = rejects
        self._positions = {utt_id: i for i, utt_id in enumerate(index["utt_id"])}

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        shape = self.config.output_shape
        what = f"{len(self)} x {shape}" if shape else f"{len(self)} variable-length"
        return f"FeatureStore({str(self.path)!r}, {what}, {self.config.features.kind} features)"

    @property
    def ids(self) -> list[str]:
        """Utterance ids in index order."""
        return self.index["utt_id"].tolist()

    def _position(self, utt_id: str) -> int:
        try:
            return self._positions[str(utt_id)]
        except KeyError:
            raise UnknownUtteranceError(
                f"utterance {utt_id!r} is not in the store {self.path} "
                f"({len(self)} utterances; rejected ones are in rejects.csv)"
            ) from None

    def get(self, utt_id: str, *, normalize: bool | str = False) -> np.ndarray:
        """One utterance's features.

        Parameters
        ----------
        utt_id : str
        normalize : bool or {"none", "per_frame", "per_utterance"}
            False: as stored (un-normalised); True: the config's
            ``features.normalize`` (``per_frame`` for the reference); or a mode.

        Returns
        -------
        np.ndarray [shape=(frames, bins), dtype=float32]

        Raises
        ------
        UnknownUtteranceError
            (a KeyError) If the utterance is not in the store.
        ConfigError
            (a ValueError) If ``normalize`` is none of the above.
        """
        mode = _normalize_mode(normalize, self.config)
        position = self._position(utt_id)
        with np.load(self.path / self.index["feature_file"].iloc[position],
                     allow_pickle=False) as data:
            features = data["features"]
        return _normalize_features(features, mode)

    def info(self, utt_id: str) -> dict:
        """Everything an utterance's file holds except the features (module docstring).

        Raises
        ------
        UnknownUtteranceError
            (a KeyError) If the utterance is not in the store.
        """
        position = self._position(utt_id)
        meta, _, segments = read_utterance_file(self.path / self.index["feature_file"].iloc[position])
        return {**meta, "vad_segments_s": segments}

    def features(self, ids: list[str] | None = None, *,
                 normalize: bool | str = False) -> np.ndarray | list[np.ndarray]:
        """Features of several utterances.

        Parameters
        ----------
        ids : list of str, or None
            Utterances, in the order wanted; None: all, in index order.
        normalize : bool or {"none", "per_frame", "per_utterance"}
            As in :meth:`get`.

        Returns
        -------
        np.ndarray [shape=(len(ids), frames, bins), dtype=float32] or list of np.ndarray
            Fixed length: from ``features.npy``; with ``ids=None`` and no
            normalisation, a read-only memory map of it. Variable length: a list
            of ``(frames_i, bins)`` arrays.

        Raises
        ------
        UnknownUtteranceError
            (a KeyError) If an id is not in the store.
        ConfigError
            (a ValueError) If ``normalize`` is not valid.
        """
        mode = _normalize_mode(normalize, self.config)
        positions = None if ids is None else [self._position(u) for u in ids]
        if self.config.num_samples is None:
            chosen = range(len(self)) if positions is None else positions
            return [self.get(self.index["utt_id"].iloc[p], normalize=mode) for p in chosen]
        stacked = np.load(self.path / FEATURES_NAME, mmap_mode="r")
        rows = stacked if positions is None else stacked[self.index["row"].to_numpy()[positions]]
        if mode == "none":
            return rows
        return np.stack([_normalize_features(x, mode) for x in rows]) if len(rows) else \
            np.zeros(rows.shape, dtype=np.float32)


def load_store(store: str | Path) -> FeatureStore:
    """Open a feature store written by :func:`speakerlib.prepare.prepare`.

    Parameters
    ----------
    store : str or Path
        The store folder.

    Returns
    -------
    FeatureStore

    Raises
    ------
    StoreConfigError
        If the folder is not a feature store, or is incomplete (a run was
        interrupted: run :func:`~speakerlib.prepare.prepare` again to finish
        it), or its ``features.npy`` does not match its index.

    Examples
    --------
    >>> store = load_store("stores/timit_ref")  # doctest: +SKIP
    >>> store.features(normalize=True).shape  # doctest: +SKIP
    (160, 299, 40)
    """
    import pandas as pd

    # speakerlib.data.manifest imports pandas at its top: imported here, like pandas.
    from speakerlib.data.manifest import MANIFEST_COLUMNS

    path = Path(store).expanduser().absolute()
    if not (path / CONFIG_NAME).is_file():
        raise StoreConfigError(
            f"{path}: expected a feature store (with {CONFIG_NAME}), found none. "
            "Make one with prepare() or `speakerlib prepare --manifest FILE.csv --out STORE`."
        )
    config = read_store_config(path)
    if not (path / INDEX_NAME).is_file():
        raise StoreConfigError(
            f"{path}: expected a complete feature store, found no {INDEX_NAME}: the run that "
            "made it was interrupted. Run prepare again with the same manifest and settings "
            "to finish it (finished utterances are not recomputed)."
        )
    numeric = ("duration_s", "sample_rate", "num_channels", "age")
    text = {c: str for c in MANIFEST_COLUMNS if c not in numeric}
    text.update(feature_file=str, conversions=str)
    index = pd.read_csv(path / INDEX_NAME, dtype=text, keep_default_na=False,
                        na_values={"age": [""]})
    rejects = pd.read_csv(path / REJECTS_NAME, dtype=str, keep_default_na=False)
    if config.num_samples is not None:
        stacked = np.load(path / FEATURES_NAME, mmap_mode="r")
        expected = (len(index), *config.output_shape)
        if stacked.shape != expected:
            raise StoreConfigError(
                f"{path / FEATURES_NAME}: expected shape {expected} (index rows, frames, bins), "
                f"found {stacked.shape}. Run prepare again to rebuild it."
            )
    return FeatureStore(path, config, index, rejects)
