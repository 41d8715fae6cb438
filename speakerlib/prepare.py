"""Prepare a corpus for training: VAD, fixed length and features, into a feature store.

:func:`prepare` takes every utterance of a manifest through the reference
pipeline (read at 16 kHz -> voice activity detection -> pad or centre-crop
to 3 s -> 40 log filterbanks) and writes the result to a *feature store*, a
folder of plain numpy arrays that :func:`load_store` reads back. Each stage
is configurable (:class:`PrepareConfig`): no VAD, variable length (for
random crops at training time), another kind of features.

The store holds **un-normalised** features
------------------------------------------
Features are computed with ``normalize="none"`` whatever
``PrepareConfig.features.normalize`` says; that field only records the
normalisation a loader should apply (:meth:`FeatureStore.features` with
``normalize=True``). This is what the reference does (it saves raw log
filterbanks and z-normalises each frame when it loads them), and it lets one
store serve several normalisations. For the same reason two configs that
differ only in ``features.normalize`` describe the same store.

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

Resuming
--------
Every utterance file is written to ``.<name>.part`` and renamed into place, so
a file that exists is complete: a run that is killed can be started again and
only the missing utterances are computed (rejected ones are tried again). The
summary files (index, rejects, ``features.npy``) are removed when a run starts
and rewritten when it ends, ``index.csv`` last: a store without ``index.csv``
is incomplete, and :func:`load_store` says so. Re-running with a different
configuration in the same folder raises :class:`StoreConfigError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import re
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from speakerlib.audio import AudioConversionWarning, load_audio
from speakerlib.errors import ManifestError, SpeakerlibError, StoreConfigError
from speakerlib.features import NORMALIZE_MODES, FeatureConfig, compute_features, normalize
from speakerlib.framing import fix_length
from speakerlib.vad import REFERENCE_VAD_CONFIG, SUPPORTED_SAMPLE_RATES_HZ, VadConfig, vad

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where it is used, not here: the worker processes import this
# module and never need it, and a spawned worker starts about 0.4 s sooner without it.

__all__ = [
    "LENGTH_MODES",
    "CONFIG_NAME",
    "INDEX_NAME",
    "REJECTS_NAME",
    "FEATURES_NAME",
    "UTTERANCES_DIR",
    "StoreConfigError",
    "PrepareConfig",
    "PrepareSummary",
    "FeatureStore",
    "prepare",
    "load_store",
]

#: How :func:`speakerlib.framing.fix_length` lengthens short utterances.
LENGTH_MODES = ("reference", "repeat")
CONFIG_NAME = "config.json"
INDEX_NAME = "index.csv"
REJECTS_NAME = "rejects.csv"
FEATURES_NAME = "features.npy"
UTTERANCES_DIR = "utterances"

_STORE_FORMAT = "speakerlib-feature-store"
_STORE_VERSION = 1
_REJECT_COLUMNS = ["utt_id", "path", "error", "reason"]
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _default_features() -> FeatureConfig:
    return FeatureConfig()


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of :func:`prepare`: the reference pipeline by default.

    Attributes
    ----------
    sample_rate_hz : int > 0 [Hz]
        Rate every file is read at (files at other rates are resampled and
        the fact recorded). With VAD, one of 8000, 16000, 32000, 48000.
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
        filterbanks). Its ``sample_rate_hz`` must equal ``sample_rate_hz``.
        The store always holds un-normalised features; ``features.normalize``
        is the normalisation loaders apply (see the module docstring).

    Raises
    ------
    ValueError
        If a field is out of range or the fields disagree (the message names
        the field and the value found).
    TypeError
        If ``vad`` or ``features`` has the wrong type.

    Examples
    --------
    >>> PrepareConfig().num_samples, PrepareConfig().output_shape
    (48000, (299, 40))
    >>> PrepareConfig(vad=None, length_s=None).output_shape is None
    True
    """

    sample_rate_hz: int = 16000
    vad: VadConfig | None = REFERENCE_VAD_CONFIG
    length_s: float | None = 3.0
    length_mode: str = "reference"
    features: FeatureConfig = field(default_factory=_default_features)

    def __post_init__(self) -> None:
        if not _is_int(self.sample_rate_hz) or self.sample_rate_hz <= 0:
            raise ValueError(
                f"PrepareConfig.sample_rate_hz: expected a positive integer [Hz], got "
                f"{self.sample_rate_hz!r}"
            )
        object.__setattr__(self, "sample_rate_hz", int(self.sample_rate_hz))
        if self.vad is not None:
            if not isinstance(self.vad, VadConfig):
                raise TypeError(
                    f"PrepareConfig.vad: expected a VadConfig or None, got {type(self.vad).__name__}"
                )
            if self.sample_rate_hz not in SUPPORTED_SAMPLE_RATES_HZ:
                raise ValueError(
                    f"PrepareConfig.sample_rate_hz: webrtcvad needs one of "
                    f"{SUPPORTED_SAMPLE_RATES_HZ} Hz, got {self.sample_rate_hz}; choose one of "
                    "them or set vad=None"
                )
        if not isinstance(self.features, FeatureConfig):
            raise TypeError(
                f"PrepareConfig.features: expected a FeatureConfig, got "
                f"{type(self.features).__name__}; build one with FeatureConfig.for_kind(kind)"
            )
        if self.features.sample_rate_hz != self.sample_rate_hz:
            raise ValueError(
                f"PrepareConfig.features.sample_rate_hz: expected the pipeline's rate "
                f"{self.sample_rate_hz} Hz, got {self.features.sample_rate_hz} Hz; make the "
                f"features with FeatureConfig.for_kind(kind, sample_rate_hz={self.sample_rate_hz})"
            )
        if self.length_mode not in LENGTH_MODES:
            raise ValueError(
                f"PrepareConfig.length_mode: expected one of {LENGTH_MODES}, got {self.length_mode!r}"
            )
        if self.length_s is not None:
            value = self.length_s
            if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                    or not math.isfinite(value) or value <= 0):
                raise ValueError(
                    f"PrepareConfig.length_s: expected a positive duration [s] or None, got {value!r}"
                )
            object.__setattr__(self, "length_s", float(value))
            if self.num_samples < self.features.win_samples:
                raise ValueError(
                    f"PrepareConfig.length_s: expected at least one feature window "
                    f"({self.features.win_s} s), got {self.length_s} s"
                )

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
        """The fields as a JSON-ready dict (``vad`` and ``features`` as dicts)."""
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

        Raises
        ------
        ValueError
            If a key is unknown or a value invalid.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"PrepareConfig.from_dict: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        values = dict(values)
        if "vad" in values and values["vad"] is not None:
            values["vad"] = VadConfig(**values["vad"])
        if "features" in values:
            values["features"] = FeatureConfig.from_dict(values["features"])
        return cls(**values)

    def store_key(self) -> dict:
        """What must match for two configs to share a store: :meth:`to_dict`
        without ``features.normalize`` (applied at load time)."""
        key = self.to_dict()
        key["features"] = {k: v for k, v in key["features"].items() if k != "normalize"}
        return key


