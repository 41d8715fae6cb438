"""Reading a feature store: :func:`load_store` and :class:`FeatureStore`.

The layout is described in :mod:`speakerlib.store`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from speakerlib._lock import describe_holder, lock_holder
from speakerlib.errors import ConfigError, FolderInUseError, StoreConfigError, UnknownUtteranceError
from speakerlib.features import NORMALIZE_MODES, compute_features, normalize
from speakerlib.store.config import PrepareConfig
from speakerlib.store.files import (
    CONFIG_NAME,
    FEATURES_NAME,
    INDEX_NAME,
    REJECTS_NAME,
    read_store_config,
    read_utterance_file,
)

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where it is used, not here: the worker processes of
# speakerlib.prepare import the store package and never need it.

__all__ = ["FeatureStore", "load_store"]


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
        kept = "audio for" if self.config.content == "audio" else ""
        return f"FeatureStore({str(self.path)!r}, {what}, {kept}{' ' if kept else ''}" \
               f"{self.config.features.kind} features)"

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
        """One utterance's features (computed from its audio in a store of ``content="audio"``).

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
        if self.config.content == "audio":
            features = compute_features(self.audio(utt_id), self.config.stored_features)
        else:
            with np.load(self._file(utt_id), allow_pickle=False) as data:
                features = data["features"]
        return _normalize_features(features, mode)

    def audio(self, utt_id: str) -> np.ndarray:
        """One utterance's audio after VAD, in a store made with ``content="audio"``.

        Returns
        -------
        np.ndarray [shape=(samples,), dtype=float32]
            Samples in [-1, 1] at ``config.sample_rate_hz``.

        Raises
        ------
        UnknownUtteranceError
            (a KeyError) If the utterance is not in the store.
        StoreConfigError
            If the store holds features, not audio.
        """
        if self.config.content != "audio":
            raise StoreConfigError(
                f"{self.path}: expected a store of audio (PrepareConfig(content='audio')), found one "
                "of features. Prepare an audio store: pass config=PrepareConfig(length_s=None, "
                "content='audio').",
                cli={"pass config=PrepareConfig(length_s=None, content='audio')":
                     "speakerlib prepare --content audio"},
            )
        with np.load(self._file(utt_id), allow_pickle=False) as data:
            return np.asarray(data["audio"], dtype=np.float32)

    def _file(self, utt_id: str) -> Path:
        return self.path / self.index["feature_file"].iloc[self._position(utt_id)]

    def info(self, utt_id: str) -> dict:
        """Everything an utterance's file holds except the features (module docstring).

        Raises
        ------
        UnknownUtteranceError
            (a KeyError) If the utterance is not in the store.
        """
        meta, _, segments = read_utterance_file(self._file(utt_id))
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
    FolderInUseError
        If it is incomplete because a running process is writing it now.

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
        holder = lock_holder(path)
        if holder is not None:
            raise FolderInUseError(
                f"{path}: expected a complete feature store, found no {INDEX_NAME}: "
                f"{describe_holder(holder)}; that process is writing it now. Fix: wait for that run to finish, then open the store."
            )
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
