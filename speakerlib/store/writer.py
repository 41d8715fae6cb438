"""Writing a feature store's own files: ``config.json`` first, the summary files last.

:func:`speakerlib.prepare.prepare` calls these with the store locked
(:func:`speakerlib._lock.folder_lock`), so that one process at a time writes
it. The layout is described in :mod:`speakerlib.store`.

A summary file (``rejects.csv``, ``features.npy``, ``index.csv``) is only
written when its content changes: a rerun with nothing to do writes no file
(at LibriSpeech scale ``features.npy`` takes a long time to write).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from speakerlib import __version__
from speakerlib._io import atomic_path, describe_difference, write_json
from speakerlib._lock import LOCK_NAME
from speakerlib.errors import StoreConfigError
from speakerlib.store.config import PrepareConfig
from speakerlib.store.files import (
    CONFIG_NAME,
    FEATURES_NAME,
    INDEX_NAME,
    REJECTS_NAME,
    STORE_FORMAT,
    STORE_VERSION,
    read_store_config,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["open_store", "drop_summary_files", "write_summary_files"]


def open_store(store: Path, config: PrepareConfig) -> None:
    """Create the store (its folder and ``config.json``), or check that an existing one was made
    with ``config``.

    Parameters
    ----------
    store : Path
        The store folder: new, empty (but for its lock), or a store.
    config : PrepareConfig

    Raises
    ------
    StoreConfigError
        If ``store`` holds a store made with another config (the message shows
        both and the fix), or other files.
    """
    config_path = store / CONFIG_NAME
    if config_path.is_file():
        stored = read_store_config(store)
        if stored.store_key() != config.store_key():
            differences = "\n  ".join(describe_difference(stored.store_key(), config.store_key()))
            flags = stored.command_line_flags()
            settings = ("PrepareConfig.from_dict of the \"config\" of its config.json, with "
                        "speakerlib.store.read_store_config")
            raise StoreConfigError(
                f"{store}: expected a feature store made with this run's config, found one "
                f"made with another.\n  {differences}\n"
                f"store config:    {json.dumps(stored.to_dict(), sort_keys=True)}\n"
                f"this run's config: {json.dumps(config.to_dict(), sort_keys=True)}\n"
                "Fix: prepare into another folder, delete this store to rebuild it, or "
                f"run with the store's settings ({settings}).",
                cli={"prepare into another folder": "write to another folder (--out)",
                     settings: (f"its flags: {flags}" if flags else
                                f"the command line cannot make them; {settings}, from Python")},
            )
        return
    if store.exists() and any(p.name != LOCK_NAME for p in store.iterdir()):
        raise StoreConfigError(
            f"{store}: expected an empty folder or a feature store, found other files and no "
            f"{CONFIG_NAME}. Choose a new folder for the store."
        )
    store.mkdir(parents=True, exist_ok=True)
    write_json(config_path, {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "made_by": "speakerlib.prepare.prepare",
        "speakerlib_version": __version__,
        "config": config.to_dict(),
    })


def drop_summary_files(store: Path) -> None:
    """Remove ``index.csv``, ``features.npy`` and ``rejects.csv``: the store is incomplete until a
    run writes them again (:func:`speakerlib.store.load_store` says so meanwhile)."""
    for name in (INDEX_NAME, FEATURES_NAME, REJECTS_NAME):
        (store / name).unlink(missing_ok=True)


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _consolidated_fits(store: Path, rows: int, shape: tuple[int, int]) -> bool:
    try:
        stacked = np.load(store / FEATURES_NAME, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return stacked.shape == (rows, *shape) and stacked.dtype == np.float32


def write_summary_files(store: Path, index: pd.DataFrame, rejects: pd.DataFrame,
                        config: PrepareConfig, *, files_changed: bool) -> None:
    """Write ``rejects.csv``, ``features.npy`` (fixed length only) and ``index.csv`` (last),
    each only if its content changes.

    Parameters
    ----------
    store : Path
    index, rejects : DataFrame
        The tables to write (:mod:`speakerlib.store` lists their columns).
    config : PrepareConfig
        The store's config.
    files_changed : bool
        Whether utterance files were written in this run (``features.npy`` is then rebuilt).
    """
    index_data = index.to_csv(index=False).encode("utf-8")
    same_index = not files_changed and _holds(store / INDEX_NAME, index_data)
    if not same_index:
        (store / INDEX_NAME).unlink(missing_ok=True)  # incomplete until the new index is written
    rejects_data = rejects.to_csv(index=False).encode("utf-8")
    if not _holds(store / REJECTS_NAME, rejects_data):
        _write_bytes(store / REJECTS_NAME, rejects_data)
    shape = config.output_shape
    if shape is not None and not (same_index and _consolidated_fits(store, len(index), shape)):
        _write_consolidated(store, index["feature_file"].tolist(), shape)
    if not same_index:
        _write_bytes(store / INDEX_NAME, index_data)


def _write_consolidated(store: Path, files: list[str], shape: tuple[int, int]) -> None:
    """``features.npy``: every utterance's features stacked in index order.

    Parameters
    ----------
    store : Path
    files : list of str
        The utterance files (relative to ``store``), in index order.
    shape : (frames, bins)
        Every utterance's features' shape.
    """
    with atomic_path(store / FEATURES_NAME) as partial:
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32,
                                        shape=(len(files), *shape))
        try:
            for row, relative in enumerate(files):
                with np.load(store / relative, allow_pickle=False) as data:
                    out[row] = data["features"]
            out.flush()
        finally:
            del out  # closes the memory map before the rename (or the removal)