@dataclass(frozen=True)
class PrepareSummary:
    """What a :func:`prepare` run did.

    Attributes
    ----------
    store : Path
        The feature store.
    written : int
        Utterances computed and written in this run.
    skipped : int
        Utterances already in the store (from an earlier run), not recomputed.
    rejected : int
        Utterances left out (listed with their reasons in ``rejects_path``).
    seconds : float
        Wall-clock time of the run [s].
    audio_s : float
        Audio processed in this run (the written utterances, as loaded) [s].
    converted : int
        Utterances of the index whose audio was resampled, downmixed or
        clipped on loading (the ``conversions`` column says how).
    rejects_path : Path
        The rejects report (``STORE/rejects.csv``).
    """

    store: Path
    written: int
    skipped: int
    rejected: int
    seconds: float
    audio_s: float
    converted: int
    rejects_path: Path

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio processed per second of wall-clock time in this run."""
        return self.audio_s / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        return (
            f"{self.written} written, {self.skipped} skipped as already done, "
            f"{self.rejected} rejected ({self.seconds:.1f} s, {self.audio_s:.0f} s of audio) "
            f"-> {self.store}"
        )


# ---------------------------------------------------------------------------
# The work on one utterance (runs in the worker processes)


def _safe_name(text: str) -> str:
    """A file-name-safe version of ``text``; a hash keeps sanitised names apart."""
    if _SAFE_NAME.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80].lstrip("._-") or "x"
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return f"{cleaned}-{digest}"


def _relative_feature_file(utt_id: str, speaker: str) -> str:
    folder = _safe_name(speaker) if speaker else "_"
    return f"{UTTERANCES_DIR}/{folder}/{_safe_name(utt_id)}.npz"


_METADATA_KEYS = (
    "audio_s", "speech_s", "num_samples", "padded", "cropped", "resampled", "downmixed",
    "original_sample_rate_hz", "original_channels", "clipped_samples", "conversions",
)


def _read_utterance_file(path: Path) -> tuple[dict, tuple[int, int], np.ndarray]:
    """The metadata, features shape and VAD segments of one utterance file."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["metadata"].item())
        shape = data["features"].shape
        segments = data["vad_segments_s"]
    return meta, (int(shape[0]), int(shape[1])), segments


