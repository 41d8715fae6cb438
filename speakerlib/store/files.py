"""A feature store's files: their names, the config record, one utterance's file.

The layout is described in :mod:`speakerlib.store`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from speakerlib._io import atomic_path
from speakerlib.errors import ConfigError, StoreConfigError
from speakerlib.store.config import PrepareConfig

__all__ = [
    "CONFIG_NAME",
    "INDEX_NAME",
    "REJECTS_NAME",
    "FEATURES_NAME",
    "UTTERANCES_DIR",
    "STORE_FORMAT",
    "STORE_VERSION",
    "read_config_record",
    "read_store_config",
    "read_utterance_file",
    "utterance_file_name",
    "write_utterance_file",
]

#: The store's files and folder (:mod:`speakerlib.store`).
CONFIG_NAME = "config.json"
INDEX_NAME = "index.csv"
REJECTS_NAME = "rejects.csv"
FEATURES_NAME = "features.npy"
UTTERANCES_DIR = "utterances"
#: ``format`` and ``version`` of a store's ``config.json``.
STORE_FORMAT = "speakerlib-feature-store"
STORE_VERSION = 1

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _safe_name(text: str) -> str:
    """A file-name-safe version of ``text``; a hash keeps sanitised names apart."""
    if _SAFE_NAME.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80].lstrip("._-") or "x"
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return f"{cleaned}-{digest}"


def utterance_file_name(utt_id: str, speaker: str) -> str:
    """Where a store keeps an utterance, relative to the store: ``utterances/<speaker>/<utt_id>.npz``.

    Ids and speakers that are not safe file names (``[A-Za-z0-9][A-Za-z0-9._-]*``,
    at most 100 characters) are sanitised and suffixed with a hash; no speaker: ``_``.

    >>> utterance_file_name("84-121123-0000", "84")
    'utterances/84/84-121123-0000.npz'
    """
    folder = _safe_name(speaker) if speaker else "_"
    return f"{UTTERANCES_DIR}/{folder}/{_safe_name(utt_id)}.npz"


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


def read_utterance_file(path: Path) -> tuple[dict, tuple[int, ...], np.ndarray]:
    """The metadata, the shape of the stored array, and the VAD segments of one utterance file.

    Parameters
    ----------
    path : Path
        A ``utterances/<speaker>/<utt_id>.npz`` file (:mod:`speakerlib.store`).

    Returns
    -------
    metadata : dict
        The ``metadata`` JSON object.
    shape : tuple of int
        ``(frames, bins)`` of its ``features``, or ``(samples,)`` of its
        ``audio`` (a store made with ``content="audio"``).
    vad_segments_s : np.ndarray [shape=(k, 2), dtype=float64] [s]
    """
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["metadata"].item())
        shape = data["features" if "features" in data.files else "audio"].shape
        segments = data["vad_segments_s"]
    return meta, tuple(int(n) for n in shape), segments


def write_utterance_file(path: Path, kept: np.ndarray, segments_s: np.ndarray, metadata: dict) -> None:
    """Write one utterance's file (atomically, so that a file that exists is complete).

    Parameters
    ----------
    path : Path
        Its place in the store (:func:`utterance_file_name`).
    kept : np.ndarray [shape=(frames, bins) or (samples,), dtype=float32]
        Its features, or its audio after VAD (a store of ``content="audio"``).
    segments_s : np.ndarray [shape=(k, 2), dtype=float64] [s]
        The segments VAD kept.
    metadata : dict
        The ``metadata`` JSON object (``utt_id``, ``source_path``, ... see :mod:`speakerlib.store`).
    """
    arrays = {
        "audio" if kept.ndim == 1 else "features": np.ascontiguousarray(kept, dtype=np.float32),
        "vad_segments_s": segments_s,
        "metadata": np.asarray(json.dumps(metadata)),
    }
    # A fixed temporary name: a killed run's leftover is overwritten when the utterance is redone.
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