def _index_row(meta: dict, shape: tuple[int, int], num_segments: int) -> dict:
    row = {key: meta[key] for key in _METADATA_KEYS}
    row["num_frames"], row["num_bins"] = shape
    row["num_segments"] = int(num_segments)
    return row


def _existing(target: Path, utt_id: str, expected_shape: tuple[int, int] | None) -> dict | None:
    """The index row of a complete utterance file at ``target``, or None to (re)compute it."""
    if not target.is_file():
        return None
    try:
        meta, shape, segments = _read_utterance_file(target)
    except Exception:  # only complete files are renamed into place; recompute anything odd
        return None
    if meta.get("utt_id") != utt_id:
        raise StoreConfigError(
            f"{target}: expected the features of utterance {utt_id!r}, found those of "
            f"{meta.get('utt_id')!r} (two ids map to one file name). Rename one of them in "
            "the manifest."
        )
    if expected_shape is not None and shape != expected_shape:
        return None
    return _index_row(meta, shape, segments.shape[0])


def _compute(utt_id: str, path: str, config: PrepareConfig) -> tuple[np.ndarray, dict, np.ndarray]:
    """Features, metadata and VAD segments of one file; raises SpeakerlibError subclasses."""
    rate = config.sample_rate_hz
    with warnings.catch_warnings():
        # recorded per utterance and summarised once by prepare(): no warning per file
        warnings.simplefilter("ignore", AudioConversionWarning)
        y, report = load_audio(path, sample_rate_hz=rate, mono=True)
    if config.vad is not None:
        result = vad(y, sample_rate_hz=rate, config=config.vad)
        speech, segments = result.audio, result.segments_s
    else:
        speech, segments = y, np.array([[0.0, y.size / rate]], dtype=np.float64)
    target = config.num_samples
    if target is None:
        fixed, padded, cropped = speech, False, False
    else:
        fixed = fix_length(speech, num_samples=target, mode=config.length_mode)
        padded, cropped = speech.size < target, speech.size > target
    features = compute_features(fixed, config.stored_features)
    meta = {
        "audio_s": float(y.size / rate),
        "speech_s": float(speech.size / rate),
        "num_samples": int(fixed.size),
        "padded": bool(padded),
        "cropped": bool(cropped),
        "resampled": bool(report.resampled),
        "downmixed": bool(report.downmixed),
        "original_sample_rate_hz": int(report.original_sample_rate_hz),
        "original_channels": int(report.original_channels),
        "clipped_samples": int(report.clipped_samples),
        "conversions": "; ".join(report.changes),
        "decoder": str(report.decoder),
    }
    return features, meta, np.asarray(segments, dtype=np.float64).reshape(-1, 2)


def _write_utterance(target: Path, utt_id: str, path: str, features: np.ndarray, meta: dict,
                     segments: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fixed temporary name: a killed run's leftover is overwritten when the utterance is redone.
    partial = target.with_name(f".{target.name}.part")
    record = {"utt_id": utt_id, "source_path": path, **meta}
    arrays = {
        "features": np.ascontiguousarray(features, dtype=np.float32),
        "vad_segments_s": segments,
        "metadata": np.asarray(json.dumps(record)),
    }
    try:
        with open(partial, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _work_chunk(tasks: list[tuple[int, str, str, str]], config_dict: dict,
                store: str) -> list[tuple[int, str, dict]]:
    """Prepare a chunk of utterances; return ``(position, status, row or reject)`` each.

    ``status`` is ``"written"``, ``"skipped"`` or ``"rejected"``; the result
    holds metadata only, never feature values.
    """
    config = PrepareConfig.from_dict(config_dict)
    root = Path(store)
    results = []
    for position, utt_id, path, relative in tasks:
        target = root / relative
        row = _existing(target, utt_id, config.output_shape)
        if row is not None:
            results.append((position, "skipped", row))
            continue
        try:
            features, meta, segments = _compute(utt_id, path, config)
        except SpeakerlibError as exc:
            results.append((position, "rejected", {"error": type(exc).__name__, "reason": str(exc)}))
            continue
        _write_utterance(target, utt_id, path, features, meta, segments)
        shape = (int(features.shape[0]), int(features.shape[1]))
        results.append((position, "written", _index_row(meta, shape, segments.shape[0])))
    return results


# ---------------------------------------------------------------------------
# The run


def _write_json_atomically(path: Path, record: dict) -> None:
    partial = path.with_name(f".{path.name}.part")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    os.replace(partial, path)


def _write_csv_atomically(path: Path, frame: pd.DataFrame) -> None:
    partial = path.with_name(f".{path.name}.part")
    frame.to_csv(partial, index=False)
    os.replace(partial, path)


def _describe_difference(stored: dict, asked: dict, prefix: str = "", *, where: str = "store") -> list[str]:
    """One line per setting that differs: ``key: <where> has X, asked for Y`` (nested keys dotted)."""
    lines = []
    for key in sorted(set(stored) | set(asked)):
        a, b = stored.get(key), asked.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += _describe_difference(a, b, f"{prefix}{key}.", where=where)
        elif a != b:
            lines.append(f"{prefix}{key}: {where} has {a!r}, asked for {b!r}")
    return lines


def _open_store(store: Path, config: PrepareConfig) -> None:
    """Create the store, or check that an existing one was made with ``config``."""
    config_path = store / CONFIG_NAME
    if config_path.is_file():
        stored_record = _read_config_record(store)
        stored = PrepareConfig.from_dict(stored_record["config"])
        if stored.store_key() != config.store_key():
            differences = "\n  ".join(_describe_difference(stored.store_key(), config.store_key()))
            raise StoreConfigError(
                f"{store}: expected a feature store made with this run's config, found one "
                f"made with another.\n  {differences}\n"
                f"store config:    {json.dumps(stored.to_dict(), sort_keys=True)}\n"
                f"this run's config: {json.dumps(config.to_dict(), sort_keys=True)}\n"
                "Fix: write to another folder (--out), delete this store to rebuild it, or "
                "run with the store's settings (PrepareConfig.from_dict of its config.json)."
            )
        return
    if store.exists() and any(store.iterdir()):
        raise StoreConfigError(
            f"{store}: expected an empty folder or a feature store, found other files and no "
            f"{CONFIG_NAME}. Choose a new folder for the store."
        )
    from speakerlib import __version__

    store.mkdir(parents=True, exist_ok=True)
    _write_json_atomically(config_path, {
        "format": _STORE_FORMAT,
        "version": _STORE_VERSION,
        "made_by": "speakerlib.prepare.prepare",
        "speakerlib_version": __version__,
        "config": config.to_dict(),
    })


def _read_config_record(store: Path) -> dict:
    path = store / CONFIG_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreConfigError(
            f"{path}: expected the JSON config of a feature store, could not read it ({exc}). "
            "Delete the store and prepare it again."
        ) from exc
    if not isinstance(record, dict) or record.get("format") != _STORE_FORMAT or "config" not in record:
        raise StoreConfigError(
            f"{path}: expected a {_STORE_FORMAT} config, found something else. "
            "Is this folder a feature store made by speakerlib.prepare?"
        )
    if record.get("version") != _STORE_VERSION:
        raise StoreConfigError(
            f"{path}: expected store format version {_STORE_VERSION}, found "
            f"{record.get('version')!r}. Prepare the store again with this speakerlib."
        )
    return record


def _manifest_frame(manifest: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, str]:
    import pandas as pd

    from speakerlib.data.manifest import read_manifest

    if isinstance(manifest, pd.DataFrame):
        frame, where = manifest, "the manifest"
    else:
        frame, where = read_manifest(manifest), str(manifest)
    missing = [column for column in ("utt_id", "path") if column not in frame.columns]
    if missing:
        raise ManifestError(
            f"{where}: expected the columns utt_id and path, found no {missing}. "
            "Build the manifest with `speakerlib manifest` or read_corpus."
        )
    if frame.empty:
        raise ManifestError(f"{where}: expected at least one utterance to prepare, found none.")
    ids = frame["utt_id"].astype(str)
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise ManifestError(
            f"{where}: expected unique utt_id values, found {int(duplicated.sum())} rows sharing "
            f"an id (first: {sorted(set(ids[duplicated]))[:5]}). Fix the manifest."
        )
    return frame.reset_index(drop=True), where


def prepare(
    manifest: pd.DataFrame | str | Path,
    store: str | Path,
    *,
    config: PrepareConfig = PrepareConfig(),
    jobs: int = 2,
    progress: bool = True,
) -> PrepareSummary:
    """Take every utterance of a manifest through VAD, fixed length and features into a store.

    Per utterance: :func:`speakerlib.audio.load_audio` at
    ``config.sample_rate_hz`` (mono; resampling and downmixing are recorded),
    :func:`speakerlib.vad.vad`, :func:`speakerlib.framing.fix_length`, and
    :func:`speakerlib.features.compute_features` without normalisation. The
    store's layout is in the module docstring. The run is resumable: what a
    killed run wrote is kept and not recomputed.

    Parameters
    ----------
    manifest : DataFrame, or str or Path of a manifest CSV
        Needs ``utt_id`` and ``path``; ``speaker`` names the sub-folder of
        each utterance's file. Every column is copied to the index. Not modified.
    store : str or Path
        The feature store folder: new, empty, or made earlier with the same
        config (then only what is missing is computed).
    config : PrepareConfig
        The pipeline's settings (default: the reference's).
    jobs : int >= 1
        Worker processes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    PrepareSummary
        Counts written / skipped as already done / rejected, timings, paths.

    Warns
    -----
    AudioConversionWarning
        Once, with the count, when audio was resampled, downmixed or clipped
        (the index's ``conversions`` column says which and how).

    Raises
    ------
    StoreConfigError
        If ``store`` holds a store made with another config (the message shows
        both and the fix), or other files.
    ManifestError
        If the manifest is empty, lacks ``utt_id`` or ``path``, or repeats an id.
    ValueError, TypeError
        If ``jobs`` or ``config`` is invalid.
    OSError
        If the store cannot be written; what was written counts as done next time.

    Notes
    -----
    Utterances that cannot be prepared (unreadable, truncated, NaN samples,
    too short, nothing left after VAD: any :class:`~speakerlib.errors.SpeakerlibError`)
    are listed in ``rejects.csv`` with the reason; nothing is dropped silently.
    Other exceptions are bugs and stop the run.

    Examples
    --------
    >>> summary = prepare("timit.csv", "stores/timit_ref", progress=False)  # doctest: +SKIP
    >>> print(summary)  # doctest: +SKIP
    160 written, 0 skipped as already done, 0 rejected (1.1 s, 490 s of audio) -> stores/timit_ref
    >>> load_store("stores/timit_ref").features().shape  # doctest: +SKIP
    (160, 299, 40)
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if not isinstance(config, PrepareConfig):
        raise TypeError(f"config: expected a PrepareConfig, got {type(config).__name__}")
    if not _is_int(jobs) or jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs!r}")
    frame, _ = _manifest_frame(manifest)
    store = Path(store).expanduser().absolute()
    _open_store(store, config)
    # The summary files describe a finished run: drop them until this one finishes.
    for name in (INDEX_NAME, FEATURES_NAME, REJECTS_NAME):
        (store / name).unlink(missing_ok=True)

    utt_ids = frame["utt_id"].astype(str).tolist()
    paths = [str(Path(str(p)).expanduser()) for p in frame["path"]]
    speakers = (frame["speaker"].astype(str).tolist() if "speaker" in frame.columns
                else [""] * len(frame))
    relatives = [_relative_feature_file(u, s) for u, s in zip(utt_ids, speakers)]
    owners: dict[str, list[str]] = {}
    for utt_id, relative in zip(utt_ids, relatives):
        owners.setdefault(relative, []).append(utt_id)
    clashes = [ids for ids in owners.values() if len(ids) > 1]
    if clashes:
        first = clashes[:3]
        raise ManifestError(
            f"expected a distinct feature file per utterance, found ids that map to the same "
            f"file name (first: {first}). Rename them in the manifest."
        )
    tasks = list(zip(range(len(frame)), utt_ids, paths, relatives))
    chunk = max(1, min(16, len(tasks) // (int(jobs) * 8) or 1))
    chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]

    results: dict[int, tuple[str, dict]] = {}
    config_dict = config.to_dict()
    bar = tqdm(total=len(tasks), desc="preparing features", unit="utt", disable=not progress)
    try:
        if jobs == 1:
            for part in chunks:
                for position, status, row in _work_chunk(part, config_dict, str(store)):
                    results[position] = (status, row)
                bar.update(len(part))
        else:
            # "spawn": safe whatever the caller's process holds (threads, TensorFlow)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=int(jobs), mp_context=context) as pool:
                futures = {pool.submit(_work_chunk, part, config_dict, str(store)): len(part)
                           for part in chunks}
                try:
                    for future in as_completed(futures):
                        for position, status, row in future.result():
                            results[position] = (status, row)
                        bar.update(futures[future])
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()

    summary = _finish(store, frame, relatives, results, config, started)
    if summary.converted:
        warnings.warn(
            f"{store}: {summary.converted} of {summary.written + summary.skipped} utterances "
            f"were converted on loading (resampled to {config.sample_rate_hz} Hz, downmixed to "
            f"mono or clipped); the 'conversions' column of {store / INDEX_NAME} says which "
            "and how.",
            AudioConversionWarning,
            stacklevel=2,
        )
    return summary


def _finish(store: Path, frame: pd.DataFrame, relatives: list[str],
            results: dict[int, tuple[str, dict]], config: PrepareConfig,
            started: float) -> PrepareSummary:
    """Write rejects, the consolidated features and the index (last)."""
    import pandas as pd

    kept = [i for i in range(len(frame)) if results[i][0] != "rejected"]
    rejected = [i for i in range(len(frame)) if results[i][0] == "rejected"]

    rejects = pd.DataFrame(
        [{"utt_id": str(frame["utt_id"].iloc[i]), "path": str(frame["path"].iloc[i]),
          **results[i][1]} for i in rejected],
        columns=_REJECT_COLUMNS,
    )
    _write_csv_atomically(store / REJECTS_NAME, rejects)

    index = frame.iloc[kept].reset_index(drop=True).copy()
    index["feature_file"] = [relatives[i] for i in kept]
    rows = pd.DataFrame([results[i][1] for i in kept],
                        columns=[*_METADATA_KEYS, "num_frames", "num_bins", "num_segments"])
    index["row"] = np.arange(len(kept)) if config.num_samples is not None else -1
    for column in ("num_frames", "num_bins", "audio_s", "speech_s"):
        index[column] = rows[column].to_numpy()
    index["speech_fraction"] = (rows["speech_s"] / rows["audio_s"]).to_numpy()
    for column in ("num_segments", "padded", "cropped", "resampled", "downmixed",
                   "original_sample_rate_hz", "original_channels", "clipped_samples",
                   "conversions"):
        index[column] = rows[column].to_numpy()

    if config.num_samples is not None:
        _write_consolidated(store, index["feature_file"].tolist(), config.output_shape)
    _write_csv_atomically(store / INDEX_NAME, index)

    written = [i for i in kept if results[i][0] == "written"]
    return PrepareSummary(
        store=store,
        written=len(written),
        skipped=len(kept) - len(written),
        rejected=len(rejected),
        seconds=time.perf_counter() - started,
        audio_s=float(sum(results[i][1]["audio_s"] for i in written)),
        converted=int(sum(1 for i in kept if results[i][1]["conversions"])),
        rejects_path=store / REJECTS_NAME,
    )


def _write_consolidated(store: Path, files: list[str], shape: tuple[int, int]) -> None:
    """``features.npy``: every utterance's features stacked in index order."""
    target = store / FEATURES_NAME
    partial = store / f".{FEATURES_NAME}.part"
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32,
                                    shape=(len(files), *shape))
    try:
        for row, relative in enumerate(files):
            with np.load(store / relative, allow_pickle=False) as data:
                out[row] = data["features"]
        out.flush()
        out = None  # closes the memory map before the rename
        os.replace(partial, target)
    except BaseException:
        out = None
        partial.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------
# Reading a store


def _normalize_mode(normalize_arg: bool | str, config: PrepareConfig) -> str:
    if normalize_arg is True:
        return config.features.normalize
    if normalize_arg is False or normalize_arg is None:
        return "none"
    if normalize_arg in NORMALIZE_MODES:
        return str(normalize_arg)
    raise ValueError(
        f"normalize: expected True (the config's {config.features.normalize!r}), False, or one "
        f"of {NORMALIZE_MODES}, got {normalize_arg!r}"
    )


class FeatureStore:
    """A feature store written by :func:`prepare`; open it with :func:`load_store`.

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
            raise KeyError(
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
        KeyError
            If the utterance is not in the store.
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
        KeyError
            If the utterance is not in the store.
        """
        position = self._position(utt_id)
        meta, _, segments = _read_utterance_file(self.path / self.index["feature_file"].iloc[position])
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
        KeyError
            If an id is not in the store.
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


def _normalize_features(features: np.ndarray, mode: str) -> np.ndarray:
    """:func:`speakerlib.features.normalize`; a float32 copy of the input for ``"none"``."""
    if mode == "none":
        return np.asarray(features, dtype=np.float32)
    return normalize(features, mode=mode)


def load_store(store: str | Path) -> FeatureStore:
    """Open a feature store written by :func:`prepare`.

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
        interrupted: run :func:`prepare` again to finish it), or its
        ``features.npy`` does not match its index.

    Examples
    --------
    >>> store = load_store("stores/timit_ref")  # doctest: +SKIP
    >>> store.features(normalize=True).shape  # doctest: +SKIP
    (160, 299, 40)
    """
    path = Path(store).expanduser().absolute()
    if not (path / CONFIG_NAME).is_file():
        raise StoreConfigError(
            f"{path}: expected a feature store (with {CONFIG_NAME}), found none. "
            "Make one with prepare() or `speakerlib prepare --manifest FILE.csv --out STORE`."
        )
    config = PrepareConfig.from_dict(_read_config_record(path)["config"])
    if not (path / INDEX_NAME).is_file():
        raise StoreConfigError(
            f"{path}: expected a complete feature store, found no {INDEX_NAME}: the run that "
            "made it was interrupted. Run prepare again with the same manifest and settings "
            "to finish it (finished utterances are not recomputed)."
        )
    import pandas as pd

    from speakerlib.data.manifest import MANIFEST_COLUMNS

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

